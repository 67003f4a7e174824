"""Progress that means something: elapsed time, an ETA from this install's recent jobs, queue position."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from generations import selectors
from tests.factories import JobFactory, ProjectFactory


def _finished(project, *, seconds: float, model: str = "wan-sim", mode: str = "t2v", ago_minutes=5, **kw):
    finished = timezone.now() - timedelta(minutes=ago_minutes)
    return JobFactory(
        project=project,
        status=kw.pop("status", "succeeded"),
        provider=kw.pop("provider", "simulator"),
        model=model,
        mode=mode,
        created_at=finished - timedelta(seconds=seconds),
        finished_at=finished,
        updated_at=finished,  # a finished job's last change is its end
        **kw,
    )


def test_the_typical_duration_is_the_median_of_recent_successes_of_the_same_model_and_mode(
    acme_project, umbrella_project, django_assert_num_queries
):
    for seconds in (30, 40, 50):
        _finished(acme_project, seconds=seconds)
    _finished(umbrella_project, seconds=60)  # another team's job: the install's experience counts
    _finished(acme_project, seconds=500, status="failed")  # failures say nothing about run time
    _finished(acme_project, seconds=500, mode="t2i")  # another mode
    _finished(acme_project, seconds=500, model="other-model")  # another model
    _finished(acme_project, seconds=500, ago_minutes=60 * 24 * 60)  # too old to be "recent"
    for seconds in (8, 12):
        _finished(acme_project, seconds=seconds, mode="t2i", model="wan-sim-fast")

    keys = {("simulator", "wan-sim", "t2v"), ("simulator", "wan-sim-fast", "t2i"), ("fal", "x", "t2v")}
    with django_assert_num_queries(1):
        typical = selectors.job_typical_durations(keys=keys)
    assert typical[("simulator", "wan-sim", "t2v")] == (45.0, 4)
    assert typical[("simulator", "wan-sim-fast", "t2i")] == (10.0, 2)
    assert ("fal", "x", "t2v") not in typical


def test_only_the_most_recent_successes_count(acme_project):
    for n in range(selectors.ETA_SAMPLES):
        _finished(acme_project, seconds=20, ago_minutes=10 + n)
    for n in range(5):
        _finished(acme_project, seconds=900, ago_minutes=100 + n)  # older than the newest ETA_SAMPLES
    assert selectors.job_typical_durations(keys={("simulator", "wan-sim", "t2v")}) == {
        ("simulator", "wan-sim", "t2v"): (20.0, selectors.ETA_SAMPLES)
    }


def test_queue_position_counts_queued_jobs_ahead_across_the_install(
    acme_project, umbrella_project, django_assert_num_queries
):
    now = timezone.now()
    JobFactory(project=umbrella_project, status="queued", created_at=now - timedelta(seconds=30))
    JobFactory(project=acme_project, status="running", created_at=now - timedelta(seconds=25))
    first = JobFactory(project=acme_project, status="queued", created_at=now - timedelta(seconds=20))
    second = JobFactory(project=acme_project, status="queued", created_at=now - timedelta(seconds=10))
    running = JobFactory(project=acme_project, status="running")
    with django_assert_num_queries(2):
        jobs = selectors.jobs_with_progress([second, first, running])
    assert [j.queue_position for j in jobs] == [3, 2, None]


def test_no_active_job_costs_no_query(acme_project, django_assert_num_queries):
    done = JobFactory(project=acme_project, status="succeeded")
    with django_assert_num_queries(0):
        [job] = selectors.jobs_with_progress([done])
    assert job.typical_seconds is None and job.queue_position is None


def test_running_and_queued_cards_show_elapsed_time_eta_and_place_in_line(client, bob, acme_project):
    for seconds in (40, 60, 80):
        _finished(acme_project, seconds=seconds)
    now = timezone.now()
    started = now - timedelta(seconds=15)
    running = JobFactory(
        project=acme_project, status="running", model="wan-sim", mode="t2v", created_at=started, progress=30
    )
    JobFactory(project=ProjectFactory(), status="queued", created_at=now - timedelta(seconds=9))
    queued = JobFactory(project=acme_project, status="queued", model="wan-sim", mode="t2v", created_at=now)
    client.force_login(bob)
    body = client.get(reverse("generations:project-detail", args=[acme_project.public_id])).content.decode()

    card = body[body.index(f'id="job-{running.public_id}"') :]
    card = card[: card.index("</article>")]
    assert f'data-since="{int(started.timestamp())}"' in card and 'data-typical="60"' in card
    assert "usually about 1 min" in card
    card = body[body.index(f'id="job-{queued.public_id}"') :]
    card = card[: card.index("</article>")]
    assert "2nd in line" in card


def test_the_project_page_query_count_does_not_grow_with_active_jobs(
    client, bob, acme_project, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        client.get(reverse("generations:project-detail", args=[acme_project.public_id]))
        with CaptureQueriesContext(connection) as captured:
            client.get(reverse("generations:project-detail", args=[acme_project.public_id]))
        return len(captured.captured_queries)

    client.force_login(bob)
    _finished(acme_project, seconds=30)
    JobFactory(project=acme_project, status="queued")
    one = count()
    for mode in ("t2i", "t2v", "i2v", "edit"):
        JobFactory(project=acme_project, status="running", mode=mode, model=f"m-{mode}")
        JobFactory(project=acme_project, status="queued", mode=mode)
    assert count() == one


def test_the_job_page_shows_elapsed_time_eta_and_queue_position(client, bob, acme_project):
    for seconds in (100, 120):
        _finished(acme_project, seconds=seconds)
    job = JobFactory(project=acme_project, status="queued", model="wan-sim", mode="t2v")
    client.force_login(bob)
    body = client.get(reverse("generations:job-detail", args=[job.public_id])).content.decode()
    assert "1st in line" in body and 'data-typical="110"' in body
    assert f'data-since="{int(job.created_at.timestamp())}"' in body
