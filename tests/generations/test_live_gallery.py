"""Everyone's jobs appear live: the idle check, the running-jobs indicator and the running filter."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from tests.factories import JobFactory, ProjectFactory

HX = {"HX-Request": "true"}


def _changes(client, project, since, **query):
    url = reverse("generations:gallery-changes", args=[project.public_id])
    return client.get(url, {"since": since.isoformat(), **query}, headers=HX)


def test_an_idle_page_keeps_a_slow_check_instead_of_no_poller(client, bob, acme_project):
    JobFactory(project=acme_project, status="succeeded")
    client.force_login(bob)
    body = client.get(reverse("generations:project-detail", args=[acme_project.public_id])).content.decode()
    poller = body[body.index('<div id="gallery-poller"') :]
    poller = poller[: poller.index("</div>")]
    assert 'hx-trigger="every 15s, wanweb:check"' in poller and "idle=1" in poller
    assert 'data-polling="false"' in poller and "every 2s" not in poller


def test_the_idle_check_answers_204_when_nothing_changed(
    client, bob, acme_project, django_assert_max_num_queries
):
    JobFactory(project=acme_project, status="succeeded", updated_at=timezone.now() - timedelta(minutes=1))
    client.force_login(bob)
    since = timezone.now() + timedelta(seconds=1)
    _changes(client, acme_project, since, idle="1")  # settles the session
    # Session, user, current team, project, membership, "anything running?" and "anything newer?".
    with django_assert_max_num_queries(7):
        response = _changes(client, acme_project, since, idle="1")
    assert response.status_code == 204 and response.content == b""


def test_a_job_started_elsewhere_reaches_an_idle_page_and_speeds_its_poller_up(client, bob, acme_project):
    since = timezone.now()
    job = JobFactory(project=acme_project, status="queued", prompt="from the CLI")
    client.force_login(bob)
    response = _changes(client, acme_project, since, idle="1")
    body = response.content.decode()
    assert response.status_code == 200 and f'id="job-{job.public_id}"' in body
    assert 'hx-trigger="every 2s"' in body and 'data-polling="true"' in body


def test_an_idle_poller_that_missed_the_start_of_a_job_is_sped_up(client, bob, acme_project):
    # Running, but its last change is older than the look-back: no card to send, yet the page must
    # switch to the fast pace to see it finish.
    JobFactory(project=acme_project, status="running", updated_at=timezone.now() - timedelta(minutes=5))
    client.force_login(bob)
    response = _changes(client, acme_project, timezone.now(), idle="1")
    assert response.status_code == 200 and 'hx-trigger="every 2s"' in response.content.decode()


def test_the_fast_poller_slows_down_once_nothing_runs(client, bob, acme_project):
    JobFactory(project=acme_project, status="succeeded", updated_at=timezone.now() - timedelta(minutes=1))
    client.force_login(bob)
    response = _changes(client, acme_project, timezone.now())
    body = response.content.decode()
    assert 'hx-trigger="every 15s, wanweb:check"' in body and 'data-polling="false"' in body


def test_the_top_bar_counts_the_teams_active_jobs_and_links_to_them(client, alice, bob, acme, acme_project):
    other = ProjectFactory(team=acme, name="Other", slug="other")
    JobFactory(project=acme_project, status="running")
    JobFactory(project=other, status="queued")
    JobFactory(project=acme_project, status="succeeded")
    JobFactory(project=ProjectFactory(), status="running")  # another team's
    client.force_login(bob)
    body = client.get(reverse("generations:project-list")).content.decode()
    indicator = body[body.index('id="running-jobs"') :]
    indicator = indicator[: indicator.index("</a>")]
    assert 'href="/gallery/?status=active"' in indicator
    assert '<span class="running-count">2</span>' in indicator and "2 jobs running" in indicator


def test_the_indicator_is_hidden_when_nothing_runs_and_updates_with_the_gallery(client, bob, acme_project):
    client.force_login(bob)
    body = client.get(reverse("generations:project-list")).content.decode()
    start = body.index('id="running-jobs"')
    tag = body[body.rindex("<", 0, start) : body.index(">", start)]
    assert "d-none" in tag.split('class="')[1].split('"')[0]
    since = timezone.now()
    JobFactory(project=acme_project, status="queued")
    response = _changes(client, acme_project, since, idle="1").content.decode()
    assert 'id="running-jobs" hx-swap-oob="true"' in response
    assert '<span class="running-count">1</span>' in response


def test_the_gallery_filtered_by_running_lists_the_teams_active_jobs(client, bob, acme, acme_project):
    mine = JobFactory(project=acme_project, status="running", prompt="a fox, still rendering", progress=40)
    JobFactory(project=acme_project, status="succeeded", prompt="a finished fox")
    JobFactory(project=ProjectFactory(), status="running", prompt="a secret of another team")
    client.force_login(bob)
    body = client.get(reverse("generations:team-gallery"), {"status": "active"}).content.decode()
    assert "a fox, still rendering" in body and mine.detail_url in body
    assert "a finished fox" not in body and "a secret of another team" not in body
    assert "Nothing matches" not in body


def test_the_running_filter_says_so_when_nothing_runs(client, bob, acme_project):
    client.force_login(bob)
    body = client.get(reverse("generations:team-gallery"), {"status": "active"}).content.decode()
    assert "Nothing is running" in body


def test_the_project_page_tells_the_lightbox_which_outputs_you_starred(client, alice, bob, acme_project):
    from generations.models import Favourite
    from tests.factories import make_output

    mine = make_output(JobFactory(project=acme_project), index=0)
    theirs = make_output(JobFactory(project=acme_project), index=0)
    Favourite.objects.create(user=bob, asset=mine)
    Favourite.objects.create(user=alice, asset=theirs)
    client.force_login(bob)
    body = client.get(reverse("generations:project-detail", args=[acme_project.public_id])).content.decode()
    assert f'<div class="favourite-ids" hidden data-ids="{mine.public_id}"></div>' in body
    # The cards themselves are the same for everyone (cached): the tiles carry no star state.
    assert "data-favourite=" not in body
