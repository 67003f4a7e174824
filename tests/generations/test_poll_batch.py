"""Several due polls in one task (services.job_poll_batch, the dispatcher's job_poll_batch_task).

A batch claims its polls in one locking read, asks the vendors in parallel, and writes the quiet
answers together; answers that change a job, and failures, are applied one by one as before.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations import dispatch, services
from generations.models import Job, JobStatus, VendorCall
from providers.base import ErrorCode, Output, ProviderError, Status, Update
from providers.http import CallRecord, _record
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


class _Vendor:
    """Answers by vendor job id; every poll makes one (recorded) status call, like a real client."""

    name = "simulator"

    def __init__(
        self, answers: dict | None = None, *, barrier: threading.Barrier | None = None, delay: float = 0
    ) -> None:
        self.answers = answers or {}
        self.barrier = barrier
        self.delay = delay

    def poll(self, submission):
        _record(CallRecord("GET", f"https://vendor.test/status/{submission.vendor_job_id}", 200, 1))
        time.sleep(self.delay)
        if self.barrier is not None:
            self.barrier.wait(timeout=5)  # BrokenBarrierError unless the calls run at the same time
        answer = self.answers.get(submission.vendor_job_id, Update(status=Status.RUNNING))
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture(autouse=True)
def _forget_learned():
    services._learned.clear()
    yield
    services._learned.clear()


def _running(project, vendor_job_id: str, **kw) -> Job:
    now = timezone.now()
    return JobFactory(
        project=project,
        provider="simulator",
        model="wan-sim",
        mode="t2v",
        status=JobStatus.RUNNING,
        vendor_job_id=vendor_job_id,
        poll_token="chain",
        params={"duration": 5, "resolution": "720p"},
        created_at=now - timedelta(seconds=11),
        submitted_at=now - timedelta(seconds=10),
        **kw,
    )


def _use(monkeypatch, vendor: _Vendor) -> None:
    monkeypatch.setattr(services, "get_client", lambda name, credential=None: vendor)


def _statements(captured) -> list[str]:
    # The test's own transaction turns BEGIN/COMMIT into SAVEPOINT/RELEASE: not work, not counted.
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]


def test_quiet_polls_of_a_batch_cost_the_same_statements_as_one(acme_project, monkeypatch):
    _use(monkeypatch, _Vendor())
    one = _running(acme_project, "solo")
    many = [_running(acme_project, f"sim-{i}") for i in range(12)]
    services.poll_expectation(one)  # the learned durations are cached per process: not this test's

    with CaptureQueriesContext(connection) as single:
        services.job_poll_batch(polls=[(one.pk, "chain", 0)])
    with CaptureQueriesContext(connection) as batch:
        services.job_poll_batch(polls=[(job.pk, "chain", 0) for job in many])

    # Claim (locking read + count), the VendorCall rows, the due times: four, for 1 or 12 polls.
    assert len(_statements(single)) == len(_statements(batch)) == 4, _statements(batch)
    for job in [one, *many]:
        job.refresh_from_db()
        assert job.poll_count == 1 and job.poll_due_at > timezone.now()
        [call] = job.vendor_calls.all()
        assert (call.operation, call.attempt, call.http_status) == ("poll", 1, 200)


def test_a_batch_applies_each_answer_to_its_own_job(
    acme_project, monkeypatch, django_capture_on_commit_callbacks
):
    class _Store:
        def __init__(self):
            self.sent = []

        def delay(self, job_id):
            self.sent.append(job_id)

    store = _Store()
    monkeypatch.setattr(services, "job_store_outputs_task", store)
    _use(
        monkeypatch,
        _Vendor(
            {
                "done": Update(
                    status=Status.SUCCEEDED, outputs=[Output(kind="video", url="https://x/y.mp4")]
                ),
                "moving": Update(status=Status.RUNNING, progress=40),
                "refused": ProviderError("Content policy", code=ErrorCode.CONTENT_POLICY),
                "flaky": ProviderError("Bad gateway", code=ErrorCode.SERVER_ERROR),
                "broken": KeyError("a client bug"),
            }
        ),
    )
    jobs = {
        name: _running(acme_project, name)
        for name in ("done", "moving", "quiet", "refused", "flaky", "broken")
    }

    with django_capture_on_commit_callbacks(execute=True):
        services.job_poll_batch(polls=[(job.pk, "chain", 0) for job in jobs.values()])

    for job in jobs.values():
        job.refresh_from_db()
    assert [item["url"] for item in jobs["done"].result] == ["https://x/y.mp4"]
    assert store.sent == [jobs["done"].pk]
    assert (jobs["moving"].progress, jobs["moving"].poll_due_at is not None) == (40, True)
    assert jobs["quiet"].poll_due_at is not None and jobs["quiet"].progress is None
    assert jobs["refused"].status == JobStatus.FAILED and jobs["refused"].error_code == "content_policy"
    for transient in ("flaky", "broken"):  # tried again later, the others not held up
        assert jobs[transient].status == JobStatus.RUNNING and jobs[transient].poll_errors == 1
        assert jobs[transient].poll_due_at is not None
    assert VendorCall.objects.filter(job__in=jobs.values(), operation="poll").count() == 6


def test_a_second_delivery_of_a_batch_changes_nothing(acme_project, monkeypatch):
    vendor = _Vendor()
    _use(monkeypatch, vendor)
    jobs = [_running(acme_project, f"sim-{i}") for i in range(3)]
    polls = [(job.pk, "chain", 0) for job in jobs]
    services.job_poll_batch(polls=polls)
    due = dict(Job.objects.filter(pk__in=[job.pk for job in jobs]).values_list("pk", "poll_due_at"))

    vendor.poll = lambda submission: pytest.fail("a taken poll asked the vendor again")
    services.job_poll_batch(polls=polls)  # the same message, delivered again
    for job in jobs:
        job.refresh_from_db()
        assert job.poll_count == 1 and job.poll_due_at == due[job.pk]
    assert VendorCall.objects.filter(job__in=jobs).count() == 3


def test_a_poll_of_a_retired_chain_is_skipped_and_the_rest_of_its_batch_polled(acme_project, monkeypatch):
    _use(monkeypatch, _Vendor())
    current = _running(acme_project, "current")
    retired = _running(acme_project, "retired")
    Job.objects.filter(pk=retired.pk).update(poll_token="newer-chain")
    services.job_poll_batch(polls=[(retired.pk, "chain", 0), (current.pk, "chain", 0)])
    current.refresh_from_db()
    retired.refresh_from_db()
    assert (current.poll_count, retired.poll_count) == (1, 0)


def test_the_vendor_calls_of_a_batch_run_at_the_same_time(acme_project, monkeypatch):
    """Two calls that each wait for the other: they finish only if they are in flight together."""
    _use(monkeypatch, _Vendor(barrier=threading.Barrier(2)))
    jobs = [_running(acme_project, f"sim-{i}") for i in range(2)]
    services.job_poll_batch(polls=[(job.pk, "chain", 0) for job in jobs])
    for job in jobs:
        job.refresh_from_db()
        assert job.poll_errors == 0 and job.poll_due_at is not None


def test_a_forked_worker_process_gets_poll_threads_of_its_own(acme_project, monkeypatch):
    """Celery's prefork children are forked from a parent that may already hold the thread pool:
    its threads do not exist in the child, which must start its own rather than wait forever."""
    vendor = _Vendor(delay=0.02)  # slow enough for the parent to start all its threads
    jobs = [_running(acme_project, f"sim-{i}") for i in range(2 * services.POLL_THREADS)]
    monkeypatch.setattr(services, "get_client", lambda name, credential=None: vendor)
    assert len(services._ask_vendors(jobs)) == len(jobs)  # the parent's pool exists now, all threads idle
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no database access below, only the vendor calls
        try:
            signal.alarm(10)  # a pool whose threads stayed in the parent would hang here
            answers = services._ask_vendors(jobs)
            os.write(write, str(sum(a.update.status == Status.RUNNING for a in answers)).encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 10) == str(len(jobs)).encode() and os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize(
    ("count", "sizes"),
    [(0, []), (1, [1]), (20, [20]), (21, [11, 10]), (45, [15, 15, 15]), (61, [16, 15, 15, 15])],
)
def test_due_polls_are_split_into_even_batches_of_at_most_poll_batch(count, sizes):
    batches = dispatch.split_batches(list(range(count)), 20)
    assert [len(batch) for batch in batches] == sizes
    assert [item for batch in batches for item in batch] == list(range(count))


def test_the_dispatcher_sends_its_claims_as_batch_messages(monkeypatch):
    from generations import tasks

    sent = []
    monkeypatch.setattr(
        tasks.job_poll_batch_task, "apply_async", lambda args, producer=None: sent.append(args[0])
    )
    claimed = [(i, "chain", 0) for i in range(25)]
    dispatch.send_polls(claimed)
    assert [len(batch) for batch in sent] == [13, 12]
    assert [poll for batch in sent for poll in batch] == claimed
