"""Reads shared by views, tasks and commands. Every lookup is scoped to the asking user's teams."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from generations.models import ACTIVE_STATUSES, Asset, AssetRole, Job, Project
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


# ---------------------------------------------------------------------------------------------
# Jobs and the gallery
# ---------------------------------------------------------------------------------------------

GALLERY_PAGE_SIZE = 24


def _with_outputs(queryset):
    outputs = Asset.objects.filter(role=AssetRole.OUTPUT).order_by("index")
    return queryset.select_related("created_by").prefetch_related(
        Prefetch("assets", queryset=outputs, to_attr="outputs")
    )


def job_get_for_user(*, user, public_id):
    """The job and the user's membership of its team; Http404 for anyone outside that team."""
    try:
        job = Job.objects.select_related("project", "team", "created_by").get(
            public_id=public_id, team__memberships__user=user
        )
    except (Job.DoesNotExist, ValueError):
        raise Http404("No such job") from None
    return job, Membership.objects.get(team=job.team, user=user)


def gallery_page(*, project: Project, before=None, size: int = GALLERY_PAGE_SIZE):
    """One page of the project's jobs, newest first, and the cursor of the next page (or None).

    Keyset pagination on (created_at, id): the same two queries at job 10 or job 10,000, where an
    OFFSET would scan every skipped row.
    """
    jobs = Job.objects.filter(project=project)
    if before:
        anchor = Job.objects.filter(project=project, public_id=before).values("created_at", "id").first()
        if anchor is None:
            return [], None
        # The redundant `created_at <= anchor` gives PostgreSQL an index bound; the OR alone
        # cannot use one and degrades like an OFFSET deep in the list.
        jobs = jobs.filter(created_at__lte=anchor["created_at"]).filter(
            Q(created_at__lt=anchor["created_at"]) | Q(created_at=anchor["created_at"], id__lt=anchor["id"])
        )
    page = list(_with_outputs(jobs.order_by("-created_at", "-id"))[: size + 1])
    next_cursor = page[size - 1].public_id if len(page) > size else None
    return page[:size], next_cursor


def gallery_changes(*, project: Project, since):
    """Jobs of the project changed after `since` (with outputs), newest first."""
    return list(
        _with_outputs(Job.objects.filter(project=project, updated_at__gt=since)).order_by(
            "-created_at", "-id"
        )[:100]
    )


def project_has_active_jobs(*, project: Project) -> bool:
    return Job.objects.filter(project=project, status__in=ACTIVE_STATUSES).exists()


def asset_get_for_user(*, user, public_id):
    """An asset whose job belongs to one of the user's teams; Http404 otherwise."""
    try:
        return Asset.objects.select_related("job").get(public_id=public_id, job__team__memberships__user=user)
    except (Asset.DoesNotExist, ValueError):
        raise Http404("No such file") from None
