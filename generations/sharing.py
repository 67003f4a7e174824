"""Public share links: the writes (create, revoke, count a view) and the reads behind the public gallery.

Only a SHA-256 of a link's token is stored (shared/RELIABILITY.md section 6). The public side finds a
link by hashing the token it was given and looking that hash up: the database compares hashes, so
response times say nothing about how much of a guessed token was right.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import F, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from generations.models import Asset, AssetRole, Collection, JobStatus, Project, Run, RunCell, ShareLink
from wanweb.accounts.models import Membership, hash_token

SHARE_PAGE_SIZE = 24
MAX_EXPIRY_DAYS = 365
# secrets.token_urlsafe(32) gives 43 characters of this alphabet; anything else is not a token.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------


def share_link_create(
    *,
    actor: Membership,
    project: Project | None = None,
    collection: Collection | None = None,
    run: Run | None = None,
    label: str = "",
    expires_in_days: int | None = None,
    allow_downloads: bool = False,
) -> tuple[ShareLink, str]:
    """A new public link to one project, collection or compare run of actor's team; returns it and
    its raw token.

    The raw token exists only in the return value: show it once, never store it. Raises
    PermissionDenied below admin, or for a target outside actor's team.
    """
    if [project, collection, run].count(None) != 2:
        raise ValueError("Share exactly one project, collection or run")
    if not actor.can_manage_members:
        raise PermissionDenied("Only owners and admins can share.")
    target = project or collection or run
    if target.team_id != actor.team_id:
        raise PermissionDenied("That is not this team's.")
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        team_id=actor.team_id,
        project=project,
        collection=collection,
        run=run,
        token_hash=hash_token(token),
        label=label.strip(),
        allow_downloads=allow_downloads,
        expires_at=timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None,
        created_by=actor.user,
    )
    return link, token


def share_link_revoke(*, actor: Membership, link: ShareLink) -> ShareLink:
    """Revoke the link for good (a second revoke keeps the first time). PermissionDenied below admin."""
    if not actor.can_manage_members or link.team_id != actor.team_id:
        raise PermissionDenied("Only owners and admins can revoke share links.")
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    link.refresh_from_db(fields=["revoked_at"])
    return link


def share_link_record_view(*, link: ShareLink) -> None:
    """Count one view of the public page: an F() update, so concurrent visitors are all counted."""
    ShareLink.objects.filter(pk=link.pk).update(view_count=F("view_count") + 1, last_viewed_at=timezone.now())


# ---------------------------------------------------------------------------------------------
# Selectors: the team side
# ---------------------------------------------------------------------------------------------


def share_link_list_for_target(
    *, project: Project | None = None, collection: Collection | None = None, run: Run | None = None
) -> QuerySet[ShareLink]:
    links = ShareLink.objects.select_related("created_by")
    if project is not None:
        return links.filter(project=project)
    if run is not None:
        return links.filter(run=run)
    return links.filter(collection=collection)


def share_link_get_for_user(*, user, public_id) -> tuple[ShareLink, Membership]:
    """The link and the user's membership of its team; Http404 for anyone outside that team."""
    try:
        link = ShareLink.objects.select_related("project", "collection", "run").get(
            public_id=public_id, team__memberships__user=user
        )
    except (ShareLink.DoesNotExist, ValueError):
        raise Http404("No such share link") from None
    return link, Membership.objects.select_related("team").get(team_id=link.team_id, user=user)


def collection_get_for_user(*, user, public_id) -> tuple[Collection, Membership]:
    """The collection and the user's membership of its team; Http404 for anyone outside that team."""
    try:
        collection = Collection.objects.get(public_id=public_id, team__memberships__user=user)
    except (Collection.DoesNotExist, ValueError):
        raise Http404("No such collection") from None
    return collection, Membership.objects.select_related("team").get(team_id=collection.team_id, user=user)


# ---------------------------------------------------------------------------------------------
# Selectors: the public side
# ---------------------------------------------------------------------------------------------


def share_link_get_active(*, token: str) -> ShareLink:
    """The active link with this raw token; Http404 when unknown, revoked or expired (one answer for all)."""
    if not _TOKEN_RE.match(token or ""):
        raise Http404("No such link")
    now = timezone.now()
    link = (
        ShareLink.objects.select_related("project", "collection", "run")
        .filter(token_hash=hash_token(token), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    if link is None:
        raise Http404("No such link")
    return link


def shared_assets(*, link: ShareLink) -> QuerySet[Asset]:
    """Exactly the files a link shows: outputs only, of the link's team, of its one project,
    collection or run.

    A project link shows the outputs of the project's succeeded jobs, newest first; a collection
    link shows the collection's items, most recently added first; a run link the outputs of the
    jobs its cells hold now (a job a failover replaced is no longer shown).
    """
    assets = Asset.objects.filter(role=AssetRole.OUTPUT, job__team_id=link.team_id).select_related("job")
    if link.run_id is not None:
        cell_jobs = RunCell.objects.filter(run_id=link.run_id, job__isnull=False).values("job_id")
        return assets.filter(job_id__in=cell_jobs, job__status=JobStatus.SUCCEEDED).order_by(
            "job_id", "index"
        )
    if link.project_id is not None:
        return assets.filter(job__project_id=link.project_id, job__status=JobStatus.SUCCEEDED).order_by(
            "-job__created_at", "-job__id", "index"
        )
    # Filter and order on the same join, so an asset appears once per item, that is once.
    return assets.filter(collection_items__collection_id=link.collection_id).order_by(
        "-collection_items__added_at", "-collection_items__id"
    )


def shared_run_cells(*, link: ShareLink) -> list[RunCell]:
    """The cells of a run link's grid with their jobs and outputs (three queries, whatever the size)."""
    outputs = Asset.objects.filter(role=AssetRole.OUTPUT).order_by("index")
    return list(
        RunCell.objects.filter(run_id=link.run_id, run__team_id=link.team_id)
        .select_related("job")
        .prefetch_related(Prefetch("job__assets", queryset=outputs, to_attr="outputs"))
        .order_by("row", "col")
    )


def shared_asset_page(*, link: ShareLink, number) -> Page:
    """One page of the link's files (numbered pages: a public gallery is small and people link to pages)."""
    return Paginator(shared_assets(link=link), SHARE_PAGE_SIZE).get_page(number)


def shared_asset_get(*, link: ShareLink, public_id) -> Asset:
    """One file the link shares; Http404 for any other asset, whoever it belongs to."""
    try:
        return shared_assets(link=link).get(public_id=public_id)
    except (Asset.DoesNotExist, ValueError):
        raise Http404("No such file") from None
