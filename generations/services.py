"""Every write: projects and generation jobs (create, submit, poll, store, cancel, retry, delete)."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import random
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from kombu.exceptions import OperationalError as BrokerUnavailable

from generations import schedule, selectors
from generations.assets import (
    UploadedInput,
    asset_create_input,
    asset_save_output,
    asset_save_output_file,
    files_delete,
    input_store_file,
    invalid_result,
    job_dir,
)
from generations.files import input_url
from generations.models import ACTIVE_STATUSES, AssetRole, Job, JobEvent, JobStatus, Project, VendorCall
from generations.signals import job_finished
from generations.tasks import job_store_outputs_task, job_submit_task, job_vendor_cancel_task
from providers import catalog, download, media, registry
from providers.base import (
    ErrorCode,
    GenerationRequest,
    MediaInput,
    Mode,
    ProviderError,
    RequestValidationError,
    Status,
    Submission,
    Update,
)
from providers.http import CallRecord, recording
from wanweb.accounts import vendor_keys
from wanweb.accounts.models import Membership, Team, VendorCredential
from wanweb.quotas import selectors as quota_selectors
from wanweb.quotas import services as quotas
from wanweb.redaction import redact_text


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


# ---------------------------------------------------------------------------------------------
# Generation jobs
#
# queued -> submitted -> running -> succeeded | failed | canceled (shared/DESIGN.md "Job lifecycle").
# Every transition is a conditional UPDATE ... WHERE status IN (...): when it changes 0 rows,
# someone else (a duplicate task, a webhook, a cancel) got there first and we return quietly.
# ---------------------------------------------------------------------------------------------

logger = logging.getLogger(__name__)

POLL_FIRST = 1.0  # seconds after submit
POLL_MAX = 30.0  # every countdown stays far below Redis' visibility timeout (1 h)
MAX_POLL_ERRORS = 8  # consecutive transient poll failures before the job fails
MAX_OUTPUT_BYTES = 500 * 1024 * 1024
RECONCILE_SILENCE = timedelta(minutes=2)  # an active job unheard of this long gets polled again ...
POLL_OVERDUE = timedelta(minutes=1)  # ... once its chain's next poll is this late (or none is due)
JOB_MAX_AGE = timedelta(hours=3)  # no vendor takes this long: the job fails as timed out
SUBMIT_LEASE = timedelta(seconds=330)  # longer than job_submit_task's hard time limit (300 s)


def get_client(provider: str, credential: VendorCredential | None = None):
    """The vendor client for a provider name: with the team's own key when the job has a credential
    (wanweb/accounts/vendor_keys.py), else the operator's from the environment."""
    return vendor_keys.client_for(provider, credential=credential)


def available_providers(team: Team | None = None) -> list[str]:
    """The providers `team` may use (its own keys, the operator's when allowed); without a team,
    what the server's environment configures."""
    return vendor_keys.available_providers(team=team)


def poll_countdown(attempt: int, retry_after: float | None = None) -> float:
    """Backoff with jitter for the n-th poll, honouring the vendor's Retry-After (already capped)."""
    delay = min(POLL_MAX, 2.0 * (1.4 ** max(0, attempt)))
    delay *= random.uniform(0.8, 1.2)
    if retry_after:
        delay = max(delay, retry_after)
    return round(min(delay, 120.0), 2)


def _event(job: Job, status: str, message: str = "") -> None:
    # Event messages quote vendors (errors, ids): redacted like every other vendor text.
    JobEvent.objects.create(job=job, status=status, message=redact_text(message, limit=500))


job_event = _event  # for generations/runs.py


def _log_calls(job: Job, operation: str, calls: Iterable[CallRecord], *, attempt: int | None = None) -> None:
    """Store the calls as VendorCall rows; `attempt` is the number before them (counted when None)."""
    calls = list(calls)
    if not calls:
        return
    if attempt is None:
        attempt = VendorCall.objects.filter(job=job, operation=operation).count()
    VendorCall.objects.bulk_create(_call_rows(job, operation, calls, attempt=attempt))


def _call_rows(job: Job, operation: str, calls: list[CallRecord], *, attempt: int) -> list[VendorCall]:
    return [
        VendorCall(
            job=job,
            operation=operation,
            attempt=attempt + i + 1,
            method=call.method[:8],
            url=redact_text(call.url, limit=500),
            http_status=call.status,
            latency_ms=call.latency_ms,
            error=redact_text(call.error, limit=500),
        )
        for i, call in enumerate(calls)
    ]


def _transition(job: Job, *, from_statuses: Iterable[str], **changes) -> bool:
    """Conditionally move the job; True when this call made the change."""
    now = timezone.now()
    changes.setdefault("updated_at", now)
    done = Job.objects.filter(pk=job.pk, status__in=list(from_statuses)).update(**changes) == 1
    if done:
        _keep_current(job, changes)
    return done


def _keep_current(job: Job, changes: dict) -> None:
    """After an UPDATE that wrote `changes`: the same values on `job`, without reading the row again
    (expressions such as F() + 1 are left alone: their result is the database's)."""
    for field, value in changes.items():
        if not hasattr(value, "resolve_expression"):
            setattr(job, field, value)


def job_create(
    *,
    membership: Membership,
    project: Project,
    provider: str,
    model: str | None,
    mode: str | None,
    prompt: str,
    params: dict,
    uploads: Sequence[UploadedInput] = (),
    retry_of: Job | None = None,
    submit_token: str = "",
    run=None,
) -> Job:
    """Validate against the catalog, store the job and its inputs, and enqueue the submit after commit.

    With a `submit_token` already used by this user, returns that earlier job (marked
    `job.deduplicated`) and creates, reserves and enqueues nothing: a form posted twice is one job.
    Raises RequestValidationError or QuotaExceeded (nothing is created), or PermissionDenied.
    """
    _require_edit(membership)
    if submit_token:
        earlier = _job_for_token(membership, submit_token)
        if earlier is not None:
            return earlier
    if project.team_id != membership.team_id:
        raise PermissionDenied("That project belongs to another team.")
    if project.is_archived:
        raise RequestValidationError({"__all__": ["This project is archived. Restore it to generate."]})
    usable, credential = vendor_keys.provider_for_job(team=project.team, provider=provider)
    if not usable:
        raise RequestValidationError(
            {"provider": [f"{registry.PROVIDER_LABELS.get(provider, provider)} is not configured."]}
        )
    spec = catalog.get_model(provider, model, mode)
    request = GenerationRequest(
        provider=provider,
        model=spec.model_id,
        mode=spec.mode,
        prompt=prompt,
        params=dict(params),
        inputs=[
            MediaInput(
                slot=u.slot, content_type=u.info.content_type, data=u.data, filename=u.filename, info=u.info
            )
            for u in uploads
        ],
    )
    validated = catalog.validate_request(request)
    cost = catalog.estimate_cost(spec, validated.params, overrides=quota_selectors.price_overrides())

    saved_files: list[str] = []
    public_id = uuid.uuid4()
    try:
        # Re-encode and write the inputs before the transaction: Pillow may take seconds, and on
        # SQLite every other user's write would wait for the lock meanwhile.
        stored = []
        for index, upload in enumerate(uploads):
            stored.append(input_store_file(job_public_id=public_id, upload=upload, index=index))
            saved_files.append(stored[-1].name)
        with transaction.atomic():
            try:
                # Its own savepoint: a concurrent twin's unique token fails only this INSERT
                # (without a token nothing can clash, and the savepoint's two queries are saved).
                with transaction.atomic() if submit_token else contextlib.nullcontext():
                    job = Job.objects.create(
                        public_id=public_id,
                        team=project.team,
                        project=project,
                        created_by=membership.user,
                        retry_of=retry_of,
                        provider=provider,
                        model=spec.model_id,
                        mode=str(spec.mode),
                        prompt=validated.prompt,
                        params=validated.params,
                        cost_estimate=cost,
                        submit_token=submit_token,
                        credential=credential,
                        run=run,
                    )
            except IntegrityError:
                earlier = _job_for_token(membership, submit_token) if submit_token else None
                if earlier is None:
                    raise
                files_delete(saved_files)  # this twin's inputs: the earlier job has its own
                return earlier
            # A refused reserve rolls the rows back; the files written above are deleted below.
            seconds = catalog.output_seconds(spec, validated.params) if spec.mode.makes_video else None
            quotas.quota_reserve(membership=membership, job=job, video_seconds=seconds)
            for index, item in enumerate(stored):
                asset_create_input(job=job, stored=item, index=index)
            _event(job, JobStatus.QUEUED, f"Queued on {registry.PROVIDER_LABELS.get(provider, provider)}")
            transaction.on_commit(lambda: _enqueue(job_submit_task, job.pk))
    except BaseException:
        # The rows rolled back; the files were written outside the transaction.
        files_delete(saved_files)
        raise
    return job


def _enqueue(task, *args) -> bool:
    """Send a task from a web request; False (logged) when the broker cannot be reached.

    Runs after commit, so the job exists either way: a submit that never reached the broker leaves
    the job queued and silent, and the reconciler sends it once the broker is back
    (`job_reconcile`, "resubmitted"). The user sees the queued job, not a 500 they would retry.
    """
    try:
        task.delay(*args)
    except BrokerUnavailable as exc:
        logger.warning("broker unavailable, %s%r left for the reconciler: %s", task.name, args, exc)
        return False
    return True


def _job_for_token(membership: Membership, submit_token: str) -> Job | None:
    job = Job.objects.filter(created_by=membership.user, submit_token=submit_token[:64]).first()
    if job is not None:
        job.deduplicated = True
    return job


def _request_for(job: Job) -> GenerationRequest:
    inputs = []
    for asset in job.assets.filter(role=AssetRole.INPUT).order_by("index"):
        with asset.file.open("rb") as handle:
            data = handle.read()
        # With a public address, vendors may fetch inputs from a signed URL (some fields take only
        # a URL); without one, clients send the bytes (data URIs, fal storage, multipart).
        url = input_url(asset, base_url=settings.PUBLIC_BASE_URL) if settings.INPUT_URLS_ENABLED else None
        inputs.append(
            MediaInput(
                slot=asset.slot, content_type=asset.content_type, data=data, filename=asset.file.name, url=url
            )
        )
    webhook_url = None
    if settings.WEBHOOKS_ENABLED and job.provider in ("fal", "lumenfall"):
        if job.credential_id:  # verified with that team's secret: the URL says which credential
            path = reverse("generations:webhook-team", args=[job.provider, job.credential.public_id])
        else:
            path = reverse("generations:webhook", args=[job.provider])
        webhook_url = settings.PUBLIC_BASE_URL + path
    return GenerationRequest(
        provider=job.provider,
        model=job.model,
        mode=Mode(job.mode),
        prompt=job.prompt,
        params=dict(job.params),
        inputs=inputs,
        idempotency_key=str(job.public_id),
        webhook_url=webhook_url,
    )


def job_submit(*, job_id: int) -> None:
    """Send a queued job to its vendor. Transient ProviderErrors propagate (the task retries).

    The job is leased before the vendor is called, so a duplicate delivery (acks_late) or the
    reconciler cannot send it twice while this call is under way.
    """
    now = timezone.now()
    leased = (
        Job.objects.filter(pk=job_id, status=JobStatus.QUEUED, vendor_job_id="")
        .filter(Q(submit_lease_until__isnull=True) | Q(submit_lease_until__lt=now))
        .update(submit_lease_until=now + SUBMIT_LEASE, updated_at=now)
    )
    if not leased:
        return  # submitted already, canceled, or another worker holds the lease
    job = Job.objects.select_related("credential").get(pk=job_id)
    with recording() as calls:
        try:
            client = get_client(job.provider, job.credential)
            submission = client.submit(_request_for(job))
        except ProviderError as exc:
            _log_calls(job, "submit", calls)
            if exc.transient:
                Job.objects.filter(pk=job.pk).update(submit_lease_until=None)  # the retry may take it
                raise
            vendor_keys.mark_used(job.credential, ok=False if exc.code == ErrorCode.AUTH else None)
            job_fail(job=job, code=exc.code, message=exc.message)
            return
    token = secrets.token_hex(8)
    # One transaction (one commit) for the call log, the key's last use, the new status and its
    # event: a job is never seen submitted without its "Accepted" event. The first poll is made due
    # after commit, so a poll can never be sent for a row still uncommitted.
    with transaction.atomic():
        _log_calls(job, "submit", calls)
        vendor_keys.mark_used(job.credential, ok=True)
        submitted = _transition(
            job,
            from_statuses=[JobStatus.QUEUED],
            status=JobStatus.SUBMITTED,
            vendor_job_id=submission.vendor_job_id,
            vendor_state=submission.state,
            submitted_at=timezone.now(),
            submit_lease_until=None,
            poll_token=token,
        )
        if submitted:
            _event(job, JobStatus.SUBMITTED, f"Accepted by the vendor as {submission.vendor_job_id}")
    if not submitted:
        # Canceled while we were submitting: tell the vendor too, best effort.
        _vendor_cancel(job, submission)
        return
    if submission.update is not None:
        job_apply_update(job=job, update=submission.update)
    if job.status in (JobStatus.SUBMITTED, JobStatus.RUNNING) and not job.result:
        _schedule_poll(job, countdown=POLL_FIRST)


def _schedule_poll(job: Job, *, countdown: float, **changes) -> None:
    """Make this job's next poll due in `countdown` seconds (with any other `changes` in the same UPDATE).

    Nothing is enqueued here: the poll dispatcher (generations/dispatch.py) sends the poll, with
    the row's token and sequence number, once `poll_due_at` has come. The reconciler leaves a
    chain alone until it is overdue past that, however quiet the job is.
    """
    due = timezone.now() + timedelta(seconds=countdown)
    Job.objects.filter(pk=job.pk).update(poll_due_at=due, poll_dispatched_at=None, **changes)


_learned: dict[tuple[str, str, str, str], tuple[float, schedule.Expectation | None]] = {}
LEARNED_TTL = 30.0  # seconds a worker process keeps a kind of job's learned durations before asking again


def poll_expectation(job: Job) -> schedule.Expectation:
    """What the poller expects of this job: learned durations of its kind, else the catalog's prior.

    The same numbers as the cards' ETA (selectors.job_learned_expectations), cached per process
    for LEARNED_TTL, so a poll costs no extra query.
    """
    params = job.params or {}
    key = (job.provider, job.model, job.mode, schedule.shape_of(params))
    now = time.monotonic()
    cached = _learned.get(key)
    if cached is None or now - cached[0] > LEARNED_TTL:
        cached = _learned[key] = (now, selectors.job_learned_expectations(keys=[key]).get(key))
    return cached[1] or schedule.prior(mode=job.mode, params=params, provider=job.provider)


def _next_poll_in(job: Job, update: Update | None = None) -> float:
    """Seconds until this job's next poll, from the schedule and what the vendor just said."""
    since = job.submitted_at or job.created_at
    elapsed = (timezone.now() - since).total_seconds()
    expected = poll_expectation(job)
    progress = update.progress if update is not None else job.progress
    expected = schedule.with_progress(expected, elapsed=elapsed, progress=progress)
    queue_position = update.queue_position if update is not None else None
    return schedule.next_delay(elapsed, expected, queue_position=queue_position)


def job_poll(*, job_id: int, token: str, sequence: int | None = None) -> None:
    """Ask the vendor about one job: a batch of one (job_poll_batch)."""
    job_poll_batch(polls=[(job_id, token, sequence)])


POLL_THREADS = 8  # vendor calls of one batch in flight at once: the GIL is free while they wait


def job_poll_batch(*, polls: Sequence[tuple[int, str, int | None]]) -> None:
    """Ask the vendor about each job once, apply what it says, and record when its next poll is due.

    `polls` are (job id, chain token, sequence number) as the poll dispatcher claimed them. Each
    poll claims its place in its chain with the row locked: a second delivery of the same batch,
    or a poll of a retired chain, finds the row moved on and skips it. Why a batch: a poll is one
    vendor GET (~2 ms of CPU on a kept-alive client), and what it cost around that (a task, a
    message, four statements and two commits) was most of it. Now the claim is one locking read
    and one UPDATE for the whole batch, the vendor calls run on POLL_THREADS threads, and the
    quiet answers (nothing visible changed, the common case) are written together: their
    VendorCall rows in one INSERT, their next due times in one UPDATE, one commit. An answer that
    changes the job goes through job_apply_update one by one, as a webhook's does.
    """
    jobs = _poll_claim(polls)
    if not jobs:
        return
    quiet = []
    for job, answer in zip(jobs, _ask_vendors(jobs), strict=True):
        if answer.error is not None:
            _poll_failed(job, answer)
        elif _is_quiet(job, answer):
            quiet.append((job, answer))
        else:
            _poll_answered(job, answer)
    if quiet:
        _poll_quiet(quiet)


# What a poll reads of its job: enough for a quiet answer or a progress step (a SELECT of all
# ~40 columns, JSON included, was a third of a lone poll's CPU). Finishing, failing and errors
# load the whole row first (_whole_job).
POLLED_FIELDS = (
    "provider", "model", "mode", "params", "vendor_job_id", "vendor_state", "status", "progress",
    "result", "poll_token", "poll_count", "poll_errors", "created_at", "submitted_at", "started_at",
)  # fmt: skip


def _whole_job(job: Job) -> Job:
    return Job.objects.select_related("credential").get(pk=job.pk)


def _poll_claim(polls: Sequence[tuple[int, str, int | None]]) -> list[Job]:
    """Take the polls still current (token and sequence match), counting each one, in one statement.

    `UPDATE ... RETURNING` (PostgreSQL, SQLite 3.35+): the claim and the read of what the poll
    needs in one round trip, written as SQL because Django's update() returns no rows, and
    compiling a locking read plus an UPDATE was half of a small batch's CPU. A second delivery
    waits for the first's row lock, finds the sequence taken and claims nothing.
    """
    quote = connection.ops.quote_name
    table = quote(Job._meta.db_table)
    matches, params = [], []
    for job_id, token, sequence in polls:
        matches.append("(id = %s AND poll_token = %s AND poll_count = COALESCE(%s, poll_count))")
        params += [job_id, token, sequence]
    columns = ", ".join(
        quote(Job._meta.get_field(name).column) for name in ("id", *POLLED_FIELDS, "credential")
    )
    no_result = Job._meta.get_field("result").get_db_prep_value([], connection)
    jobs = list(
        Job.objects.raw(
            f"UPDATE {table} SET poll_count = poll_count + 1"  # noqa: S608 (names from the model)
            f" WHERE status IN (%s, %s) AND result = %s AND ({' OR '.join(matches)})"
            f" RETURNING {columns}",
            [JobStatus.SUBMITTED.value, JobStatus.RUNNING.value, no_result, *params],
        )
    )
    credentials = VendorCredential.objects.in_bulk({job.credential_id for job in jobs} - {None})
    for job in jobs:
        job.credential = credentials.get(job.credential_id)  # None for the operator's keys
    return sorted(jobs, key=lambda job: job.pk)


def _set_due_times(jobs: list[Job]) -> None:
    """Each job's own `poll_due_at` in one UPDATE (bulk_update's CASE cost as much as the polls).

    Each new due time is not dispatched yet (`poll_dispatched_at` cleared): the dispatch that sent
    this poll may be marked as of a horizon later than the next due time (dispatch.EARLY).
    """
    quote = connection.ops.quote_name
    due_field = Job._meta.get_field("poll_due_at")
    rows = ", ".join(["(%s, %s)"] * len(jobs))
    params = []
    for job in jobs:
        params += [job.pk, due_field.get_db_prep_value(job.poll_due_at, connection)]
    table = quote(Job._meta.db_table)
    with connection.cursor() as cursor:
        # VALUES columns are column1, column2 in both PostgreSQL and SQLite.
        cursor.execute(
            f"UPDATE {table} SET poll_due_at = due.column2, poll_dispatched_at = NULL"  # noqa: S608
            f" FROM (VALUES {rows}) AS due"
            f" WHERE {table}.id = due.column1",
            params,
        )


@dataclass
class _PollAnswer:
    update: Update | None
    error: ProviderError | None
    state: dict  # the job's vendor_state after the call (clients may count in it)
    calls: list[CallRecord]


def _ask_vendor(job: Job) -> _PollAnswer:
    """One vendor status call, with no database access (it runs on a poll thread)."""
    state = copy.deepcopy(job.vendor_state)  # a client may change it in place: compared afterwards
    with recording() as calls:
        try:
            client = get_client(job.provider, job.credential)
            submission = Submission(provider=job.provider, vendor_job_id=job.vendor_job_id, state=state)
            return _PollAnswer(client.poll(submission), None, submission.state, calls)
        except ProviderError as exc:
            return _PollAnswer(None, exc, state, calls)
        except Exception:  # a client bug must not sink the other polls of its batch
            logger.exception("poll of job %s failed unexpectedly", job.pk)
            error = ProviderError("The status check failed unexpectedly.", code=ErrorCode.BAD_RESPONSE)
            return _PollAnswer(None, error, state, calls)


_poll_pool: ThreadPoolExecutor | None = None
_poll_pool_pid = 0


def _ask_vendors(jobs: list[Job]) -> list[_PollAnswer]:
    global _poll_pool, _poll_pool_pid
    if len(jobs) == 1:
        return [_ask_vendor(jobs[0])]
    if _poll_pool is None or _poll_pool_pid != os.getpid():  # a forked child has none of the threads
        _poll_pool = ThreadPoolExecutor(max_workers=POLL_THREADS, thread_name_prefix="vendor-poll")
        _poll_pool_pid = os.getpid()
    return list(_poll_pool.map(_ask_vendor, jobs))


def _is_quiet(job: Job, answer: _PollAnswer) -> bool:
    """Nothing to write but the call log and the next due time (what job_apply_update would skip)."""
    update = answer.update
    return (
        update.status in (Status.QUEUED, Status.RUNNING)
        and _polled_status(job, update) == job.status
        and update.progress == job.progress
        and answer.state == job.vendor_state
        and not job.poll_errors
    )


def _poll_quiet(quiet: list[tuple[Job, _PollAnswer]]) -> None:
    calls = []
    for job, answer in quiet:
        # One VendorCall per poll normally: the chain's count is the attempt number.
        calls += _call_rows(job, "poll", answer.calls, attempt=job.poll_count - 1)
        job.poll_due_at = timezone.now() + timedelta(seconds=_next_poll_in(job, answer.update))
    with transaction.atomic():
        VendorCall.objects.bulk_create(calls)
        # A chain retired meanwhile by the reconciler finds its next claim refused: no re-check here.
        _set_due_times([job for job, _ in quiet])


def _poll_failed(job: Job, answer: _PollAnswer) -> None:
    exc = answer.error
    _log_calls(job, "poll", answer.calls, attempt=None)
    # Clients may count faults in the state (the simulator does): keep it even on failure.
    if exc.transient and job.poll_errors < MAX_POLL_ERRORS:
        _schedule_poll(
            job,
            countdown=poll_countdown(job.poll_errors + 1, exc.retry_after),
            poll_errors=F("poll_errors") + 1,
            vendor_state=answer.state,
        )
        return
    Job.objects.filter(pk=job.pk).update(vendor_state=answer.state)
    job_fail(job=_whole_job(job), code=exc.code, message=exc.message)


def _poll_answered(job: Job, answer: _PollAnswer) -> None:
    update = answer.update
    changes = {}
    if answer.state != job.vendor_state:
        changes["vendor_state"] = answer.state
    if job.poll_errors:
        changes["poll_errors"] = 0
    if update.status not in (Status.QUEUED, Status.RUNNING):
        job = _whole_job(job)  # finishing: the success, failure or cancel paths read all of it
    # One transaction for the call log, the update and the next due time: one commit (one WAL
    # flush on PostgreSQL) instead of three.
    with transaction.atomic():
        _log_calls(job, "poll", answer.calls, attempt=job.poll_count - 1 if job.poll_errors == 0 else None)
        job_apply_update(job=job, update=update)
        # job_apply_update keeps `job` current (status, result).
        if job.status in (JobStatus.SUBMITTED, JobStatus.RUNNING) and not job.result:
            due = timezone.now() + timedelta(seconds=_next_poll_in(job, update))
            Job.objects.filter(pk=job.pk).update(poll_due_at=due, poll_dispatched_at=None, **changes)
        elif changes:
            Job.objects.filter(pk=job.pk).update(**changes)


def _polled_status(job: Job, update: Update) -> str:
    """The job status a queued or running answer means; a running job never steps back."""
    if update.status == Status.RUNNING or job.status == JobStatus.RUNNING:
        return JobStatus.RUNNING
    return JobStatus.SUBMITTED


def job_apply_update(*, job: Job, update: Update) -> None:
    """Apply what a poll, a webhook or a synchronous submit learned. Safe to call twice."""
    if update.status in (Status.QUEUED, Status.RUNNING):
        status = _polled_status(job, update)
        if status == job.status and update.progress == job.progress:
            return  # nothing visible changed: keep updated_at, so the gallery refresh stays empty
        changes = {
            "status": status,
            "progress": update.progress,
            "vendor_status": redact_text(update.vendor_status, limit=40),
        }
        if status == JobStatus.RUNNING and job.started_at is None:
            changes["started_at"] = timezone.now()
        moved = _transition(job, from_statuses=[JobStatus.SUBMITTED, JobStatus.RUNNING], **changes)
        if moved and "started_at" in changes:
            _event(job, JobStatus.RUNNING, "The vendor started working")
        return
    if update.status == Status.SUCCEEDED:
        _accept_success(job, update)
        return
    if update.status == Status.CANCELED:
        with transaction.atomic():  # final status, event and refund together (see _finish_success)
            if _transition(
                job,
                from_statuses=ACTIVE_STATUSES,
                status=JobStatus.CANCELED,
                result=[],
                finished_at=timezone.now(),
            ):
                _event(job, JobStatus.CANCELED, "Canceled by the vendor")
                on_job_finished(job)  # the hold goes back, as for a cancel from our side
        return
    error = update.error or ProviderError("The vendor reported a failure without a reason.")
    job_fail(job=job, code=error.code, message=error.message)


def _accept_success(job: Job, update: Update) -> None:
    if not update.outputs:
        job_fail(
            job=job, code=ErrorCode.RESULT_MISSING, message="The vendor finished but returned no output."
        )
        return
    for index, output in enumerate(update.outputs):
        # Inline bytes (data URIs, b64_json) are checked here, before anything is claimed; URL
        # outputs are checked by the downloader. The vendor's declared type is never trusted.
        if output.data is not None and media.allowed_content_type(output.data) is None:
            error = invalid_result(index, output.data)
            job_fail(job=job, code=error.code, message=error.message)
            return
    extra = {"shape": schedule.shape_of(job.params or {})}
    if job.submitted_at is not None:
        # What the poll schedule learns from: submit to the moment we saw the vendor finish.
        extra["vendor_seconds"] = max(0.0, (timezone.now() - job.submitted_at).total_seconds())
    if update.seed is not None:
        extra["seed"] = update.seed
    if update.actual_prompt:
        extra["actual_prompt"] = redact_text(update.actual_prompt, limit=5000)
    if update.cost_usd is not None:
        extra["cost_final"] = update.cost_usd
    pending = [
        {"url": o.url, "kind": o.kind, "content_type": o.content_type} if o.data is None else None
        for o in update.outputs
    ]
    # One transaction for the claim and the inline outputs: if saving an output fails (a locked
    # database, a full disk), the claim rolls back too and the next poll or webhook tries again,
    # instead of leaving a claimed job whose output rows were never written.
    with transaction.atomic():
        # Claim the success once: a duplicate webhook or poll finds the result already set and stops.
        changes = dict(
            status=JobStatus.RUNNING, progress=100, result=pending, updated_at=timezone.now(), **extra
        )
        claimed = Job.objects.filter(
            pk=job.pk, status__in=[JobStatus.SUBMITTED, JobStatus.RUNNING], result=[]
        ).update(**changes)
        if not claimed:
            return
        _keep_current(job, changes)
        if "cost_final" in changes:
            # Money as the column stored it (4 places, rounded by the database), since the
            # settle charges exactly this: the vendor's figure may carry more places.
            job.refresh_from_db(fields=["cost_final"])
        _event(job, JobStatus.RUNNING, "The vendor finished; copying outputs to our storage")
        for index, output in enumerate(update.outputs):
            if output.data is not None:
                asset_save_output(job=job, index=index, data=output.data, content_type=output.content_type)
        if any(item is not None for item in pending):
            transaction.on_commit(lambda: job_store_outputs_task.delay(job.pk))
        else:
            _finish_success(job)


def job_store_outputs(*, job_id: int) -> None:
    """Copy the vendor's output URLs into our storage, then mark the job succeeded.

    Idempotent: outputs have deterministic names and rows keyed by (job, index), so a redelivered
    task (worker killed mid-download) ends with one set. Transient errors propagate for a retry.
    """
    job = Job.objects.get(pk=job_id)
    if job.status != JobStatus.RUNNING or not job.result:
        return
    stored = set(job.assets.filter(role=AssetRole.OUTPUT).values_list("index", flat=True))
    for index, item in enumerate(job.result):
        if index in stored:
            continue
        if item is None:
            # An inline output (bytes in the vendor's answer) whose row is missing cannot be
            # fetched again: fail clearly rather than succeed without it.
            job_fail(
                job=job,
                code=ErrorCode.RESULT_MISSING,
                message=f"Output {index + 1} was lost before it was stored.",
            )
            return
        if not item.get("url"):
            job_fail(job=job, code=ErrorCode.RESULT_MISSING, message=f"Output {index + 1} has no URL.")
            return
        try:
            started = timezone.now()
            # Streamed to a temporary file (flat memory for a 500 MB video), deleted below.
            fetched = download.fetch_to_file(
                item["url"],
                expected_kind=item.get("kind") or None,
                max_bytes=MAX_OUTPUT_BYTES,
                allow_private=settings.ALLOW_PRIVATE_URLS,
            )
        except ProviderError as exc:
            VendorCall.objects.create(
                job=job,
                operation="download",
                method="GET",
                url=redact_text(item["url"].split("?", 1)[0], limit=500),
                http_status=exc.http_status,
                latency_ms=int((timezone.now() - started).total_seconds() * 1000),
                error=redact_text(f"{exc.code}: {exc.message}", limit=500),
            )
            if exc.transient:
                raise
            job_fail(job=job, code=exc.code, message=exc.message)
            return
        with fetched:  # the temporary file is deleted however storing it ends
            VendorCall.objects.create(
                job=job,
                operation="download",
                method="GET",
                url=redact_text(item["url"].split("?", 1)[0], limit=500),
                http_status=200,
                latency_ms=int((timezone.now() - started).total_seconds() * 1000),
            )
            asset_save_output_file(job=job, index=index, downloaded=fetched)
    _finish_success(job)


def _finish_success(job: Job) -> None:
    """Mark a running job whose every output is stored succeeded, and settle its hold.

    Every entry of `job.result` (one per output) has its row by now, so their number is the
    number of outputs: no COUNT query.
    """
    outputs = len(job.result)
    cost = job.cost_final if job.cost_final is not None else job.cost_estimate
    # One transaction for the final status, its event and the settle: a worker killed in between
    # (bench/scaleout.py did it) must not leave a succeeded job whose hold is never settled. Rolled
    # back, the job is still running and the redelivered task finishes it.
    with transaction.atomic():
        if _transition(
            job,
            from_statuses=[JobStatus.RUNNING],
            status=JobStatus.SUCCEEDED,
            progress=100,
            result=[],
            cost_final=cost,
            finished_at=timezone.now(),
        ):
            _event(job, JobStatus.SUCCEEDED, f"{outputs} output{'s' if outputs != 1 else ''} stored")
            on_job_finished(job)


def job_fail(*, job: Job, code: str, message: str) -> bool:
    """Fail an active job with a typed code and a human message; True when this call failed it.

    The message is usually the vendor's words: secrets are redacted before it is stored.
    """
    message = redact_text(message, limit=2000)
    with transaction.atomic():  # final status, event and refund together (see _finish_success)
        failed = _transition(
            job,
            from_statuses=ACTIVE_STATUSES,
            status=JobStatus.FAILED,
            error_code=str(code)[:40],
            error_message=message[:2000],
            result=[],
            finished_at=timezone.now(),
        )
        if failed:
            _event(job, JobStatus.FAILED, f"{code}: {message}")
            on_job_finished(job)
    if failed and job.run_id is not None:
        from generations import runs  # a compare run's job may be re-routed (runs.py), after the refund

        runs.job_failover(job=job)
    return failed


def on_job_finished(job: Job) -> None:
    """Called once per job when it reaches a final status: settle its hold, or refund it.

    The hold is closed by a conditional update too, so even a second call cannot move money twice.
    """
    if job.status == JobStatus.SUCCEEDED:
        quotas.quota_settle(job=job, amount=job.cost_final)
    else:
        quotas.quota_refund(job=job, reason=f"{job.status}: {job.error_code}".strip(": "))
    job_finished.send(sender=Job, job=job)  # outgoing API webhooks (wanweb/api/webhooks.py)


def job_can_manage(membership: Membership, job: Job) -> bool:
    """Admins and owners manage every job of the team; members only their own; viewers none."""
    return membership.can_manage_members or (membership.can_edit and job.created_by_id == membership.user_id)


def job_cancel(*, membership: Membership, job: Job) -> bool:
    """Cancel a queued or running job now; the vendor is told after commit where it has a cancel."""
    if not job_can_manage(membership, job):
        raise PermissionDenied("Only the job's creator or a team admin can cancel it.")
    with transaction.atomic():  # final status, event and refund together (see _finish_success)
        canceled = _transition(
            job,
            from_statuses=ACTIVE_STATUSES,
            status=JobStatus.CANCELED,
            result=[],
            finished_at=timezone.now(),
        )
        if canceled:
            _event(job, JobStatus.CANCELED, f"Canceled by {membership.user.username}")
            on_job_finished(job)
            if job.vendor_job_id:
                transaction.on_commit(lambda: _enqueue(job_vendor_cancel_task, job.pk))
    return canceled


def job_vendor_cancel(*, job_id: int) -> None:
    job = Job.objects.get(pk=job_id)
    submission = Submission(
        provider=job.provider, vendor_job_id=job.vendor_job_id, state=dict(job.vendor_state)
    )
    _vendor_cancel(job, submission)


def _vendor_cancel(job: Job, submission: Submission) -> None:
    with recording() as calls:
        try:
            accepted = get_client(job.provider, job.credential).cancel(submission)
        except ProviderError as exc:
            logger.info("vendor cancel of %s failed: %s", job.public_id, exc)
            accepted = False
    _log_calls(job, "cancel", calls)
    _event(
        job, job.status, "The vendor accepted the cancel" if accepted else "The vendor could not cancel it"
    )


def job_retry(*, membership: Membership, job: Job) -> Job:
    """Run a failed or canceled job again as a new job with the same parameters and inputs."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELED):
        raise RequestValidationError({"__all__": ["Only failed or canceled jobs can be retried."]})
    uploads = job_inputs(job)
    return job_create(
        membership=membership,
        project=job.project,
        provider=job.provider,
        model=job.model,
        mode=job.mode,
        prompt=job.prompt,
        params=job.params,
        uploads=uploads,
        retry_of=job,
    )


def job_inputs(job: Job) -> list[UploadedInput]:
    """The job's input files, read back for a new job with the same inputs (retry, failover)."""
    uploads = []
    for asset in job.assets.filter(role=AssetRole.INPUT).order_by("index"):
        with asset.file.open("rb") as handle:
            data = handle.read()
        uploads.append(
            UploadedInput(slot=asset.slot, data=data, filename=asset.file.name, info=media.probe(data))
        )
    return uploads


def job_delete(*, membership: Membership, job: Job) -> None:
    """Delete a finished job, its rows and its files. Active jobs must be canceled first."""
    if not job_can_manage(membership, job):
        raise PermissionDenied("Only the job's creator or a team admin can delete it.")
    if job.is_active:
        raise RequestValidationError({"__all__": ["Cancel the job before deleting it."]})
    names = [n for a in job.assets.all() for n in (a.file.name, a.thumbnail.name) if n]
    directory = job_dir(job)
    job.delete()
    transaction.on_commit(lambda: (files_delete(names), _remove_empty_dir(directory)))


def _remove_empty_dir(name: str) -> None:
    try:
        path = default_storage.path(name)
    except NotImplementedError:
        return  # object storage has no directories
    with contextlib.suppress(OSError):
        os.rmdir(path)


def job_reconcile(*, now=None) -> dict[str, int]:
    """The beat's backstop: re-drive active jobs that have been silent too long, fail ancient ones."""
    now = now or timezone.now()
    counts = {"resubmitted": 0, "repolled": 0, "restored": 0, "expired": 0}
    # A quiet job whose poll chain is alive (its next poll is not overdue) is waiting, not stalled:
    # re-driving it would only retire a working chain (issue 13: 297 such re-drives at 1,000 in flight).
    silent = Job.objects.filter(
        Q(poll_due_at__isnull=True) | Q(poll_due_at__lt=now - POLL_OVERDUE),
        status__in=ACTIVE_STATUSES,
        updated_at__lt=now - RECONCILE_SILENCE,
    )
    for job in silent.order_by("updated_at")[:500]:
        if job.created_at < now - JOB_MAX_AGE:
            if job_fail(
                job=job, code=ErrorCode.TIMEOUT, message="The vendor did not finish the job in time."
            ):
                counts["expired"] += 1
            continue
        # Touch the row so the next run leaves it alone for another silence window.
        Job.objects.filter(pk=job.pk).update(updated_at=now)
        if job.status == JobStatus.QUEUED:
            if job.submit_lease_until and job.submit_lease_until > now:
                continue  # a worker is talking to the vendor (or backing off) right now
            job_submit_task.delay(job.pk)
            counts["resubmitted"] += 1
        elif job.result:
            job_store_outputs_task.delay(job.pk)
            counts["restored"] += 1
        else:
            token = secrets.token_hex(8)
            _schedule_poll(job, countdown=0, poll_token=token)  # the new token retires any older chain
            counts["repolled"] += 1
            logger.info("re-drove the silent poll chain of job %s", job.pk)
    return counts


def job_handle_webhook(
    *, provider: str, headers, body: bytes, credential: VendorCredential | None = None
) -> Job | None:
    """Verify a vendor callback and apply it. Raises WebhookError (401) or ProviderError (5xx).

    A delivery for a job submitted with a team's key comes to that credential's URL and is verified
    with that team's secret; it can only touch that credential's jobs (and the operator's URL only
    the operator's).
    """
    client = get_client(provider, credential)
    vendor_job_id, update = client.parse_webhook(headers=headers, body=body)
    job = Job.objects.filter(provider=provider, vendor_job_id=vendor_job_id, credential=credential).first()
    if job is None:
        logger.info("webhook for unknown %s job %s", provider, vendor_job_id)
        return None
    VendorCall.objects.create(job=job, operation="webhook", method="POST", http_status=200, error="")
    if job.status in (JobStatus.SUBMITTED, JobStatus.RUNNING):
        job_apply_update(job=job, update=update)
    return job


def job_fail_by_id(*, job_id: int, code: str, message: str) -> bool:
    job = Job.objects.filter(pk=job_id).first()
    return job is not None and job_fail(job=job, code=code, message=message)
