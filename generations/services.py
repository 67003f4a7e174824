"""Every write about projects (and, with the jobs issue, generation jobs)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from generations.models import Project
from wanweb.accounts.models import Membership


def _require_edit(membership: Membership) -> None:
    if not membership.can_edit:
        raise PermissionDenied("Viewers can browse but not change projects.")


def _unique_project_slug(team, name: str, *, exclude_pk: int | None = None) -> str:
    base = slugify(name)[:110] or "project"
    taken = set(
        Project.objects.filter(team=team, slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    )
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def project_create(*, membership: Membership, name: str, description: str = "") -> Project:
    """A new project in the membership's team."""
    _require_edit(membership)
    return Project.objects.create(
        team=membership.team,
        name=name.strip(),
        slug=_unique_project_slug(membership.team, name),
        description=description.strip(),
        created_by=membership.user,
    )


def project_update(*, membership: Membership, project: Project, name: str, description: str) -> Project:
    """Rename and describe. The slug follows the name so CLI users can find it by either."""
    _require_edit(membership)
    name = name.strip()
    fields = ["name", "description", "updated_at"]
    if name != project.name:
        project.slug = _unique_project_slug(project.team, name, exclude_pk=project.pk)
        fields.append("slug")
    project.name = name
    project.description = description.strip()
    project.save(update_fields=fields)
    return project


def project_set_archived(*, membership: Membership, project: Project, archived: bool) -> Project:
    _require_edit(membership)
    project.archived_at = timezone.now() if archived else None
    project.save(update_fields=["archived_at", "updated_at"])
    return project
