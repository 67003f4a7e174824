"""Reads shared by views, tasks and commands. Every lookup is scoped to the asking user's teams."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from generations import schedule
from generations.models import ACTIVE_STATUSES, Asset, AssetRole, Job, JobStatus, Project
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
    return queryset.select_related("created_by", "project").prefetch_related(
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


def keyset_after(ordering: Sequence[str], anchor: dict):
    """The lookup `(columns) < anchor` (descending) or `> anchor` (ascending) for `filter()`."""
    columns = [name.lstrip("-") for name in ordering]
    lookup = TupleLessThan if ordering[0].startswith("-") else TupleGreaterThan
    return lookup(Tuple(*(F(column) for column in columns)), tuple(anchor[column] for column in columns))


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
        # A row-value comparison `(created_at, id) < (x, y)` on PostgreSQL, which walks the
        # `job_gallery` index from the anchor; an OR (SQLite's spelling) cannot, so the redundant
        # `created_at <= x` gives SQLite its index bound.
        jobs = jobs.filter(created_at__lte=anchor["created_at"]).filter(
            keyset_after(("-created_at", "-id"), anchor)
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


def favourite_ids(*, user_id: int, jobs) -> list[str]:
    """Public ids of the outputs among `jobs` the user starred (cards are shared by all; the lightbox asks)."""
    asset_ids = [output.pk for job in jobs for output in getattr(job, "outputs", ())]
    if not asset_ids:
        return []
    from generations.models import Favourite

    return [
        str(public_id)
        for public_id in Favourite.objects.filter(user_id=user_id, asset_id__in=asset_ids).values_list(
            "asset__public_id", flat=True
        )
    ]


def project_has_active_jobs(*, project: Project) -> bool:
    return Job.objects.filter(project=project, status__in=ACTIVE_STATUSES).exists()


def team_active_job_count(*, team) -> int:
    """The team's queued and running jobs: the top bar's indicator, on every full page.

    Through the team's projects on purpose: SQLite otherwise walks every job of the team by
    `team_id` (17 ms at 10,000 jobs, bench/gallery.py); this way it is one `job_project_status`
    lookup per project (under 1 ms). Job.team is always project.team.
    """
    return Job.objects.filter(project__team=team, status__in=ACTIVE_STATUSES).count()


# An ETA is the median wait of this install's latest successes of the same (provider, model, mode).
ETA_SAMPLES = 20
ETA_LOOKBACK = timedelta(days=30)


def job_duration_samples(*, keys) -> dict[tuple[str, str, str], list[tuple[str, float]]]:
    """(shape, seconds) of the latest ETA_SAMPLES successes per (provider, model, mode) key, in one query.

    Seconds are the vendor's processing time (`vendor_seconds`, submit to the poll or webhook
    that saw it finish) where recorded, else created to finished. `shape` is
    `schedule.shape_of(params)` (duration|resolution), empty for jobs from before it was kept.
    Every team's jobs count: how long a model takes is the install's experience, not a team's secret.
    """
    keys = sorted(set(keys))
    if not keys:
        return {}
    recent = Job.objects.filter(status=JobStatus.SUCCEEDED, updated_at__gte=timezone.now() - ETA_LOOKBACK)
    # One small LIMIT subquery per key, OR'ed: each walks the `job_status_updated` index from the
    # newest success down until it has its samples (a finished job's last update is its success),
    # so the cost does not grow with the history the way a window over every success would.
    match = Q()
    for provider, model, mode in keys:
        latest = recent.filter(provider=provider, model=model, mode=mode).order_by("-updated_at")
        match |= Q(pk__in=latest.values("pk")[:ETA_SAMPLES])
    rows = Job.objects.filter(match).values_list(
        "provider", "model", "mode", "created_at", "finished_at", "vendor_seconds", "shape"
    )
    samples: dict[tuple[str, str, str], list[tuple[str, float]]] = defaultdict(list)
    for provider, model, mode, created, finished, vendor_seconds, shape in rows:
        if vendor_seconds is not None:
            samples[(provider, model, mode)].append((shape, max(0.0, vendor_seconds)))
        elif finished is not None:
            samples[(provider, model, mode)].append((shape, max(0.0, (finished - created).total_seconds())))
    return dict(samples)


def job_learned_expectations(
    *, keys, minimum: int = schedule.MIN_SAMPLES
) -> dict[tuple[str, str, str, str], schedule.Expectation]:
    """The learned expectation per (provider, model, mode, shape), in one query: the poller's and
    the cards' numbers. The latest ETA_SAMPLES successes of that shape (when there are
    MIN_SAMPLES), else of the model whatever the shape (when there are `minimum`: the cards show a
    median of even one); keys with neither are absent (the poller uses the catalog's prior).
    """
    keys = sorted(set(keys))
    if not keys:
        return {}
    recent = Job.objects.filter(status=JobStatus.SUCCEEDED, updated_at__gte=timezone.now() - ETA_LOOKBACK)
    match = Q()
    for provider, model, mode, shape in keys:
        same_model = recent.filter(provider=provider, model=model, mode=mode).order_by("-updated_at")
        match |= Q(pk__in=same_model.filter(shape=shape).values("pk")[:ETA_SAMPLES])
        match |= Q(pk__in=same_model.values("pk")[:ETA_SAMPLES])
    rows = Job.objects.filter(match).values_list(
        "provider", "model", "mode", "shape", "created_at", "finished_at", "vendor_seconds"
    )
    by_model: dict[tuple[str, str, str], list[tuple[str, float]]] = defaultdict(list)
    for provider, model, mode, shape, created, finished, vendor_seconds in rows:
        if vendor_seconds is not None:
            by_model[(provider, model, mode)].append((shape, max(0.0, vendor_seconds)))
        elif finished is not None:
            by_model[(provider, model, mode)].append((shape, max(0.0, (finished - created).total_seconds())))
    found = {}
    for provider, model, mode, shape in keys:
        samples = by_model.get((provider, model, mode), [])
        same = [seconds for job_shape, seconds in samples if job_shape == shape]
        if len(same) >= schedule.MIN_SAMPLES:
            expected = schedule.from_samples(same[:ETA_SAMPLES])
        else:
            # The model's latest, whatever their shape (the same-shape ones may be among them twice).
            latest = samples[-ETA_SAMPLES:] if len(samples) > ETA_SAMPLES else samples
            expected = schedule.from_samples([seconds for _, seconds in latest], minimum=minimum)
        if expected is not None:
            found[(provider, model, mode, shape)] = expected
    return found


def job_typical_durations(*, keys) -> dict[tuple[str, str, str], tuple[float, int]]:
    """(median seconds, samples) per (provider, model, mode) key, in one query (job_duration_samples)."""
    return {
        key: (float(statistics.median(seconds for _, seconds in values)), len(values))
        for key, values in job_duration_samples(keys=keys).items()
        if values
    }


def _queue_positions(job_ids) -> dict[int, int]:
    """1 + the number of queued jobs in the install created before each given job, in one query."""
    ahead = (
        Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=OuterRef("created_at"))
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values("n")
    )
    rows = Job.objects.filter(pk__in=job_ids).annotate(
        ahead=Coalesce(Subquery(ahead, output_field=IntegerField()), 0)
    )
    return {pk: n + 1 for pk, n in rows.values_list("pk", "ahead")}


def jobs_with_progress(jobs):
    """Set `typical_seconds`, `typical_samples` and `queue_position` on each job (None when unknown).

    The typical duration is the median of the same learned expectation the poller uses
    (`job_learned_expectations`: same provider, model, mode, duration and resolution when there
    are enough, else the model's; the cards also show the median of one or two).
    At most two queries whatever the number of jobs, none when no job is active: the gallery's
    query count stays the same at 10 or 10,000 jobs.
    """
    jobs = list(jobs)
    active = [job for job in jobs if job.is_active]

    def key(job):
        return (job.provider, job.model, job.mode, schedule.shape_of(job.params or {}))

    learned = job_learned_expectations(keys={key(j) for j in active}, minimum=1) if active else {}
    queued = [job.pk for job in active if job.status == JobStatus.QUEUED]
    positions = _queue_positions(queued) if queued else {}
    for job in jobs:
        expected = learned.get(key(job)) if job.is_active else None
        seconds, samples = (expected.p50, expected.samples) if expected is not None else (None, 0)
        job.typical_seconds = round(seconds) if seconds is not None else None
        job.typical_samples = samples
        job.queue_position = positions.get(job.pk)
    return jobs


def asset_get_for_user(*, user, public_id):
    """An asset whose job belongs to one of the user's teams; Http404 otherwise."""
    try:
        return Asset.objects.select_related("job").get(public_id=public_id, job__team__memberships__user=user)
    except (Asset.DoesNotExist, ValueError):
        raise Http404("No such file") from None
