"""A compare run shared with the share-link mechanism: made from the run page by owners and admins,
a public read-only grid at /s/<token>/, and exactly that run's outputs reachable through its token."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import runs, sharing
from generations.models import Job, JobStatus, RunCell, ShareLink
from generations.runs import Target
from tests.factories import JobFactory, MembershipFactory, UserFactory, make_output
from wanweb.accounts.models import Membership, Role

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
URL_RE = re.compile(r'id="new-share-url"[^>]*value="(?P<url>[^"]+)"')
SIM = Target("simulator", "wan-sim")


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    from generations import services

    monkeypatch.setattr(services, "job_submit_task", type("T", (), {"delay": staticmethod(lambda *a: None)}))


@pytest.fixture
def erin(acme):
    """An admin of Acme."""
    user = UserFactory(username="erin")
    MembershipFactory(team=acme, user=user, role=Role.ADMIN)
    return user


def _run(user, project, seeds=(1, 2)):
    membership = Membership.objects.select_related("team", "user").get(user=user, team=project.team)
    return runs.run_create(
        membership=membership,
        project=project,
        mode="t2i",
        targets=[SIM],
        prompt="a fox in the snow",
        params={},
        seeds=list(seeds),
    )


def _succeed(job, *, error=False):
    output = make_output(job)
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED,
        submitted_at=now - timedelta(seconds=12),
        finished_at=now,
        cost_final=job.cost_estimate,
        updated_at=now,
    )
    return output


@pytest.fixture
def shared(alice, acme_project):
    """A run of two cells: one succeeded with an output, one failed with a vendor text; its link."""
    run = _run(alice, acme_project)
    done = RunCell.objects.get(run=run, col=0)
    output = _succeed(done.job)
    failed = RunCell.objects.get(run=run, col=1)
    Job.objects.filter(pk=failed.job_id).update(
        status=JobStatus.FAILED, error_code="vendor_5xx", error_message="upstream said SECRET-INTERNAL-TEXT"
    )
    link, token = sharing.share_link_create(
        actor=Membership.objects.get(user=alice, team=acme_project.team), run=run, label="client"
    )
    return {"run": run, "link": link, "token": token, "output": output}


@pytest.mark.parametrize("who", ["alice", "erin"])
def test_owners_and_admins_make_a_run_link_from_the_run_page(client, request, alice, erin, acme_project, who):
    run = _run(alice, acme_project)
    client.force_login(request.getfixturevalue(who))
    page = client.get(run.detail_url).content.decode()
    assert reverse("generations:share-list-run", args=[run.public_id]) in page  # the Share button
    response = client.post(
        reverse("generations:share-create-run", args=[run.public_id]),
        {"share-label": "For the client", "share-expires_in_days": "7"},
        headers=HX,
    )
    assert response.status_code == 200 and b"<html" not in response.content
    url = URL_RE.search(response.content.decode())["url"]
    link = ShareLink.objects.get()
    assert link.run == run and link.project is None and link.collection is None
    assert (
        client.get(reverse("generations:share-list-run", args=[run.public_id]), headers=HX).status_code == 200
    )
    client.logout()
    assert client.get(url).status_code == 200


def test_members_and_viewers_neither_see_the_button_nor_make_links(client, alice, bob, dave, acme_project):
    run = _run(alice, acme_project)
    for user in (bob, dave):
        client.force_login(user)
        assert (
            reverse("generations:share-list-run", args=[run.public_id])
            not in client.get(run.detail_url).content.decode()
        )
        assert client.get(reverse("generations:share-list-run", args=[run.public_id])).status_code == 403
        create = client.post(
            reverse("generations:share-create-run", args=[run.public_id]), {"share-label": "x"}
        )
        assert create.status_code == 403
    assert not ShareLink.objects.exists()


def test_an_outsider_gets_404_on_the_run_share_urls(client, alice, charlie, acme_project):
    run = _run(alice, acme_project)
    client.force_login(charlie)
    assert client.get(reverse("generations:share-list-run", args=[run.public_id])).status_code == 404
    assert client.post(reverse("generations:share-create-run", args=[run.public_id])).status_code == 404
    assert not ShareLink.objects.exists()


def test_the_database_refuses_a_link_with_two_targets(alice, acme, acme_project):
    from django.db import IntegrityError, transaction

    run = _run(alice, acme_project)
    with pytest.raises(IntegrityError), transaction.atomic():
        ShareLink.objects.create(team=acme, project=acme_project, run=run, token_hash="x" * 64)
    with pytest.raises(ValueError):
        sharing.share_link_create(
            actor=Membership.objects.get(user=alice, team=acme), project=acme_project, run=run
        )


def test_the_public_page_shows_the_cells_and_nothing_internal(client, shared):
    response = client.get(reverse("share:gallery", args=[shared["token"]]))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('role="cell"') == 2 and 'id="cell-0-0"' in html and 'id="cell-0-1"' in html
    assert "Simulator (offline)" in html and "wan-sim" in html
    assert "seed 1" in html and "seed 2" in html and "12.0 s" in html and "$0.01" in html
    assert reverse("share:file", args=[shared["token"], shared["output"].public_id]) in html
    # No votes, winners, job links, CSRF, scripts or vendor texts.
    for absent in ("run-vote", "run-winner", "/jobs/", "csrfmiddlewaretoken", "<script", "SECRET-INTERNAL"):
        assert absent not in html, absent
    assert response["X-Robots-Tag"] == "noindex, nofollow" and response["Referrer-Policy"] == "no-referrer"
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


def test_each_view_is_counted(client, shared):
    client.get(reverse("share:gallery", args=[shared["token"]]))
    client.get(reverse("share:gallery", args=[shared["token"]]))
    shared["link"].refresh_from_db()
    assert shared["link"].view_count == 2 and shared["link"].last_viewed_at is not None


def test_the_runs_files_are_served_without_login(client, shared):
    token, output = shared["token"], shared["output"]
    response = client.get(reverse("share:file", args=[token, output.public_id]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert client.get(reverse("share:thumb", args=[token, output.public_id])).status_code == 200
    assert client.get(reverse("share:output", args=[token, output.public_id])).status_code == 200


def test_another_runs_or_projects_asset_is_404_through_the_token(
    client, shared, alice, acme_project, umbrella_project, charlie
):
    token = shared["token"]
    other_run = _run(alice, acme_project, seeds=(5,))
    other_run_output = _succeed(other_run.cells.get().job)
    same_project_output = make_output(JobFactory(project=acme_project, created_by=alice, status="succeeded"))
    other_team_output = make_output(
        JobFactory(project=umbrella_project, created_by=charlie, status="succeeded")
    )
    for asset in (other_run_output, same_project_output, other_team_output):
        for name in ("file", "thumb", "output"):
            assert client.get(reverse(f"share:{name}", args=[token, asset.public_id])).status_code == 404


def test_a_job_replaced_by_a_failover_is_no_longer_reachable(client, shared, alice, acme_project):
    cell = RunCell.objects.get(run=shared["run"], col=0)
    RunCell.objects.filter(pk=cell.pk).update(job=JobFactory(project=acme_project, created_by=alice))
    url = reverse("share:file", args=[shared["token"], shared["output"].public_id])
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("change", ["revoked", "expired"])
def test_a_revoked_or_expired_run_link_is_404_for_the_page_and_its_files(client, shared, change):
    token, output = shared["token"], shared["output"]
    if change == "revoked":
        ShareLink.objects.filter(pk=shared["link"].pk).update(revoked_at=timezone.now())
    else:
        ShareLink.objects.filter(pk=shared["link"].pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    assert client.get(reverse("share:gallery", args=[token])).status_code == 404
    assert client.get(reverse("share:file", args=[token, output.public_id])).status_code == 404


@pytest.mark.parametrize("token", ["x", "A" * 43, "not a token", "%00" * 30, "-" * 101])
def test_garbage_tokens_are_404(client, shared, token):
    assert client.get(f"/s/{token}/").status_code == 404


def test_revoking_a_run_link_from_its_panel(client, alice, shared):
    client.force_login(alice)
    response = client.post(reverse("generations:share-revoke", args=[shared["link"].public_id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("generations:share-list-run", args=[shared["run"].public_id])
    assert client.get(reverse("share:gallery", args=[shared["token"]])).status_code == 404


def test_the_public_page_reads_a_fixed_number_of_queries(
    client, alice, acme_project, django_assert_max_num_queries
):
    owner = Membership.objects.get(user=alice, team=acme_project.team)
    small, big = _run(alice, acme_project, seeds=(1,)), _run(alice, acme_project, seeds=(1, 2, 3, 4, 5, 6))
    for cell in RunCell.objects.filter(run__in=[small, big]):
        _succeed(cell.job)
    _, small_token = sharing.share_link_create(actor=owner, run=small)
    _, big_token = sharing.share_link_create(actor=owner, run=big)
    with django_assert_max_num_queries(10) as captured:
        client.get(reverse("share:gallery", args=[small_token]))
    with django_assert_max_num_queries(len(captured.captured_queries)):
        assert (
            client.get(reverse("share:gallery", args=[big_token])).content.decode().count('role="cell"') == 6
        )
