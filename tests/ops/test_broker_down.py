"""A submit while the broker is down: the job is shown queued (charged once) and sent when it is back."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
import redis
from django.urls import reverse
from django.utils import timezone

from generations import services
from generations.models import Job, JobStatus
from tests.ops.conftest import PrivateRedis, point_app_at
from wanweb.quotas.models import HoldStatus, LedgerEntry, LedgerKind

FORM = {"provider": "simulator", "mode": "t2i", "model": "wan-sim", "prompt": "a red fox"}


@pytest.fixture
def broker_down(settings, tmp_path):
    """This process's Celery app on a Redis that is not running yet (connection refused)."""
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server on PATH")
    from wanweb.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    server = PrivateRedis(tmp_path)
    settings.CELERY_BROKER_URL = server.url
    point_app_at(app, server.url, saved[1])
    try:
        yield server
    finally:
        server.stop()
        point_app_at(app, *saved)


def _submit_messages(server: PrivateRedis, queue: str) -> list[str]:
    client = redis.Redis.from_url(server.url)
    bodies = [json.loads(raw) for raw in client.lrange(queue, 0, -1)]
    return [m["headers"]["argsrepr"] for m in bodies if m["headers"]["task"].endswith("job_submit_task")]


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.django_db
def test_a_submit_while_the_broker_is_down_shows_the_queued_job_and_the_reconciler_sends_it_later(
    client, bob, acme_project, broker_down, settings, django_capture_on_commit_callbacks, htmx
):
    client.force_login(bob)
    url = reverse("generations:job-create", args=[acme_project.public_id])
    headers = {"HX-Request": "true"} if htmx else {}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, FORM, headers=headers)

    job = Job.objects.get(project=acme_project)
    if htmx:
        assert response.status_code == 200 and f'id="job-{job.public_id}"'.encode() in response.content
    else:
        assert response.status_code == 302
        assert response["Location"] == reverse("generations:project-detail", args=[acme_project.public_id])
    assert job.status == JobStatus.QUEUED
    assert job.hold.status == HoldStatus.HELD
    assert LedgerEntry.objects.filter(job=job, kind=LedgerKind.RESERVE).count() == 1

    broker_down.start()
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    assert _submit_messages(broker_down, queue) == []  # nothing was sent while it was down
    # Before the silence window the reconciler leaves the fresh job alone; after it, it sends it.
    assert services.job_reconcile()["resubmitted"] == 0
    later = timezone.now() + services.RECONCILE_SILENCE + timedelta(seconds=1)
    assert services.job_reconcile(now=later)["resubmitted"] == 1
    assert _submit_messages(broker_down, queue) == [f"({job.pk},)"]
    assert Job.objects.count() == 1
