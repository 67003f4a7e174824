"""The poll chain follows the learned schedule, records when it is due, and the reconciler trusts that."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from generations import dispatch, selectors, services
from generations.models import Job, JobStatus
from providers.base import Output, Status, Update
from tests.factories import JobFactory
from tests.polls import next_poll

pytestmark = pytest.mark.django_db


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def delay(self, *args) -> None:
        self.calls.append(args)

    def apply_async(self, args, countdown=None) -> None:
        self.calls.append((tuple(args), countdown))


class _Vendor:
    """A vendor client whose poll answers what the test says."""

    name = "simulator"

    def __init__(self, update: Update) -> None:
        self.update = update

    def poll(self, submission):
        return self.update


@pytest.fixture(autouse=True)
def _forget_learned():
    services._learned.clear()
    yield
    services._learned.clear()


def _running(project, *, submitted_ago: float, **kw) -> Job:
    now = timezone.now()
    return JobFactory(
        project=project,
        provider="simulator",
        model=kw.pop("model", "wan-sim"),
        mode="t2v",
        status=JobStatus.RUNNING,
        vendor_job_id=kw.pop("vendor_job_id", "sim-1"),
        poll_token="chain",
        params=kw.pop("params", {"duration": 5, "resolution": "720p"}),
        created_at=now - timedelta(seconds=submitted_ago + 1),
        submitted_at=now - timedelta(seconds=submitted_ago),
        **kw,
    )


def _learn(project, seconds: float, n: int = 10, params=None) -> None:
    finished = timezone.now() - timedelta(minutes=1)
    for i in range(n):
        JobFactory(
            project=project,
            provider="simulator",
            model="wan-sim",
            mode="t2v",
            status=JobStatus.SUCCEEDED,
            vendor_job_id=f"done-{i}-{seconds}",
            params=params or {"duration": 5, "resolution": "720p"},
            shape="5|720p" if params is None else "",
            vendor_seconds=seconds,
            created_at=finished - timedelta(seconds=seconds + 1),
            finished_at=finished,
            updated_at=finished - timedelta(seconds=i),
        )


def test_a_quiet_poll_schedules_by_the_learned_distribution_and_records_when_it_is_due(
    acme_project, monkeypatch
):
    _learn(acme_project, 60.0)
    job = _running(acme_project, submitted_ago=10)
    monkeypatch.setattr(
        services, "get_client", lambda name, credential=None: _Vendor(Update(status=Status.RUNNING))
    )
    services.poll_expectation(job)  # the learned durations are cached per process (one query per 30 s)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        services.job_poll(job_id=job.pk, token="chain", sequence=0)
    # The claim, the row, the next due time (no VendorCall: the stub makes no HTTP call). The
    # test's own transaction turns the poll's BEGIN/COMMIT into a SAVEPOINT/RELEASE: not counted.
    sql = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(sql) <= 3, sql

    # What the dispatcher sends when it is due: the same chain, the next sequence number.
    assert next_poll(job.pk) == {"job_id": job.pk, "token": "chain", "sequence": 1}
    job.refresh_from_db()
    # 10 s after submit, finish expected at ~60 s: half the way to p25 (25 s), not the old ~2.8 s.
    due = (job.poll_due_at - timezone.now()).total_seconds()
    assert 23 < due <= 25.5
    assert job.vendor_calls.count() == 0  # the stub makes no HTTP call


def test_near_the_learned_finish_it_polls_every_half_second(acme_project, monkeypatch):
    _learn(acme_project, 60.0)
    job = _running(acme_project, submitted_ago=60)
    monkeypatch.setattr(
        services, "get_client", lambda name, credential=None: _Vendor(Update(status=Status.RUNNING))
    )
    before = timezone.now()
    services.job_poll(job_id=job.pk, token="chain", sequence=0)
    after = timezone.now()
    job.refresh_from_db()
    half_second = timedelta(seconds=0.5)
    assert before + half_second <= job.poll_due_at <= after + half_second


def test_without_history_the_prior_paces_the_chain(acme_project, monkeypatch):
    job = _running(acme_project, submitted_ago=5, params={"sim_delay": 40})
    expected = services.poll_expectation(job)
    assert expected.source == "prior" and expected.p50 == 40


def test_a_success_records_what_the_schedule_learns_and_the_card_eta_reads_it(acme_project, monkeypatch):
    job = _running(acme_project, submitted_ago=42)
    monkeypatch.setattr(services, "job_store_outputs_task", _Recorder())
    monkeypatch.setattr(
        services,
        "get_client",
        lambda name, credential=None: _Vendor(
            Update(status=Status.SUCCEEDED, outputs=[Output(kind="video", url="https://x/y.mp4")])
        ),
    )
    services.job_poll(job_id=job.pk, token="chain", sequence=0)
    job.refresh_from_db()
    assert job.shape == "5|720p" and job.vendor_seconds == pytest.approx(42, abs=1)

    _learn(acme_project, 90.0, n=5)
    _learn(acme_project, 10.0, n=5, params={"duration": 15, "resolution": "1080p"})  # another shape
    waiting = _running(acme_project, submitted_ago=1, vendor_job_id="sim-2")
    [card] = selectors.jobs_with_progress([waiting])
    expected = services.poll_expectation(waiting)
    assert expected.source == "history"
    assert card.typical_seconds == round(expected.p50) == 90  # same shape only, same number as the poller


def test_the_reconciler_leaves_quiet_jobs_whose_chain_is_alive(acme_project, monkeypatch):
    long_ago = timezone.now() - timedelta(minutes=10)
    alive = _running(acme_project, submitted_ago=600, vendor_job_id="a", updated_at=long_ago)
    Job.objects.filter(pk=alive.pk).update(
        updated_at=long_ago, poll_due_at=timezone.now() + timedelta(seconds=20)
    )
    overdue = _running(acme_project, submitted_ago=600, vendor_job_id="b")
    Job.objects.filter(pk=overdue.pk).update(updated_at=long_ago, poll_due_at=long_ago)
    unscheduled = _running(acme_project, submitted_ago=600, vendor_job_id="c")
    Job.objects.filter(pk=unscheduled.pk).update(updated_at=long_ago, poll_due_at=None)
    counts = services.job_reconcile()

    assert counts["repolled"] == 2
    sent = []
    dispatch.polls_dispatch_due(send=sent.extend)  # the re-driven chains are due now
    assert sorted(job_id for job_id, _, _ in sent) == sorted([overdue.pk, unscheduled.pk])
    alive.refresh_from_db()
    assert alive.poll_token == "chain"  # its working chain was not retired


def test_a_shape_learns_from_its_own_jobs_even_when_others_are_newer(acme_project):
    from datetime import timedelta as td

    finished = timezone.now() - td(minutes=30)
    for i in range(5):  # older successes of the 15 s / 1080p shape
        JobFactory(
            project=acme_project,
            provider="simulator",
            model="wan-sim",
            mode="t2v",
            status="succeeded",
            vendor_job_id=f"old-{i}",
            params={"duration": 15, "resolution": "1080p"},
            shape="15|1080p",
            vendor_seconds=120.0,
            finished_at=finished,
            updated_at=finished - td(seconds=i),
        )
    _learn(acme_project, 30.0, n=25)  # newer: more than ETA_SAMPLES of another shape
    waiting = _running(acme_project, submitted_ago=1, params={"duration": 15, "resolution": "1080p"})
    assert services.poll_expectation(waiting).p50 == 120.0
