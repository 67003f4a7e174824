"""Jobs through a real Celery worker on real Redis, with the offline simulator."""

from __future__ import annotations

import io

import av
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from generations import services
from generations.models import AssetRole, Job, JobStatus
from tests.conftest import wait_for
from wanweb.accounts.models import Membership

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def _finished(job: Job):
    job.refresh_from_db()
    return job if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED) else None


def _create(alice, project, **kwargs):
    membership = Membership.objects.get(user=alice, team=project.team)
    return services.job_create(
        membership=membership, project=project, provider="simulator", model=None, **kwargs
    )


def test_a_simulator_image_job_goes_queued_running_succeeded_with_a_real_png(
    celery_worker_live, alice, acme_project
):
    job = _create(
        alice, acme_project, mode="t2i", prompt="a red fox in snow", params={"sim_delay": 1.5, "seed": 7}
    )
    assert job.status == JobStatus.QUEUED
    wait_for(lambda: _finished(job), timeout=30)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    statuses = list(job.events.values_list("status", flat=True))
    assert (
        statuses[0] == "queued"
        and "submitted" in statuses
        and "running" in statuses
        and statuses[-1] == "succeeded"
    )
    [output] = job.assets.filter(role=AssetRole.OUTPUT)
    with default_storage.open(output.file.name) as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    assert image.format == "PNG" and (output.width, output.height) == image.size
    assert output.thumbnail.name.endswith(".webp") and default_storage.exists(output.thumbnail.name)
    assert job.seed == 7 and job.cost_final == job.cost_estimate
    assert job.vendor_calls.count() == 0  # the simulator makes no HTTP calls


def test_a_simulator_video_job_ends_with_a_playable_mp4_and_a_poster(celery_worker_live, alice, acme_project):
    job = _create(
        alice,
        acme_project,
        mode="t2v",
        prompt="waves at dusk",
        params={"sim_delay": 1, "duration": 5, "audio": True},
    )
    wait_for(lambda: _finished(job), timeout=40)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    [output] = job.assets.filter(role=AssetRole.OUTPUT)
    assert output.content_type == "video/mp4" and output.duration == pytest.approx(5, abs=0.5)
    with default_storage.open(output.file.name) as handle, av.open(handle) as container:
        assert container.streams.video and container.streams.audio
        assert next(container.decode(video=0)).width == output.width
    assert output.thumbnail.name.endswith("-thumb.webp")


def test_a_transient_poll_fault_is_retried_and_the_job_still_succeeds(
    celery_worker_live, alice, acme_project
):
    job = _create(
        alice,
        acme_project,
        mode="t2i",
        prompt="retry me",
        params={"sim_delay": 0.5, "sim_fault": "server_error", "sim_fault_count": 2},
    )
    wait_for(lambda: _finished(job), timeout=60)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.assets.filter(role=AssetRole.OUTPUT).count() == 1


def test_a_content_policy_failure_fails_the_job_with_its_code(celery_worker_live, alice, acme_project):
    job = _create(
        alice,
        acme_project,
        mode="t2i",
        prompt="nope",
        params={"sim_delay": 0.2, "sim_fault": "content_policy"},
    )
    wait_for(lambda: _finished(job), timeout=30)
    assert job.status == JobStatus.FAILED
    assert job.error_code == "content_policy" and job.error_message
    assert not job.assets.filter(role=AssetRole.OUTPUT).exists()


def test_an_expired_result_fails_the_job_with_result_expired(celery_worker_live, alice, acme_project):
    job = _create(
        alice,
        acme_project,
        mode="t2i",
        prompt="gone",
        params={"sim_delay": 0.2, "sim_fault": "result_expired"},
    )
    wait_for(lambda: _finished(job), timeout=30)
    assert (job.status, job.error_code) == (JobStatus.FAILED, "result_expired")
