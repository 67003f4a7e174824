from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from generations.models import Job, JobStatus
from tests.factories import JobFactory, make_output, make_png

HX = {"HX-Request": "true"}


def _project_url(name, project, **query):
    url = reverse(f"generations:{name}", args=[project.public_id])
    if query:
        from urllib.parse import urlencode

        url += "?" + urlencode(query)
    return url


def test_the_project_page_shows_the_form_and_the_gallery(client, bob, acme_project):
    JobFactory(project=acme_project, prompt="a lighthouse at night")
    client.force_login(bob)
    response = client.get(_project_url("project-detail", acme_project))
    assert response.status_code == 200
    assert b'id="generation-form"' in response.content
    assert b"a lighthouse at night" in response.content
    # Nothing is running: the poller is rendered without a trigger.
    assert b'data-polling="false"' in response.content and b"every 2s" not in response.content


def test_viewers_see_the_gallery_but_no_form(client, dave, acme_project):
    JobFactory(project=acme_project, prompt="visible to viewers")
    client.force_login(dave)
    response = client.get(_project_url("project-detail", acme_project))
    assert b"visible to viewers" in response.content
    assert b'id="generation-form"' not in response.content


def test_the_picker_swaps_in_exactly_the_chosen_models_fields(client, bob, acme_project):
    client.force_login(bob)
    t2i = client.get(
        _project_url("generation-form", acme_project, provider="simulator", mode="t2i"), headers=HX
    )
    i2v = client.get(
        _project_url("generation-form", acme_project, provider="simulator", mode="i2v", prompt="keep me"),
        headers=HX,
    )
    assert b"<html" not in i2v.content
    assert b'name="input_image"' in i2v.content and b'name="input_image"' not in t2i.content
    assert b'name="num_outputs"' in t2i.content and b'name="num_outputs"' not in i2v.content
    assert b"keep me" in i2v.content  # the prompt survives the swap


def test_the_estimate_follows_the_parameters(client, bob, acme_project):
    client.force_login(bob)
    url = _project_url("generation-estimate", acme_project)
    five = client.get(url, {"provider": "simulator", "mode": "t2v", "duration": 5})
    ten = client.get(url, {"provider": "simulator", "mode": "t2v", "duration": 10})
    # The simulator charges one cent per second of video.
    assert b"$0.0500" in five.content and b"$0.1000" in ten.content


def test_submitting_queues_a_job_and_returns_its_card_and_an_active_poller(
    client, bob, acme_project, django_capture_on_commit_callbacks
):
    client.force_login(bob)
    with (
        mock.patch("generations.services.job_submit_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            _project_url("job-create", acme_project),
            {
                "provider": "simulator",
                "mode": "t2i",
                "model": "wan-sim",
                "prompt": "a red fox",
                "seed": "42",
            },
            headers=HX,
        )
    job = Job.objects.get(project=acme_project)
    delay.assert_called_once_with(job.pk)
    assert job.status == JobStatus.QUEUED and job.created_by == bob and job.params["seed"] == 42
    assert f'id="job-{job.public_id}"'.encode() in response.content
    assert b'hx-swap-oob="afterbegin:#gallery-grid"' in response.content
    assert b'data-polling="true"' in response.content
    assert b'id="generation-form"' in response.content


def test_an_invalid_submit_rerenders_the_form_with_errors_and_creates_nothing(client, bob, acme_project):
    client.force_login(bob)
    response = client.post(
        _project_url("job-create", acme_project),
        {"provider": "simulator", "mode": "t2i", "model": "wan-sim", "prompt": "", "seed": "-5"},
        headers=HX,
    )
    assert response.status_code == 200
    assert b"is-invalid" in response.content
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("fake.png", make_png()[:60] + b"<html><script>alert(1)</script></html>", b"fake.png"),
        ("song.png", b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 2000, b"song.png"),
        ("truncated.png", make_png(800, 600)[:200], b"truncated.png"),
    ],
)
def test_a_bad_upload_is_a_field_error_and_nothing_is_stored(
    client, bob, acme_project, settings, name, payload, message
):
    client.force_login(bob)
    response = client.post(
        _project_url("job-create", acme_project),
        {
            "provider": "simulator",
            "mode": "i2v",
            "model": "wan-sim",
            "prompt": "animate it",
            "input_image": SimpleUploadedFile(name, payload, content_type="image/png"),
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert message in response.content and b"invalid-feedback" in response.content
    assert not Job.objects.exists()
    media_root = settings.MEDIA_ROOT
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


def test_a_good_upload_is_stored_reencoded_under_a_random_name(client, bob, acme_project):
    client.force_login(bob)
    with mock.patch("generations.services.job_submit_task.delay"):
        client.post(
            _project_url("job-create", acme_project),
            {
                "provider": "simulator",
                "mode": "i2v",
                "model": "wan-sim",
                "prompt": "animate it",
                "input_image": SimpleUploadedFile(
                    "holiday.png", make_png(640, 480), content_type="image/png"
                ),
            },
            headers=HX,
        )
    job = Job.objects.get()
    [asset] = job.assets.all()
    assert asset.role == "input" and asset.slot == "image" and (asset.width, asset.height) == (640, 480)
    assert "holiday" not in asset.file.name


def test_viewers_cannot_submit(client, dave, acme_project):
    client.force_login(dave)
    response = client.post(
        _project_url("job-create", acme_project),
        {"provider": "simulator", "mode": "t2i", "prompt": "x"},
        headers=HX,
    )
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_the_refresh_answers_204_when_nothing_changed(
    client, bob, acme_project, django_assert_max_num_queries
):
    JobFactory(project=acme_project, status="running", updated_at=timezone.now() - timedelta(minutes=1))
    client.force_login(bob)
    since = (timezone.now() + timedelta(seconds=1)).isoformat()
    client.get(_project_url("gallery-changes", acme_project, since=since), headers=HX)  # settles the session
    # Session, user, current team, project, membership, "anything running?" and "anything newer?".
    with django_assert_max_num_queries(7):
        response = client.get(_project_url("gallery-changes", acme_project, since=since), headers=HX)
    assert response.status_code == 204 and response.content == b""


def test_the_refresh_stops_a_poller_when_nothing_runs_even_without_changes(client, bob, acme_project):
    JobFactory(project=acme_project, status="succeeded", updated_at=timezone.now() - timedelta(minutes=1))
    client.force_login(bob)
    response = client.get(
        _project_url("gallery-changes", acme_project, since=timezone.now().isoformat()), headers=HX
    )
    assert response.status_code == 200
    assert b'data-polling="false"' in response.content and b"job-card" not in response.content


def test_a_change_committed_just_before_the_last_answer_is_still_delivered(client, bob, acme_project):
    # Stamped 3 s before the previous answer's `since` (its transaction committed after that answer).
    since = timezone.now()
    job = JobFactory(project=acme_project, status="succeeded", updated_at=since - timedelta(seconds=3))
    client.force_login(bob)
    response = client.get(_project_url("gallery-changes", acme_project, since=since.isoformat()), headers=HX)
    assert f'id="job-{job.public_id}"'.encode() in response.content


def test_the_refresh_returns_changed_cards_and_stops_polling_when_nothing_runs(client, bob, acme_project):
    since = timezone.now()
    job = JobFactory(project=acme_project, status="succeeded", prompt="just finished")
    client.force_login(bob)
    response = client.get(_project_url("gallery-changes", acme_project, since=since.isoformat()), headers=HX)
    assert response.status_code == 200
    assert f'id="job-{job.public_id}"'.encode() in response.content
    assert b'id="gallery-poller" hx-swap-oob="true"' in response.content
    assert b'data-polling="false"' in response.content


def test_gallery_pages_run_the_same_queries_at_any_depth(
    client, bob, acme_project, django_assert_num_queries
):
    from generations import selectors

    jobs = JobFactory.create_batch(60, project=acme_project)
    first, cursor = selectors.gallery_page(project=acme_project)
    second, cursor2 = selectors.gallery_page(project=acme_project, before=cursor)
    third, cursor3 = selectors.gallery_page(project=acme_project, before=cursor2)
    seen = [j.pk for j in first + second + third]
    assert len(first) == 24 and sorted(seen) == sorted(j.pk for j in jobs) and len(set(seen)) == 60
    assert cursor3 is None

    client.force_login(bob)
    client.get(_project_url("gallery-page", acme_project), headers=HX)  # settles the session
    # Session, user, current team, project, membership, the anchor row, the page, and its outputs.
    with django_assert_num_queries(8):
        response = client.get(_project_url("gallery-page", acme_project, before=str(cursor2)), headers=HX)
    assert response.content.count(b'class="card job-card') == 12


def test_the_job_page_shows_outputs_parameters_and_the_timeline(client, bob, acme_project):
    job = JobFactory(
        project=acme_project, params={"seed": 3, "sim_delay": 0.1}, seed=3, actual_prompt="a better prompt"
    )
    make_output(job)
    client.force_login(bob)
    response = client.get(reverse("generations:job-detail", args=[job.public_id]))
    assert response.status_code == 200
    assert b"a better prompt" in response.content and b"Seed used" in response.content
    assert b"Download" in response.content and b"Remix" in response.content


def test_an_output_is_served_to_the_team_with_its_sniffed_type(client, bob, acme_project):
    job = JobFactory(project=acme_project)
    asset = make_output(job)
    client.force_login(bob)
    response = client.get(reverse("generations:asset-file", args=[asset.public_id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    thumb = client.get(reverse("generations:asset-thumb", args=[asset.public_id]))
    assert thumb["Content-Type"] == "image/webp"


def test_cancel_retry_and_delete(client, bob, acme_project, django_capture_on_commit_callbacks):
    queued = JobFactory(project=acme_project, status="queued", created_by=bob)
    failed = JobFactory(
        project=acme_project, status="failed", created_by=bob, error_code="timeout", params={}
    )
    client.force_login(bob)
    client.post(reverse("generations:job-cancel", args=[queued.public_id]))
    queued.refresh_from_db()
    assert queued.status == JobStatus.CANCELED

    with mock.patch("generations.services.job_submit_task.delay"):
        response = client.post(reverse("generations:job-retry", args=[failed.public_id]))
    retry = Job.objects.get(retry_of=failed)
    assert response.status_code == 302 and retry.status == JobStatus.QUEUED and retry.prompt == failed.prompt

    asset = make_output(queued)
    path = asset.file.path
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("generations:job-delete", args=[queued.public_id]))
    assert not Job.objects.filter(pk=queued.pk).exists()
    import os

    assert not os.path.exists(path)


def test_a_member_cannot_cancel_someone_elses_job_but_an_owner_can(client, alice, bob, acme_project):
    job = JobFactory(project=acme_project, status="running", created_by=alice)
    client.force_login(bob)
    assert client.post(reverse("generations:job-cancel", args=[job.public_id])).status_code == 403
    client.force_login(alice)
    client.post(reverse("generations:job-cancel", args=[job.public_id]))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED


def test_an_active_job_cannot_be_deleted(client, bob, acme_project):
    job = JobFactory(project=acme_project, status="running", created_by=bob)
    client.force_login(bob)
    client.post(reverse("generations:job-delete", args=[job.public_id]))
    assert Job.objects.filter(pk=job.pk).exists()


def test_remix_prefills_the_form_from_a_job(client, bob, acme_project):
    job = JobFactory(
        project=acme_project, mode="t2v", prompt="remix this", params={"duration": 10, "sim_delay": 2}
    )
    client.force_login(bob)
    response = client.get(_project_url("project-detail", acme_project, remix=str(job.public_id)))
    form = response.context["form"]
    assert (
        form.spec.mode == "t2v" and form.initial["prompt"] == "remix this" and form.initial["duration"] == 10
    )
