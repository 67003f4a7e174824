"""Reads shared by views, tasks and commands. Every lookup is scoped to the asking user's teams."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from generations.models import Project
from wanweb.accounts.models import Membership


def project_list_for_team(*, team, archived: bool = False) -> QuerySet[Project]:
    return Project.objects.filter(team=team, archived_at__isnull=not archived).select_related("created_by")


def project_get_for_user(*, user, public_id) -> tuple[Project, Membership]:
    """The project and the user's membership of its team; Http404 when the user is not in that team."""
    try:
        project = Project.objects.select_related("team").get(
            public_id=public_id, team__memberships__user=user
        )
    except (Project.DoesNotExist, ValueError):
        raise Http404("No such project") from None
    membership = Membership.objects.get(team=project.team, user=user)
    return project, membership


def project_find_for_user(*, user, name_or_slug: str) -> Project:
    """A project in one of the user's teams by its slug or exact name (management commands)."""
    matches = Project.objects.filter(team__memberships__user=user).filter(
        Q(slug=name_or_slug) | Q(name=name_or_slug)
    )
    projects = list(matches[:2])
    if not projects:
        raise Project.DoesNotExist(f"No project {name_or_slug!r} in any of this user's teams")
    if len(projects) > 1:
        raise Project.MultipleObjectsReturned(
            f"{name_or_slug!r} names projects in several teams; use the slug"
        )
    return projects[0]
