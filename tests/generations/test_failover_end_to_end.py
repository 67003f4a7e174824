"""Failover through a real Celery worker: a fake fal on loopback that answers 503 to every submit.

With failover on (team and run), the job gives up on fal after its submit retries and is re-routed
once to the next provider in the team's order (the simulator here), which finishes it; the ledger
has one refund and one new reserve. With failover off it fails as today; a 422 never fails over.
"""

from __future__ import annotations

import pytest

from generations import runs, tasks
from generations.models import FINAL_STATUSES, Job, JobStatus, RunCell, TeamRunSettings
from generations.runs import Target
from providers import fal
from tests.conftest import wait_for
from tests.fakes.fal_faults import FaultyFal
from wanweb.accounts.models import Membership
from wanweb.quotas.models import LedgerEntry

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]
FAL_T2I = Target("fal", "wan/v2.6/text-to-image")
UNAVAILABLE = (503, "<html><body>Service Unavailable</body></html>")


@pytest.fixture
def down_fal(monkeypatch, settings):
    fal.clear_jwks_cache()
    with FaultyFal(steps=()) as fake:
        for name, value in fake.environ.items():
            monkeypatch.setenv(name, value)
        settings.ALLOW_PRIVATE_URLS = True
        fake.submit_faults = [UNAVAILABLE] * 100
        # The submit task's backoff (2 s ... 120 s) in milliseconds: the retries are the same, only faster.
        monkeypatch.setattr(tasks, "retry_countdown", lambda retries, retry_after: 0.05)
        yield fake
    fal.clear_jwks_cache()


def _run(alice, project, *, failover=True):
    membership = Membership.objects.select_related("team", "user").get(user=alice, team=project.team)
    return runs.run_create(
        membership=membership,
        project=project,
        mode="t2i",
        targets=[FAL_T2I],
        prompt="a lighthouse",
        params={},
        seeds=[9],
        failover=failover,
    )


def _cell_done(run):
    cell = RunCell.objects.select_related("job").get(run=run)
    return cell if cell.job.status in FINAL_STATUSES and cell.job.provider != "fal" else None


def test_a_503_on_every_submit_fails_over_to_the_next_target_and_succeeds(
    celery_worker_live, down_fal, alice, acme, acme_project
):
    TeamRunSettings.objects.create(team=acme, failover_enabled=True, provider_order=["fal", "simulator"])
    run = _run(alice, acme_project)
    [first] = Job.objects.filter(run=run)
    cell = wait_for(lambda: _cell_done(run), timeout=90)
    new = cell.job
    first.refresh_from_db()
    assert (first.status, first.error_code) == (JobStatus.FAILED, "server_error")
    assert new.status == JobStatus.SUCCEEDED, new.error_message
    assert new.provider == "simulator" and new.params["seed"] == 9 and new.retry_of_id == first.pk
    assert new.events.filter(message__startswith="Re-routed from fal.ai to Simulator (offline)").exists()
    assert down_fal.accepted_submits == 0 and len(down_fal.server.requests) == tasks.SUBMIT_RETRIES + 1
    ledger = list(LedgerEntry.objects.filter(job__run=run).order_by("id").values_list("job_id", "kind"))
    assert ledger == [(first.pk, "reserve"), (first.pk, "refund"), (new.pk, "reserve"), (new.pk, "settle")]


def test_with_failover_off_the_job_fails_as_today(celery_worker_live, down_fal, alice, acme, acme_project):
    run = _run(alice, acme_project)  # the run asks, the team setting (off by default) says no
    [job] = Job.objects.filter(run=run)
    wait_for(lambda: Job.objects.filter(pk=job.pk, status=JobStatus.FAILED).exists(), timeout=60)
    assert Job.objects.filter(run=run).count() == 1 and RunCell.objects.get(run=run).job_id == job.pk
    kinds = list(LedgerEntry.objects.filter(job__run=run).order_by("id").values_list("kind", flat=True))
    assert kinds == ["reserve", "refund"]


def test_a_422_never_fails_over(celery_worker_live, down_fal, alice, acme, acme_project):
    TeamRunSettings.objects.create(team=acme, failover_enabled=True, provider_order=["fal", "simulator"])
    down_fal.submit_faults = [
        (422, {"detail": [{"loc": ["body", "prompt"], "msg": "bad", "type": "value_error"}]})
    ]
    run = _run(alice, acme_project)
    [job] = Job.objects.filter(run=run)
    wait_for(lambda: Job.objects.filter(pk=job.pk, status=JobStatus.FAILED).exists(), timeout=60)
    job.refresh_from_db()
    assert job.error_code == "invalid_request"
    assert Job.objects.filter(run=run).count() == 1 and RunCell.objects.get(run=run).job_id == job.pk
