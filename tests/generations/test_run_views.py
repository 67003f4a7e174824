"""The compare page: the grid, its live refresh, votes and winners, team scoping, query count."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import runs
from generations.models import Favourite, Job, JobStatus, RunCell, RunVote
from generations.runs import Target
from tests.factories import make_output
from wanweb.accounts.models import Membership

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
SIM = Target("simulator", "wan-sim")


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    from generations import services

    monkeypatch.setattr(services, "job_submit_task", type("T", (), {"delay": staticmethod(lambda *a: None)}))


@contextmanager
def freeze(moment):
    """timezone.now() is `moment` inside (the stamps a vote or a pick writes)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def _run(user, project, seeds=(1, 2), variants=()):
    membership = Membership.objects.select_related("team", "user").get(user=user, team=project.team)
    return runs.run_create(
        membership=membership,
        project=project,
        mode="t2i",
        targets=[SIM],
        prompt="a fox",
        params={},
        seeds=list(seeds),
        variants=list(variants),
    )


def _succeed(job):
    make_output(job)
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED,
        submitted_at=now,
        finished_at=now,
        cost_final=job.cost_estimate,
        updated_at=now,
    )


def test_the_page_shows_one_cell_per_job_with_its_facts(client, alice, acme_project):
    run = _run(alice, acme_project)
    first = RunCell.objects.get(run=run, row=0, col=0)
    _succeed(first.job)
    client.force_login(alice)
    html = client.get(reverse("generations:run-detail", args=[run.public_id])).content.decode()
    assert html.count('role="cell"') == 2
    assert 'id="cell-0-0"' in html and 'id="cell-0-1"' in html
    assert "Simulator (offline)" in html and "seed 1" in html and "seed 2" in html
    assert 'data-polling="true"' in html and "every 2s" in html  # one cell still queued


def test_outsiders_get_404_everywhere(client, charlie, alice, acme_project):
    run = _run(alice, acme_project)
    client.force_login(charlie)
    for name, method in [
        ("run-detail", "get"),
        ("run-changes", "get"),
        ("run-vote", "post"),
        ("run-winner", "post"),
    ]:
        response = getattr(client, method)(
            reverse(f"generations:{name}", args=[run.public_id]), {"cell": "0-0"}
        )
        assert response.status_code == 404, name
    assert not RunVote.objects.exists()


def test_changes_send_only_changed_cells_and_stop_polling_when_done(client, alice, acme_project):
    run = _run(alice, acme_project)
    client.force_login(alice)
    since = timezone.now()
    for cell in RunCell.objects.filter(run=run):
        _succeed(cell.job)
    url = reverse("generations:run-changes", args=[run.public_id])
    html = client.get(url, {"since": since.isoformat()}, headers=HX).content.decode()
    # two cells, their row's winner mark, the poller, the top bar's running count (now none)
    assert html.count('hx-swap-oob="true"') == 5
    assert 'id="running-jobs"' in html and 'running-count">0<' in html
    assert 'data-polling="false"' in html and "every 2s" not in html and "every 5s" in html
    assert "idle=1" in html  # from now on the slow pace, for teammates' votes and winners
    assert client.get(url, {"since": "garbage"}, headers=HX).status_code == 200  # the pace changed
    # Nothing changed and the pace is right: 204, the page is left alone.
    quiet = (timezone.now() + timedelta(seconds=30)).isoformat()  # past the 5 s look-back
    assert client.get(url, {"since": quiet, "idle": "1"}, headers=HX).status_code == 204


def test_another_members_vote_reaches_my_poll_with_the_new_count(client, alice, bob, acme_project):
    run = _run(alice, acme_project)
    for cell in RunCell.objects.filter(run=run):
        _succeed(cell.job)
    changes = reverse("generations:run-changes", args=[run.public_id])
    later = timezone.now() + timedelta(seconds=30)  # past the 5 s look-back: only new stamps count
    client.force_login(alice)
    assert 'data-polling="false"' in client.get(run.detail_url).content.decode()  # all done: idle pace
    assert client.get(changes, {"since": later.isoformat(), "idle": "1"}, headers=HX).status_code == 204
    client.force_login(bob)
    with freeze(later + timedelta(seconds=1)):
        client.post(reverse("generations:run-vote", args=[run.public_id]), {"cell": "0-1"}, headers=HX)
    client.force_login(alice)
    html = client.get(changes, {"since": later.isoformat(), "idle": "1"}, headers=HX).content.decode()
    assert 'id="cell-0-1"' in html and 'id="cell-0-0"' not in html
    cell = html.split('id="cell-0-1"')[1]
    assert '<span class="vote-count">1</span>' in cell and 'aria-pressed="false"' in cell  # bob's, not hers


def test_a_winner_pick_reaches_other_viewers_with_both_cells_and_the_row_mark(
    client, alice, bob, acme_project
):
    run = _run(alice, acme_project)
    for cell in RunCell.objects.filter(run=run):
        _succeed(cell.job)
    RunCell.objects.filter(run=run, col=0).update(winner=True)
    later = timezone.now() + timedelta(seconds=30)
    client.force_login(bob)
    with freeze(later):
        client.post(reverse("generations:run-winner", args=[run.public_id]), {"cell": "0-1"}, headers=HX)
    client.force_login(alice)
    changes = reverse("generations:run-changes", args=[run.public_id])
    html = client.get(changes, {"since": later.isoformat(), "idle": "1"}, headers=HX).content.decode()
    assert 'id="cell-0-0"' in html and 'id="cell-0-1"' in html  # the old winner unmarked, the new marked
    assert 'id="row-winner-0"' in html and "Winner: seed 2" in html


def test_votes_are_one_per_member_per_cell_and_counted(client, alice, bob, acme_project):
    run = _run(alice, acme_project)
    url = reverse("generations:run-vote", args=[run.public_id])
    client.force_login(alice)
    client.post(url, {"cell": "0-1"}, headers=HX)
    client.force_login(bob)
    html = client.post(url, {"cell": "0-1"}, headers=HX).content.decode()
    assert RunVote.objects.filter(cell__col=1).count() == 2
    assert '<span class="vote-count">2</span>' in html
    client.post(url, {"cell": "0-1"}, headers=HX)  # bob takes his back
    assert RunVote.objects.filter(cell__col=1).count() == 1
    for garbage in ["", "x", "9-9", "0-1-2", "-1-0", "99999-0"]:
        assert client.post(url, {"cell": garbage}).status_code == 404


def test_viewers_cannot_vote_or_pick(client, dave, alice, acme_project):
    run = _run(alice, acme_project)
    client.force_login(dave)
    assert client.get(reverse("generations:run-detail", args=[run.public_id])).status_code == 200
    assert (
        client.post(reverse("generations:run-vote", args=[run.public_id]), {"cell": "0-0"}).status_code == 403
    )
    assert (
        client.post(reverse("generations:run-winner", args=[run.public_id]), {"cell": "0-0"}).status_code
        == 403
    )
    assert not RunVote.objects.exists() and not RunCell.objects.filter(winner=True).exists()


def test_a_winner_is_one_per_row_and_becomes_a_favourite(client, alice, acme_project):
    run = _run(alice, acme_project)
    for cell in RunCell.objects.filter(run=run):
        _succeed(cell.job)
    client.force_login(alice)
    url = reverse("generations:run-winner", args=[run.public_id])
    client.post(url, {"cell": "0-0"}, headers=HX)
    html = client.post(url, {"cell": "0-1"}, headers=HX).content.decode()
    assert list(RunCell.objects.filter(run=run, winner=True).values_list("col", flat=True)) == [1]
    assert "Winner: seed 2" in html
    assert Favourite.objects.filter(user=alice, asset__job__run=run).count() == 2  # both picks starred


def test_the_page_query_count_does_not_grow_with_cells(
    client, alice, acme_project, django_assert_max_num_queries
):
    small = _run(alice, acme_project, seeds=(1, 2))
    big = _run(alice, acme_project, seeds=(1, 2, 3, 4, 5, 6), variants=["a", "b"])
    for cell in RunCell.objects.filter(run__in=[small, big]):
        _succeed(cell.job)
    client.force_login(alice)
    client.get(reverse("generations:run-detail", args=[small.public_id]))  # warm the session/caches
    with django_assert_max_num_queries(20) as small_queries:
        client.get(reverse("generations:run-detail", args=[small.public_id]))
    with django_assert_max_num_queries(len(small_queries.captured_queries)):
        assert (
            client.get(reverse("generations:run-detail", args=[big.public_id]))
            .content.decode()
            .count('role="cell"')
            == 12
        )


# ---------------------------------------------------------------------------------------------
# The studio form's Compare section
# ---------------------------------------------------------------------------------------------


def _form_data(**extra):
    return {
        "provider": "simulator",
        "mode": "t2i",
        "model": "wan-sim",
        "prompt": "a fox in the snow",
        "compare_target": ["simulator:wan-sim"],
        "compare_seeds": "3",
        **extra,
    }


def test_the_project_page_has_the_compare_section(client, alice, acme_project):
    client.force_login(alice)
    html = client.get(reverse("generations:project-detail", args=[acme_project.public_id])).content.decode()
    assert 'id="compare-section"' in html and 'value="simulator:wan-sim"' in html
    assert reverse("generations:run-create", args=[acme_project.public_id]) in html


def test_the_estimate_counts_the_cross_product_and_sums_it(client, alice, acme_project):
    client.force_login(alice)
    url = reverse("generations:run-estimate", args=[acme_project.public_id])
    html = client.get(url, _form_data(compare_variants="one\ntwo"), headers=HX).content.decode()
    assert "6 jobs" in html and "$0.06" in html  # 1 target x 2 variants x 3 seeds at $0.01
    html = client.get(url, _form_data(compare_seeds="8", compare_variants="a\nb\nc\nd\ne\nf\ng"), headers=HX)
    assert "at most 48" in html.content.decode()
    assert client.get(url, _form_data(compare_seed_list="x, 1"), headers=HX).status_code == 200


def test_the_compare_button_makes_the_run_and_goes_to_its_page(client, alice, acme_project):
    client.force_login(alice)
    response = client.post(
        reverse("generations:run-create", args=[acme_project.public_id]), _form_data(), headers=HX
    )
    run = acme_project.runs.get()
    assert response.status_code == 200 and response.headers["HX-Redirect"] == run.detail_url
    assert run.cells.count() == 3 and Job.objects.filter(run=run).count() == 3


def test_a_refused_run_comes_back_in_the_form_with_the_reason(client, alice, acme, acme_project):
    from decimal import Decimal

    from wanweb.quotas.models import TeamQuota

    TeamQuota.objects.create(team=acme, budget_usd=Decimal("0.02"))
    client.force_login(alice)
    response = client.post(
        reverse("generations:run-create", args=[acme_project.public_id]), _form_data(), headers=HX
    )
    html = response.content.decode()
    assert "2 of them would fit" in html and 'id="generation-form"' in html
    assert not Job.objects.exists()


def test_viewers_cannot_make_a_run_and_see_no_compare_section(client, dave, acme_project):
    client.force_login(dave)
    response = client.post(reverse("generations:run-create", args=[acme_project.public_id]), _form_data())
    assert response.status_code == 403 and not Job.objects.exists()
    html = client.get(reverse("generations:project-detail", args=[acme_project.public_id])).content.decode()
    assert 'id="compare-section"' not in html
