"""Compare runs: the cross product, per-target translation, all-or-nothing reservation, failover."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generations import runs, services
from generations.models import Job, JobStatus, Run, RunCell, TeamRunSettings
from generations.runs import RunRefused, Target
from wanweb.accounts.models import Membership
from wanweb.quotas.models import Hold, LedgerEntry, LedgerKind, TeamQuota

pytestmark = pytest.mark.django_db

FAL_T2V = Target("fal", "wan/v2.6/text-to-video")
DASH_T2V = Target("dashscope", "wan2.6-t2v")
SIM = Target("simulator", "wan-sim")


@pytest.fixture
def vendors(monkeypatch):
    """fal and DashScope configured (keys only: nothing is submitted in these tests)."""
    monkeypatch.setenv("FAL_KEY", "test-fal-key")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "test-dashscope-key")


@pytest.fixture
def submits(monkeypatch):
    """The submit tasks job_create enqueues, recorded instead of sent to Redis."""
    sent: list[int] = []

    class Recorder:
        @staticmethod
        def delay(job_id):
            sent.append(job_id)

    monkeypatch.setattr(services, "job_submit_task", Recorder)
    return sent


def _membership(user, team) -> Membership:
    return Membership.objects.select_related("team", "user").get(user=user, team=team)


def _run(alice, project, **kwargs) -> Run:
    options = {
        "mode": "t2v",
        "targets": [SIM, FAL_T2V, DASH_T2V],
        "prompt": "a lighthouse in a storm",
        "params": {"duration": 5},
        "seeds": [11, 22],
    }
    return runs.run_create(membership=_membership(alice, project.team), project=project, **(options | kwargs))


def test_three_targets_by_two_seeds_make_six_jobs_and_cells_with_the_right_seeds_and_costs(
    vendors, submits, alice, acme_project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = _run(alice, acme_project)
    cells = list(RunCell.objects.filter(run=run).select_related("job"))
    jobs = list(Job.objects.filter(run=run))
    assert len(cells) == 6 and len(jobs) == 6 and sorted(submits) == sorted(j.pk for j in jobs)
    assert {(c.row, c.col) for c in cells} == {(r, c) for r in range(3) for c in range(2)}
    for cell in cells:
        assert cell.job.seed is None and cell.job.params["seed"] == [11, 22][cell.col]
        assert (cell.job.provider, cell.job.model) == (
            [SIM, FAL_T2V, DASH_T2V][cell.row].provider,
            [SIM, FAL_T2V, DASH_T2V][cell.row].model,
        )
    holds = Hold.objects.filter(job__run=run)
    assert holds.count() == 6
    total = sum(j.cost_estimate for j in jobs)
    assert total > 0 and sum(h.amount for h in holds) == total
    reserved = LedgerEntry.objects.filter(job__run=run, kind=LedgerKind.RESERVE)
    assert sum(e.amount for e in reserved) == total


def test_a_run_over_the_budget_is_refused_whole_with_no_job_and_no_hold(
    vendors, submits, alice, acme, acme_project
):
    TeamQuota.objects.create(team=acme, budget_usd=Decimal("1.00"))
    with pytest.raises(RunRefused) as refused:
        _run(alice, acme_project)  # six 5 s videos at several cents a second: more than $1
    assert refused.value.limit == "budget"
    assert "would fit" in refused.value.message and "The team's budget" in refused.value.message
    assert refused.value.fits is not None and refused.value.fits < 6
    assert not Run.objects.exists() and not Job.objects.exists() and not Hold.objects.exists()
    assert not LedgerEntry.objects.filter(kind=LedgerKind.RESERVE).exists() and submits == []


def test_more_than_48_jobs_is_refused(vendors, alice, acme_project):
    with pytest.raises(RunRefused, match="at most 48"):
        _run(alice, acme_project, seeds=list(range(8)), variants=["a", "b", "c"])  # 3 x 3 x 8 = 72
    assert not Job.objects.exists()


def test_a_value_a_target_lacks_goes_to_its_nearest_with_a_note(vendors, submits, alice, acme_project):
    params = {"duration": 8, "fps": 16, "sim_delay": 1}
    run = _run(alice, acme_project, targets=[SIM, FAL_T2V], params=params, seeds=[1])
    fal_cell = RunCell.objects.get(run=run, row=1)
    assert fal_cell.job.params["duration"] == 10 and "8 s → 10 s" in fal_cell.note
    assert "left out (this model has no such setting): fps" in fal_cell.note and "sim_" not in fal_cell.note
    assert "fps" not in fal_cell.job.params and "sim_delay" not in fal_cell.job.params
    assert fal_cell.job.events.filter(message__contains="8 s → 10 s").exists()
    sim_cell = RunCell.objects.get(run=run, row=0)
    assert sim_cell.job.params["duration"] == 8 and sim_cell.note == ""


def test_an_extra_parameter_and_variants_make_rows(vendors, submits, alice, acme_project):
    run = _run(
        alice,
        acme_project,
        targets=[SIM],
        variants=["a red fox", "a blue fox"],
        extra_param="duration",
        extra_values=[5, 10],
        seeds=[3, 4],
    )
    cells = RunCell.objects.filter(run=run).select_related("job")
    assert cells.count() == 8 and len(run.spec["rows"]) == 4
    assert {(c.job.prompt, c.job.params["duration"]) for c in cells} == {
        (p, d) for p in ("a red fox", "a blue fox") for d in (5, 10)
    }


def test_a_target_the_team_may_not_use_is_refused(alice, acme_project):
    with pytest.raises(RunRefused, match="cannot run"):
        _run(alice, acme_project, targets=[FAL_T2V])  # no FAL_KEY here
    assert not Job.objects.exists()


def test_seeds_count_gives_that_many_columns(vendors, submits, alice, acme_project):
    run = _run(alice, acme_project, targets=[SIM], seeds=(), seed_count=3)
    assert RunCell.objects.filter(run=run).count() == 3 and len(set(run.spec["seeds"])) == 3
    with pytest.raises(RunRefused):
        _run(alice, acme_project, targets=[SIM], seeds=(), seed_count=9)


# ---------------------------------------------------------------------------------------------
# Failover (the worker-free part: job_fail with a capacity error re-routes)
# ---------------------------------------------------------------------------------------------


def _fail(job, code, message="HTTP 503 from fal"):
    services.job_fail(job=job, code=code, message=message)
    job.refresh_from_db()


@pytest.fixture
def failover_team(acme):
    TeamRunSettings.objects.create(team=acme, failover_enabled=True, provider_order=["fal", "simulator"])


def test_a_capacity_failure_is_re_routed_once_with_the_money_right(
    vendors, submits, failover_team, alice, acme_project
):
    run = _run(alice, acme_project, targets=[FAL_T2V], seeds=[5], failover=True)
    [job] = Job.objects.filter(run=run)
    _fail(job, "server_error")
    cell = RunCell.objects.get(run=run)
    new = cell.job
    assert new.pk != job.pk and new.provider == "simulator" and new.retry_of_id == job.pk
    assert new.params["seed"] == 5 and new.status == JobStatus.QUEUED
    assert new.events.filter(
        message__startswith="Re-routed from fal.ai to Simulator (offline): server_error"
    ).exists()
    assert job.events.filter(message__startswith="Re-routed from fal.ai").exists()
    kinds = list(LedgerEntry.objects.filter(job__in=[job, new]).values_list("job_id", "kind").order_by("id"))
    assert kinds == [(job.pk, "reserve"), (job.pk, "refund"), (new.pk, "reserve")]
    # Once only: the re-routed job failing again stays failed.
    _fail(new, "server_error")
    assert RunCell.objects.get(run=run).job_id == new.pk and Job.objects.filter(run=run).count() == 2


def test_insufficient_balance_is_capacity(vendors, submits, failover_team, alice, acme_project):
    run = _run(alice, acme_project, targets=[FAL_T2V], seeds=[5], failover=True)
    [job] = Job.objects.filter(run=run)
    _fail(job, "auth_failed", "Insufficient balance on this account")
    assert RunCell.objects.get(run=run).job.provider == "simulator"


@pytest.mark.parametrize("code", ["invalid_request", "content_policy"])
def test_permanent_errors_never_fail_over(vendors, submits, failover_team, alice, acme_project, code):
    run = _run(alice, acme_project, targets=[FAL_T2V], seeds=[5], failover=True)
    [job] = Job.objects.filter(run=run)
    _fail(job, code, "HTTP 422 from fal: prompt too long")
    assert Job.objects.filter(run=run).count() == 1 and RunCell.objects.get(run=run).job_id == job.pk


def test_no_failover_when_the_team_or_the_run_has_it_off(vendors, submits, alice, acme, acme_project):
    run = _run(alice, acme_project, targets=[FAL_T2V], seeds=[5], failover=True)
    [job] = Job.objects.filter(run=run)
    _fail(job, "server_error")  # the team setting is off by default
    assert job.status == JobStatus.FAILED and Job.objects.filter(run=run).count() == 1
    TeamRunSettings.objects.create(team=acme, failover_enabled=True)
    run = _run(alice, acme_project, targets=[FAL_T2V], seeds=[6], failover=False)
    [job] = Job.objects.filter(run=run)
    _fail(job, "server_error")
    assert Job.objects.filter(run=run).count() == 1
