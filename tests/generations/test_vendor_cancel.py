"""A job the vendor itself reports as canceled gives its hold back, once, like any other end."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from generations import services
from generations.models import Job, JobEvent, JobStatus
from providers.base import Status, Update
from wanweb.accounts.models import Membership
from wanweb.quotas.models import Hold, HoldStatus, LedgerEntry, LedgerKind


@pytest.fixture
def running_job(bob, acme_project, django_capture_on_commit_callbacks) -> Job:
    membership = Membership.objects.get(user=bob, team=acme_project.team)
    with django_capture_on_commit_callbacks(execute=False):  # no worker: the test plays the vendor
        job = services.job_create(
            membership=membership,
            project=acme_project,
            provider="simulator",
            model=None,
            mode="t2i",
            prompt="a lighthouse at dawn",
            params={},
        )
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, vendor_job_id="sim-1")
    job.refresh_from_db()
    return job


def test_a_vendor_reported_cancel_refunds_the_hold(running_job):
    assert Hold.objects.get(job=running_job).status == HoldStatus.HELD

    services.job_apply_update(job=running_job, update=Update(status=Status.CANCELED))

    running_job.refresh_from_db()
    assert running_job.status == JobStatus.CANCELED
    assert Hold.objects.get(job=running_job).status == HoldStatus.REFUNDED
    refunds = LedgerEntry.objects.filter(job=running_job, kind=LedgerKind.REFUND)
    assert refunds.count() == 1
    assert refunds.aggregate(total=Sum("amount"))["total"] == running_job.cost_estimate
    assert JobEvent.objects.filter(job=running_job, message="Canceled by the vendor").count() == 1


def test_a_repeated_vendor_cancel_refunds_once(running_job):
    services.job_apply_update(job=running_job, update=Update(status=Status.CANCELED))
    services.job_apply_update(job=running_job, update=Update(status=Status.CANCELED))

    assert LedgerEntry.objects.filter(job=running_job, kind=LedgerKind.REFUND).count() == 1
