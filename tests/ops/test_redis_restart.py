"""A Redis restart under running jobs: the worker reconnects by itself and every job finishes.

Before wanweb/ops/kombu_workaround.py the worker died at the restart (celery 5.7 / kombu 5.7:
"AttributeError: 'NoneType' object has no attribute 'hostname'") and its jobs stayed running.

The second test kills a Redis that keeps nothing on disk while polls wait in it: those polls are
gone for good, and the poll dispatcher's lease (generations/dispatch.py LEASE) sends them again.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone

from generations import services
from generations.models import FINAL_STATUSES, Job, JobStatus
from tests.conftest import wait_for
from tests.fakes.dashscope import FakeDashScope
from tests.ops.conftest import WorkerProcess
from wanweb.accounts.models import Membership
from wanweb.ops import heartbeat
from wanweb.quotas.models import HoldStatus, LedgerEntry, LedgerKind

JOBS = 6


def _create(user, project, index: int) -> Job:
    return services.job_create(
        membership=Membership.objects.get(user=user, team=project.team),
        project=project,
        provider="simulator",
        model=None,
        mode="t2i",
        prompt=f"a lighthouse, take {index}",
        params={"sim_delay": 3},
    )


def _all_final(jobs: list[Job]) -> bool:
    return Job.objects.filter(pk__in=[j.pk for j in jobs], status__in=FINAL_STATUSES).count() == len(jobs)


@pytest.mark.celery
def test_a_redis_restart_mid_run_does_not_kill_the_worker_and_every_job_succeeds(
    worker_on_private_redis, private_redis, alice, acme_project
):
    worker = worker_on_private_redis
    worker.start(concurrency=2)
    wait_for(lambda: "ready." in worker.log(), timeout=30)

    jobs = [_create(alice, acme_project, i) for i in range(JOBS)]
    # Mid-run: some jobs at the vendor with polls waiting in the worker, some still queued.
    wait_for(lambda: Job.objects.filter(status=JobStatus.RUNNING).exists(), timeout=20)

    private_redis.stop()
    time.sleep(2)  # long enough for the worker to notice and try to reconnect
    assert worker.alive(), worker.log()
    private_redis.start()

    try:
        wait_for(lambda: _all_final(jobs), timeout=45, interval=0.5)
    except AssertionError:
        # A poll the worker held at the moment Redis went away can be lost with it (seen on a loaded
        # machine: one job of six left running). In production beat's reconciler re-drives such a
        # chain once it is overdue; run it here as beat would then, instead of waiting minutes.
        later = timezone.now() + services.RECONCILE_SILENCE + services.POLL_OVERDUE + timedelta(seconds=1)
        redriven = services.job_reconcile(now=later)
        try:
            wait_for(lambda: _all_final(jobs), timeout=30, interval=0.5)
        except AssertionError:
            statuses = list(Job.objects.values_list("status", "error_message"))
            raise AssertionError(f"{statuses} after {redriven}\n{worker.log()[-6000:]}") from None

    log = worker.log()
    assert worker.alive(), log
    # The worker's heartbeat bootstep writes to the restarted Redis too (what /readyz counts).
    wait_for(lambda: heartbeat.recent(), timeout=20)
    assert "Connection to broker lost" in log  # the restart really reached the worker
    assert "Unrecoverable error" not in log, log
    for job in jobs:
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, (job.status, job.error_message, log)
        assert job.assets.filter(role="output").count() == 1
        assert job.events.filter(status=JobStatus.SUCCEEDED).count() == 1
        assert job.hold.status == HoldStatus.SETTLED
        kinds = list(LedgerEntry.objects.filter(job=job).values_list("kind", flat=True))
        assert sorted(kinds) == sorted([LedgerKind.RESERVE, LedgerKind.SETTLE]), kinds


# ---------------------------------------------------------------------------------------------
# Polls lost with the broker come back through the dispatcher's lease
# ---------------------------------------------------------------------------------------------

LEASE_SECONDS = 8.0  # the worker's dispatcher lease for this test (30 s in production)
EARLY_SECONDS = 0.5  # the dispatcher sends polls due before its next tick (0.25 s) with this one
WAITING_JOBS = 4


class GatedDashScope(FakeDashScope):
    """A fake DashScope whose status answers wait at a gate the test opens; submits never wait.

    A task is done at its first answered poll, so each job needs exactly one poll to get through,
    and `polled_at` says when each task's polls were answered.
    """

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.held: list[str] = []  # task ids whose poll is waiting at the gate
        self.polled_at: dict[str, list[float]] = defaultdict(list)

    def _task(self, request):
        task_id = request.match["id"]
        self.held.append(task_id)
        self.gate.wait(timeout=60)
        self.held.remove(task_id)
        task = self.tasks.get(task_id)
        if task is not None and task.status == "PENDING":
            task.status = "RUNNING"  # FakeDashScope's next step from RUNNING is SUCCEEDED
        self.polled_at[task_id].append(time.time())
        return super()._task(request)


@pytest.fixture
def gated_dashscope(monkeypatch):
    with GatedDashScope() as fake:
        monkeypatch.setenv("DASHSCOPE_API_KEY", fake.api_key)  # the operator's key, for job_create
        try:
            yield fake
        finally:
            fake.gate.set()  # never leave a handler thread waiting


def _video(user, project, index: int) -> Job:
    return services.job_create(
        membership=Membership.objects.get(user=user, team=project.team),
        project=project,
        provider="dashscope",
        model="wan2.6-t2v",
        mode="t2v",
        prompt=f"a lighthouse at dusk, take {index}",
        params={},
    )


def _sent_and_waiting(jobs: list[Job]) -> bool:
    """Every job's next poll has been sent by the dispatcher (and not yet answered by anyone)."""
    rows = Job.objects.filter(pk__in=[j.pk for j in jobs], status=JobStatus.SUBMITTED)
    rows = rows.exclude(poll_due_at=None).exclude(poll_dispatched_at=None)
    return sum(row.poll_dispatched_at >= row.poll_due_at for row in rows) == len(jobs)


@pytest.mark.celery
def test_polls_lost_with_a_killed_redis_are_sent_again_by_the_dispatchers_lease(
    worker_on_ephemeral_redis, ephemeral_redis, gated_dashscope, settings, alice, acme_project, tmp_path
):
    vendor = gated_dashscope
    # Two workers, as `make serve` runs them: one on the polls queue with one process (it runs the
    # dispatcher), one for submits and downloads. While the polls worker's only process waits at
    # the vendor, every poll the dispatcher sends waits in Redis, whatever the shape of its message.
    polls = worker_on_ephemeral_redis
    polls.env.update(
        DASHSCOPE_API_KEY=vendor.api_key,
        DASHSCOPE_BASE_URL=vendor.url,
        ALLOW_PRIVATE_URLS="true",  # the result URL is on the fake, on loopback
        TEST_POLL_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    polls_queue, downloads_queue, default_queue = settings.WORKER_QUEUES
    polls.queues = [polls_queue]
    others = WorkerProcess(
        env=polls.env, queues=[downloads_queue, default_queue], log=tmp_path / "others.log"
    )
    try:
        polls.start(concurrency=1)
        others.start(concurrency=2)
        wait_for(lambda: "ready." in polls.log() and "ready." in others.log(), timeout=30)
        pids = (polls.proc.pid, others.proc.pid)

        blocker = _video(alice, acme_project, 0)  # its first poll holds the polls worker at the gate
        wait_for(lambda: vendor.held, timeout=20)
        waiting = [_video(alice, acme_project, i) for i in range(1, WAITING_JOBS + 1)]
        wait_for(lambda: _sent_and_waiting(waiting), timeout=20)
        assert len(vendor.held) == 1 and not any(vendor.polled_at.values())
        before = {
            job.pk: Job.objects.values("poll_token", "poll_dispatched_at").get(pk=job.pk) for job in waiting
        }

        ephemeral_redis.kill()  # the polls waiting in it are gone: it keeps nothing on disk
        ephemeral_redis.start()  # the same port, empty
        killed_at = time.time()
        vendor.gate.set()

        jobs = [blocker, *waiting]
        try:
            wait_for(lambda: _all_final(jobs), timeout=LEASE_SECONDS + 30, interval=0.25)
        except AssertionError:
            statuses = list(
                Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", "error_message")
            )
            raise AssertionError(f"{statuses}\n{polls.log()[-6000:]}") from None

        # The same worker processes throughout: nobody restarted them, and they saw the broker go.
        assert (polls.proc.pid, others.proc.pid) == pids and polls.alive() and others.alive()
        for worker in (polls, others):
            assert "Connection to broker lost" in worker.log()
            assert "Unrecoverable error" not in worker.log(), worker.log()
        for job in waiting:
            job.refresh_from_db()
            assert job.status == JobStatus.SUCCEEDED, (job.status, job.error_message)
            lost = before[job.pk]
            # The dispatcher's lease, not the reconciler (beat's, and no beat runs here): the
            # reconciler re-drives a job by starting a new poll chain (a new poll_token) after
            # minutes of silence; the lease sends the same chain's poll again once LEASE has passed
            # since the lost dispatch, and no sooner (the emptied Redis had nothing to give back)
            # than the tick the dispatcher may send a poll early by.
            assert job.poll_token == lost["poll_token"]
            first_answer = min(vendor.polled_at[job.vendor_job_id])
            waited = first_answer - lost["poll_dispatched_at"].timestamp()
            assert LEASE_SECONDS - EARLY_SECONDS <= waited < LEASE_SECONDS + 20, (
                waited,
                first_answer - killed_at,
            )
            assert job.assets.filter(role="output").count() == 1
            assert job.hold.status == HoldStatus.SETTLED
        blocker.refresh_from_db()
        assert blocker.status == JobStatus.SUCCEEDED, blocker.error_message
    finally:
        others.stop()
