"""The team gallery: every output of a team's projects, favourites, collections and bulk actions.

Selectors and services in one module because they share one rule set (who may do what to which
output); views live in gallery_views.py. Every lookup is scoped to one team: an id from another
team is never found, so it is a 404 or silently ignored in a bulk request, never acted on.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from generations import services
from generations.models import (
    ACTIVE_STATUSES,
    Asset,
    AssetRole,
    Collection,
    CollectionItem,
    Favourite,
    Job,
    Project,
)
from generations.selectors import keyset_after
from providers.base import RequestValidationError
from wanweb.accounts.models import Membership

PAGE_SIZE = 24
BULK_MAX = 500  # assets per bulk request: bounds the SQL IN list, the zip and the time of one request
ZIP_CHUNK = 256 * 1024

SORTS = {
    # name: (label, ordering); the ordering doubles as the keyset of the cursor.
    "newest": ("Newest first", ("-created_at", "-id")),
    "oldest": ("Oldest first", ("created_at", "id")),
    "favourited": ("Most favourited", ("-favourite_count", "-created_at", "-id")),
}


class BulkTooLarge(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Selectors: the gallery
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GalleryFilters:
    """What the gallery's filter form asks for; empty values mean "any"."""

    q: str = ""
    project: UUID | None = None
    mode: str = ""
    model: str = ""
    provider: str = ""
    status: str = ""
    creator: str = ""  # username
    date_from: date | None = None
    date_to: date | None = None
    favourites: bool = False
    sort: str = "newest"
    collection: Collection | None = field(default=None, compare=False)

    @property
    def is_filtered(self) -> bool:
        return bool(
            self.q
            or self.project
            or self.mode
            or self.model
            or self.provider
            or self.status
            or self.creator
            or self.date_from
            or self.date_to
            or self.favourites
        )


def _search_terms(text: str) -> list[str]:
    # Words only: the terms go into a raw tsquery, where & | ! : ( ) would be syntax.
    return re.findall(r"\w+", text.lower())[:12]


def _search(queryset: QuerySet[Asset], text: str) -> QuerySet[Asset]:
    terms = _search_terms(text)
    if not terms:
        return queryset
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        # English stemming (foxes -> fox) and a prefix match on every word, so results narrow as
        # the user types ("neo" finds "neon"). No GIN index yet: the vector is computed per row of
        # the team, which is fine at thousands of jobs (see the report for the index to add).
        vector = SearchVector("job__prompt", "job__actual_prompt", config="english")
        query = SearchQuery(" & ".join(f"{t}:*" for t in terms), config="english", search_type="raw")
        return queryset.annotate(search=vector).filter(search=query)
    for term in terms:
        queryset = queryset.filter(Q(job__prompt__icontains=term) | Q(job__actual_prompt__icontains=term))
    return queryset


def _favourite_count():
    counts = (
        Favourite.objects.filter(asset=OuterRef("pk"))
        .order_by()
        .values("asset")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def outputs_for_team(*, team, user) -> QuerySet[Asset]:
    """The team's outputs with what a card shows: job, project, creator, the user's star and the count."""
    return (
        Asset.objects.filter(role=AssetRole.OUTPUT, job__team=team)
        .select_related("job", "job__project", "job__created_by")
        .annotate(
            is_favourite=Exists(Favourite.objects.filter(user=user, asset=OuterRef("pk"))),
            favourite_count=_favourite_count(),
        )
    )


def gallery_outputs(*, team, user, filters: GalleryFilters) -> QuerySet[Asset]:
    """The team's outputs matching the filters, in the chosen order."""
    qs = outputs_for_team(team=team, user=user)
    if filters.collection is not None:
        qs = qs.filter(
            Exists(CollectionItem.objects.filter(collection=filters.collection, asset=OuterRef("pk")))
        )
    if filters.project:
        qs = qs.filter(job__project__public_id=filters.project)
    if filters.mode:
        qs = qs.filter(job__mode=filters.mode)
    if filters.model:
        qs = qs.filter(job__model=filters.model)
    if filters.provider:
        qs = qs.filter(job__provider=filters.provider)
    if filters.status:
        qs = qs.filter(job__status=filters.status)
    if filters.creator:
        qs = qs.filter(job__created_by__username=filters.creator)
    if filters.date_from:
        qs = qs.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(created_at__date__lte=filters.date_to)
    if filters.favourites:
        qs = qs.filter(is_favourite=True)
    qs = _search(qs, filters.q)
    return qs.order_by(*_ordering(filters.sort))


def _ordering(sort: str) -> tuple[str, ...]:
    return SORTS.get(sort, SORTS["newest"])[1]


def _after(queryset: QuerySet[Asset], ordering: Sequence[str], anchor: dict) -> QuerySet[Asset]:
    """Rows strictly after `anchor` in `ordering`.

    All columns in one direction (every sort here): a row-value comparison `(a, b, c) < (x, y, z)`,
    which PostgreSQL answers from the ordering's index; Django spells it as ORs of prefixes on
    SQLite. Mixed directions have no row-value form and use those ORs everywhere.
    """
    if len({name.startswith("-") for name in ordering}) == 1:
        return queryset.filter(keyset_after(ordering, anchor))
    condition = Q()
    for n, name in enumerate(ordering):
        column = name.lstrip("-")
        op = "lt" if name.startswith("-") else "gt"
        equal = {f"{prev.lstrip('-')}": anchor[prev.lstrip("-")] for prev in ordering[:n]}
        condition |= Q(**equal, **{f"{column}__{op}": anchor[column]})
    return queryset.filter(condition)


def gallery_page(*, team, user, filters: GalleryFilters, after=None, size: int = PAGE_SIZE):
    """One page of gallery_outputs and the public id to continue after (or None).

    Keyset pagination on the sort's columns, anchored at the last output of the previous page
    (looked up within the team, so a foreign id yields an empty page, not a leak).
    """
    qs = gallery_outputs(team=team, user=user, filters=filters)
    ordering = _ordering(filters.sort)
    if after:
        columns = [name.lstrip("-") for name in ordering]
        try:
            anchor = outputs_for_team(team=team, user=user).filter(public_id=after).values(*columns).first()
        except (ValueError, TypeError, ValidationError):  # not a UUID
            anchor = None
        if anchor is None:
            return [], None
        qs = _after(qs, ordering, anchor)
    page = list(qs[: size + 1])
    next_after = page[size - 1].public_id if len(page) > size else None
    return page[:size], next_after


ACTIVE_FILTER = "active"  # the status filter's "running or queued": jobs, since they have no outputs yet
ACTIVE_JOBS_MAX = 100


def shows_active_jobs(filters: GalleryFilters) -> bool:
    return filters.status == ACTIVE_FILTER or filters.status in ACTIVE_STATUSES


def active_jobs_for_team(*, team, filters: GalleryFilters) -> list[Job]:
    """The team's queued and running jobs matching the filters, newest first (the top bar's link)."""
    statuses = ACTIVE_STATUSES if filters.status == ACTIVE_FILTER else [filters.status]
    qs = Job.objects.filter(team=team, status__in=statuses).select_related("project", "created_by")
    if filters.project:
        qs = qs.filter(project__public_id=filters.project)
    for name in ("mode", "model", "provider"):
        if getattr(filters, name):
            qs = qs.filter(**{name: getattr(filters, name)})
    if filters.creator:
        qs = qs.filter(created_by__username=filters.creator)
    for term in _search_terms(filters.q):
        qs = qs.filter(prompt__icontains=term)
    return list(qs.order_by("-created_at", "-id")[:ACTIVE_JOBS_MAX])


def team_has_outputs(*, team) -> bool:
    return Asset.objects.filter(role=AssetRole.OUTPUT, job__team=team).exists()


def gallery_choices(*, team) -> dict:
    """What the filter dropdowns offer: the team's projects, members and the values its jobs use."""
    from providers.base import MODE_LABELS, Mode
    from providers.registry import PROVIDER_LABELS

    combos = Job.objects.filter(team=team).order_by().values_list("provider", "model", "mode").distinct()
    providers, models, modes = set(), set(), set()
    for provider, model, mode in combos:
        providers.add(provider)
        models.add(model)
        modes.add(mode)

    def mode_label(value):
        try:
            return MODE_LABELS[Mode(value)]
        except ValueError:
            return value

    return {
        "projects": list(Project.objects.filter(team=team).order_by("name").values_list("public_id", "name")),
        "providers": sorted((p, PROVIDER_LABELS.get(p, p)) for p in providers),
        "models": sorted((m, m) for m in models),
        "modes": sorted(((m, mode_label(m)) for m in modes), key=lambda pair: pair[1]),
        "creators": list(
            Membership.objects.filter(team=team)
            .order_by("user__username")
            .values_list("user__username", flat=True)
        ),
    }


def move_targets(*, team) -> QuerySet[Project]:
    """Projects outputs may be moved to: the team's, not archived."""
    return Project.objects.filter(team=team, archived_at__isnull=True).order_by("name")


# ---------------------------------------------------------------------------------------------
# Selectors: single outputs, bulk id lists, collections
# ---------------------------------------------------------------------------------------------


def output_get_for_team(*, team, user, public_id) -> Asset:
    """One output of the team (with is_favourite); Http404 for inputs and other teams' files."""
    try:
        return outputs_for_team(team=team, user=user).get(public_id=public_id)
    except (Asset.DoesNotExist, ValueError, ValidationError):
        raise Http404("No such output") from None


def parse_ids(values: Iterable[str]) -> list[UUID]:
    """Distinct valid UUIDs in the order given; junk is dropped. BulkTooLarge past BULK_MAX."""
    seen: dict[UUID, None] = {}
    for value in values:
        try:
            seen.setdefault(UUID(str(value).strip()), None)
        except ValueError:
            continue
        if len(seen) > BULK_MAX:
            raise BulkTooLarge(f"Select at most {BULK_MAX} outputs at a time.")
    return list(seen)


def outputs_for_bulk(*, team, user, ids: Sequence[UUID]) -> list[Asset]:
    """The outputs among `ids` that belong to the team, in the order given. Others are ignored."""
    if len(ids) > BULK_MAX:
        raise BulkTooLarge(f"Select at most {BULK_MAX} outputs at a time.")
    found = {a.public_id: a for a in outputs_for_team(team=team, user=user).filter(public_id__in=ids)}
    return [found[i] for i in ids if i in found]


def collection_list_for_team(*, team) -> QuerySet[Collection]:
    """The team's collections with their size and up to four outputs for the cover."""
    preview = CollectionItem.objects.select_related("asset").order_by("-added_at", "-id")
    return (
        Collection.objects.filter(team=team)
        .select_related("created_by")
        .annotate(item_count=Count("items"))
        .prefetch_related(Prefetch("items", queryset=preview[:4], to_attr="preview_items"))
        .order_by("name", "id")
    )


def collection_get_for_team(*, team, public_id) -> Collection:
    try:
        return Collection.objects.select_related("created_by").get(team=team, public_id=public_id)
    except (Collection.DoesNotExist, ValueError, ValidationError):
        raise Http404("No such collection") from None


# ---------------------------------------------------------------------------------------------
# Permissions: one place decides, views and templates ask
# ---------------------------------------------------------------------------------------------


def can_manage_job(membership: Membership, job: Job) -> bool:
    """Move/delete a job's outputs: its creator (member and up) or an admin/owner."""
    return services.job_can_manage(membership, job)


def can_change_collection(membership: Membership, collection: Collection) -> bool:
    """Rename, describe, delete: the collection's creator (if still a member+) or an admin/owner."""
    return membership.can_manage_members or (
        membership.can_edit and collection.created_by_id == membership.user_id
    )


def can_remove_item(membership: Membership, collection: Collection, item: CollectionItem) -> bool:
    """Take an output out of a collection: whoever may change it, or the member who put it in."""
    return can_change_collection(membership, collection) or (
        membership.can_edit and item.added_by_id == membership.user_id
    )


# ---------------------------------------------------------------------------------------------
# Services: favourites and collections
# ---------------------------------------------------------------------------------------------


def favourite_toggle(*, user, asset: Asset) -> bool:
    """Star or unstar an output for this user; returns whether it is starred now.

    Favourites are personal, so viewers may star too. A double click racing itself hits the
    unique constraint and is read as "already starred".
    """
    deleted, _ = Favourite.objects.filter(user=user, asset=asset).delete()
    if deleted:
        return False
    try:
        with transaction.atomic():
            Favourite.objects.create(user=user, asset=asset)
    except IntegrityError:
        pass
    return True


def _require_edit(membership: Membership) -> None:
    if not membership.can_edit:
        raise PermissionDenied("Viewers can browse and download but not change collections.")


def collection_create(*, membership: Membership, name: str, description: str = "") -> Collection:
    _require_edit(membership)
    return Collection.objects.create(
        team=membership.team, name=name, description=description, created_by=membership.user
    )


def collection_update(
    *, membership: Membership, collection: Collection, name: str, description: str
) -> Collection:
    if not can_change_collection(membership, collection):
        raise PermissionDenied("Only the collection's creator or a team admin can change it.")
    collection.name, collection.description = name, description
    collection.save(update_fields=["name", "description"])
    return collection


def collection_delete(*, membership: Membership, collection: Collection) -> None:
    """Delete the collection and its item rows; the outputs themselves stay."""
    if not can_change_collection(membership, collection):
        raise PermissionDenied("Only the collection's creator or a team admin can delete it.")
    collection.delete()


def collection_add(*, membership: Membership, collection: Collection, assets: Sequence[Asset]) -> int:
    """Add outputs of the collection's team; returns how many were new (repeats are no-ops)."""
    _require_edit(membership)
    assets = [a for a in assets if a.job.team_id == collection.team_id and a.role == AssetRole.OUTPUT]
    already = set(
        CollectionItem.objects.filter(collection=collection, asset__in=assets).values_list(
            "asset_id", flat=True
        )
    )
    now = timezone.now()
    items = [
        CollectionItem(collection=collection, asset=a, added_by=membership.user, added_at=now)
        for a in assets
        if a.pk not in already
    ]
    # ignore_conflicts: a concurrent add of the same output is not an error.
    CollectionItem.objects.bulk_create(items, ignore_conflicts=True)
    return len(items)


def collection_remove(
    *, membership: Membership, collection: Collection, assets: Sequence[Asset]
) -> tuple[int, int]:
    """Remove outputs from the collection; returns (removed, refused for lack of permission)."""
    _require_edit(membership)
    items = CollectionItem.objects.filter(collection=collection, asset__in=assets)
    allowed = [item.pk for item in items if can_remove_item(membership, collection, item)]
    refused = len(items) - len(allowed)
    CollectionItem.objects.filter(pk__in=allowed).delete()
    return len(allowed), refused


# ---------------------------------------------------------------------------------------------
# Services: bulk move and delete (per job: a job's outputs always move and go together)
# ---------------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    done: int = 0  # jobs moved/deleted, or items added/removed
    skipped: int = 0  # refused: not the user's job, still running, ...
    reasons: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if reason not in self.reasons:
            self.reasons.append(reason)


def _jobs_of(assets: Iterable[Asset]) -> list[Job]:
    jobs: dict[int, Job] = {}
    for asset in assets:
        jobs.setdefault(asset.job_id, asset.job)
    return list(jobs.values())


def outputs_move(*, membership: Membership, assets: Sequence[Asset], project: Project) -> BulkResult:
    """Move the jobs of these outputs (all their outputs and inputs) to another project of the team."""
    _require_edit(membership)
    if project.team_id != membership.team_id:
        raise Http404("No such project")  # callers look it up in the team; belt and braces
    if project.is_archived:
        raise RequestValidationError({"project": ["Restore the project before moving outputs into it."]})
    result = BulkResult()
    movable = []
    for job in _jobs_of(assets):
        if job.team_id != membership.team_id:
            continue  # never reached through the team-scoped selectors
        if not can_manage_job(membership, job):
            result.skip("only your own jobs can be moved")
        elif job.project_id != project.pk:
            movable.append(job.pk)
    # updated_at: the old and new project pages' refresh queries see the change.
    result.done = Job.objects.filter(pk__in=movable, team=membership.team).update(
        project=project, updated_at=timezone.now()
    )
    return result


def outputs_delete(*, membership: Membership, assets: Sequence[Asset]) -> BulkResult:
    """Delete the jobs of these outputs through services.job_delete, one transaction per job."""
    _require_edit(membership)
    result = BulkResult()
    for job in _jobs_of(assets):
        if job.team_id != membership.team_id:
            continue
        try:
            with transaction.atomic():
                services.job_delete(membership=membership, job=job)
        except PermissionDenied:
            result.skip("only your own jobs can be deleted")
        except RequestValidationError:
            result.skip("running jobs must be canceled first")
        else:
            result.done += 1
    return result


# ---------------------------------------------------------------------------------------------
# The streamed zip
# ---------------------------------------------------------------------------------------------


class _Pipe(io.RawIOBase):
    """A write-only, unseekable buffer the zip writes into and the response drains.

    Unseekable on purpose: zipfile then writes each entry's sizes and CRC in a data descriptor
    after its bytes instead of seeking back to the header, so nothing has to stay in memory.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        self._size += len(data)
        return len(data)

    def pending(self) -> int:
        return self._size

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        return data


def _zip_name(asset: Asset) -> str:
    ext = asset.file.name.rsplit(".", 1)[-1] if "." in asset.file.name else "bin"
    return f"{asset.job.project.slug or 'project'}/{asset.job.public_id}-{asset.index}.{ext}"


def _manifest_entry(asset: Asset, name: str) -> dict:
    job = asset.job
    return {
        "file": name,
        "asset": str(asset.public_id),
        "job": str(job.public_id),
        "project": job.project.name,
        "project_id": str(job.project.public_id),
        "mode": job.mode,
        "provider": job.provider,
        "model": job.model,
        "prompt": job.prompt,
        "actual_prompt": job.actual_prompt,
        "params": job.params,
        "seed": job.seed,
        "created_at": job.created_at.isoformat(),
        "created_by": job.created_by.username if job.created_by else None,
        "content_type": asset.content_type,
        "size_bytes": asset.size_bytes,
        "sha256": asset.sha256,
    }


def zip_stream(assets: Sequence[Asset], *, chunk_size: int = ZIP_CHUNK) -> Iterator[bytes]:
    """Yield a zip of the outputs' files plus manifest.json, a chunk at a time.

    Memory stays at about one chunk whatever the number or size of files: each file is read from
    storage `chunk_size` bytes at a time and the pipe is drained after every write. Media is
    already compressed, so entries are STORED. The assets (with job and project) must be loaded
    before streaming starts: the generator runs after the view has returned and does no queries.
    A file missing from storage is listed under "missing" in the manifest instead of failing the
    whole download half-way.
    """
    pipe = _Pipe()
    manifest: list[dict] = []
    missing: list[dict] = []
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for asset in assets:
            name = _zip_name(asset)
            try:
                handle = asset.file.open("rb")
            except FileNotFoundError:
                missing.append({"file": name, "asset": str(asset.public_id), "job": str(asset.job.public_id)})
                continue
            info = zipfile.ZipInfo(name, date_time=timezone.localtime(asset.created_at).timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = asset.size_bytes  # lets zipfile pick zip64 up front for files > 2 GiB
            info.external_attr = 0o644 << 16  # rw-r--r-- when unzipped
            with handle, archive.open(info, mode="w", force_zip64=asset.size_bytes > 2**31) as entry:
                while chunk := handle.read(chunk_size):
                    entry.write(chunk)
                    if pipe.pending() >= chunk_size:
                        yield pipe.drain()
            manifest.append(_manifest_entry(asset, name))
            if pipe.pending():
                yield pipe.drain()
        body = {
            "generator": "wanweb",
            "created_at": timezone.now().isoformat(),
            "count": len(manifest),
            "outputs": manifest,
            "missing": missing,
        }
        archive.writestr("manifest.json", json.dumps(body, indent=2, ensure_ascii=False, default=str))
    yield pipe.drain()


def zip_filename(*, label: str, now: datetime | None = None) -> str:
    from django.utils.text import slugify

    now = now or timezone.now()
    return f"wanweb-{slugify(label) or 'outputs'}-{now:%Y%m%d-%H%M}.zip"
