"""The poll dispatcher (generations/dispatch.py): due polls are sent once, others not, lost ones again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations import dispatch, services
from generations.models import Job, JobStatus
from providers.base import Status, Update
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def _job(project, *, due_in: float | None, status=JobStatus.RUNNING, submitted_ago: float = 30, **kw) -> Job:
    now = timezone.now()
    job = JobFactory(
        project=project,
        provider="simulator",
        model="wan-sim",
        mode=kw.pop("mode", "t2v"),
        status=status,
        vendor_job_id=kw.pop("vendor_job_id"),
        poll_token=kw.pop("poll_token", "chain"),
        submitted_at=now - timedelta(seconds=submitted_ago),
        **kw,
    )
    Job.objects.filter(pk=job.pk).update(
        poll_due_at=None if due_in is None else now + timedelta(seconds=due_in)
    )
    return job


class _StillRunning:
    name = "simulator"

    def poll(self, submission):
        return Update(status=Status.RUNNING)


def _dispatch(**kw) -> list[tuple]:
    sent: list[tuple] = []
    dispatch.polls_dispatch_due(send=sent.extend, **kw)
    return sent


def test_due_polls_are_sent_once_with_the_rows_token_and_sequence_and_the_rest_not(acme_project):
    due = _job(acme_project, due_in=-2, vendor_job_id="due", poll_count=7)
    _job(acme_project, due_in=5, vendor_job_id="later")
    _job(acme_project, due_in=None, vendor_job_id="unscheduled")
    _job(acme_project, due_in=-2, vendor_job_id="done", status=JobStatus.SUCCEEDED)
    _job(acme_project, due_in=-2, vendor_job_id="queued", status=JobStatus.QUEUED)
    _job(acme_project, due_in=-2, vendor_job_id="storing", result=[{"url": "https://x/y.png"}])

    assert _dispatch() == [(due.pk, "chain", 7)]
    assert _dispatch() == []  # sent already: not again while its lease runs


def test_a_dispatched_poll_is_not_sent_again_within_its_lease(acme_project):
    due = _job(acme_project, due_in=-1, vendor_job_id="due")
    assert [job_id for job_id, _, _ in _dispatch()] == [due.pk]
    inside_lease = timezone.now() + dispatch.LEASE - timedelta(seconds=2)
    assert _dispatch(now=inside_lease) == []


def test_a_lost_dispatch_is_sent_again_once_the_lease_runs_out(acme_project):
    """The message of a claimed poll was lost (worker killed, broker restarted): no poll ever
    recorded a later due time, so after LEASE the dispatcher sends it again, with the current
    sequence number (a late original finds its number taken and does nothing)."""
    job = _job(acme_project, due_in=-1, vendor_job_id="lost", poll_count=3)
    assert _dispatch() == [(job.pk, "chain", 3)]  # ... and this message never arrives
    after_lease = timezone.now() + dispatch.LEASE + timedelta(seconds=1)
    assert _dispatch(now=after_lease) == [(job.pk, "chain", 3)]
    assert _dispatch(now=after_lease) == []


def test_the_next_due_time_a_poll_records_is_dispatched_when_it_comes(acme_project, monkeypatch):
    job = _job(acme_project, due_in=-1, vendor_job_id="chain")
    ((job_id, token, sequence),) = _dispatch()
    monkeypatch.setattr(services, "get_client", lambda name, credential=None: _StillRunning())
    services.job_poll(job_id=job_id, token=token, sequence=sequence)  # records the next due time
    job.refresh_from_db()
    assert job.poll_count == 1 and job.poll_dispatched_at is None  # nothing sent for the new due time
    assert _dispatch() == []  # not due yet
    assert _dispatch(now=job.poll_due_at) == [(job.pk, "chain", 1)]


def test_a_full_batch_takes_the_most_overdue_first(acme_project):
    jobs = [_job(acme_project, due_in=-10 + i, vendor_job_id=f"j{i}") for i in range(3)]
    assert [job_id for job_id, _, _ in _dispatch(batch=2)] == [jobs[0].pk, jobs[1].pk]
    assert [job_id for job_id, _, _ in _dispatch(batch=2)] == [jobs[2].pk]


def test_an_idle_tick_is_one_query(acme_project):
    _job(acme_project, due_in=30, vendor_job_id="later")
    with CaptureQueriesContext(connection) as captured:
        assert _dispatch() == []
    assert len(captured.captured_queries) == 1


def test_a_job_nobody_dispatches_is_re_driven_by_the_reconciler_backstop(acme_project):
    """No worker on the polls queue (or a dispatcher that died): the chain's poll stays overdue,
    and the reconciler starts a new chain, which the next dispatcher tick sends at once."""
    long_ago = timezone.now() - timedelta(minutes=10)
    job = _job(acme_project, due_in=-600, vendor_job_id="stalled", poll_count=4)
    Job.objects.filter(pk=job.pk).update(updated_at=long_ago, poll_dispatched_at=long_ago)

    assert services.job_reconcile()["repolled"] == 1

    job.refresh_from_db()
    assert job.poll_token != "chain" and job.poll_dispatched_at is None
    assert _dispatch() == [(job.pk, job.poll_token, 4)]


def test_only_a_worker_serving_the_polls_queue_runs_the_dispatcher(settings):
    polls_queue = settings.CELERY_TASK_ROUTES["generations.tasks.job_poll_task"]["queue"]
    assert dispatch.serves_polls([settings.CELERY_TASK_DEFAULT_QUEUE, polls_queue])
    assert not dispatch.serves_polls([settings.CELERY_TASK_DEFAULT_QUEUE])


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_never_claim_the_same_poll(acme_project):
    """PostgreSQL: a second dispatcher skips the rows the first has locked (FOR UPDATE SKIP LOCKED)
    and, once the first commits, finds them dispatched."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite serialises writers on the whole file)")
    import threading

    from django.db import connections, transaction

    job = _job(acme_project, due_in=-1, vendor_job_id="contended")
    locked, release, second = threading.Event(), threading.Event(), []

    def first_dispatcher_mid_claim():
        try:
            with transaction.atomic():
                list(dispatch.due_polls(timezone.now()).select_for_update(skip_locked=True).values("pk"))
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_dispatcher_mid_claim)
    thread.start()
    assert locked.wait(10)
    second.extend(_dispatch())
    release.set()
    thread.join(10)
    assert second == []  # locked by the first: skipped, not sent twice
    assert _dispatch() == [(job.pk, "chain", 0)]  # the first never claimed it (no update): still due


def test_a_poll_due_before_the_next_tick_goes_with_this_one_and_only_once(acme_project):
    """Polls due within EARLY join this tick's batches (a lone poll costs more than a batched one)
    and are marked dispatched as of that horizon, so the next tick does not send them again."""
    soon = _job(acme_project, due_in=0.1, vendor_job_id="soon")
    _job(acme_project, due_in=dispatch.EARLY.total_seconds() + 1, vendor_job_id="later")
    now = timezone.now()
    assert [job_id for job_id, _, _ in _dispatch(now=now)] == [soon.pk]
    assert _dispatch(now=now + timedelta(seconds=dispatch.TICK)) == []


# 5 %: a progress change (not a quiet answer) that says too little to move the expected finish.
@pytest.mark.parametrize("progress", [None, 5], ids=["quiet", "progress"])
def test_a_poll_sent_early_that_records_a_due_time_before_its_dispatch_horizon_is_sent_again(
    acme_project, monkeypatch, progress
):
    """A poll sent up to EARLY before its time can record a next due time that falls before the
    horizon its dispatch was marked with; that due time is still to send, not "dispatched"."""
    job = _job(
        acme_project,
        due_in=0.1,
        vendor_job_id="early",
        mode="t2i",
        params={"sim_delay": 1.2},  # the simulator's prior: p25 1.08 s after submit
        submitted_ago=1.0,
    )
    now = timezone.now()
    assert [job_id for job_id, _, _ in _dispatch(now=now)] == [job.pk]  # marked as of now + EARLY

    class _Running:
        def poll(self, submission):
            return Update(status=Status.RUNNING, progress=progress)

    monkeypatch.setattr(services, "get_client", lambda name, credential=None: _Running())
    services.job_poll(job_id=job.pk, token="chain", sequence=0)
    job.refresh_from_db()
    assert job.poll_due_at < now + dispatch.EARLY  # the case: due before the horizon
    assert _dispatch(now=job.poll_due_at) == [(job.pk, "chain", 1)]
