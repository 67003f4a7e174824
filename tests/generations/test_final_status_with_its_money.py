"""A job's final status, its event and its hold's settle or refund are one transaction.

bench/scaleout.py found it: the downloads worker SIGKILLed right after the job's UPDATE to
`succeeded` and before the settle left a succeeded job with no "succeeded" event and its hold
reserved for ever (the redelivered store task saw a finished job and did nothing; the reconciler
only looks at active jobs). Here the process "dies" (an exception) inside on_job_finished: the
status change must roll back with it, so the redelivered task can finish the job properly.
"""

from __future__ import annotations

import pytest

from generations import services
from generations.models import Job, JobStatus
from wanweb.accounts.models import Membership
from wanweb.quotas.models import Hold, HoldStatus, LedgerEntry


class WorkerDied(Exception):
    pass


@pytest.fixture
def running_job(alice, acme_project):
    membership = Membership.objects.get(user=alice, team=acme_project.team)
    job = services.job_create(
        membership=membership,
        project=acme_project,
        provider="simulator",
        model=None,
        mode="t2i",
        prompt="a lighthouse at dawn",
        params={"sim_delay": 1},
    )
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, vendor_job_id="sim-1")
    job.refresh_from_db()
    return job


def _die(job):
    raise WorkerDied


@pytest.mark.parametrize(
    "finish, final, hold_status, kind",
    [
        (lambda job: services._finish_success(job), JobStatus.SUCCEEDED, HoldStatus.SETTLED, "settle"),
        (
            lambda job: services.job_fail(job=job, code="vendor_failed", message="boom"),
            JobStatus.FAILED,
            HoldStatus.REFUNDED,
            "refund",
        ),
    ],
    ids=["success", "failure"],
)
def test_a_worker_dying_between_the_final_status_and_the_hold_leaves_the_job_to_finish_again(
    monkeypatch, running_job, finish, final, hold_status, kind
):
    monkeypatch.setattr(services, "on_job_finished", _die)
    with pytest.raises(WorkerDied):
        finish(Job.objects.get(pk=running_job.pk))

    job = Job.objects.get(pk=running_job.pk)
    assert job.status == JobStatus.RUNNING  # rolled back with the hold that was never closed
    assert not job.events.filter(status=final).exists()
    assert Hold.objects.get(job=job).status == HoldStatus.HELD

    monkeypatch.undo()  # the redelivered task, in a live worker
    finish(job)
    job.refresh_from_db()
    assert job.status == final
    assert job.events.filter(status=final).count() == 1
    assert Hold.objects.get(job=job).status == hold_status
    assert LedgerEntry.objects.filter(job=job, kind=kind).count() == 1
