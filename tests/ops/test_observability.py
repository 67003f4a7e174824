"""/healthz, /readyz, JSON logs, Sentry's redaction and Admin > System."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from generations.models import Job, JobStatus
from tests.factories import JobFactory, UserFactory
from tests.ops.conftest import free_port
from wanweb.ops import heartbeat, sentry

CANARY = "sk-canary-0123456789abcdefghijklmnop"


@pytest.fixture
def heartbeats(settings):
    """Heartbeats of this test only, on the shared test Redis; cleaned up afterwards."""
    settings.OPS_HEARTBEAT_PREFIX = f"{settings.TEST_QUEUE_PREFIX}:hb-{time.monotonic_ns()}:"
    client = heartbeat.redis_client()
    yield client
    keys = list(client.scan_iter(match=f"{settings.OPS_HEARTBEAT_PREFIX}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def own_queues(settings):
    """Queue names of this test only, so LLEN counts what this test pushed."""
    prefix = f"{settings.TEST_QUEUE_PREFIX}-{time.monotonic_ns()}"
    settings.CELERY_TASK_DEFAULT_QUEUE = f"{prefix}-default"
    settings.CELERY_TASK_ROUTES = {
        "generations.tasks.job_store_outputs_task": {"queue": f"{prefix}-downloads"}
    }
    client = heartbeat.redis_client()
    yield settings.CELERY_TASK_DEFAULT_QUEUE, f"{prefix}-downloads"
    client.delete(settings.CELERY_TASK_DEFAULT_QUEUE, f"{prefix}-downloads")


def test_healthz_answers_without_touching_the_database(client):
    # No db fixture: any query would raise "Database access not allowed".
    response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok"


@pytest.mark.django_db
def test_readyz_is_200_with_database_redis_and_a_recent_worker_heartbeat(
    client, heartbeats, alice, acme_project
):
    heartbeat.beat(hostname="w1@test", queues=["default"], client=heartbeats)
    JobFactory(project=acme_project, created_by=alice, status=JobStatus.QUEUED)
    Job.objects.update(created_at=timezone.now() - timedelta(seconds=90))

    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["failed"] == []
    assert body["checks"]["workers"]["count"] == 1
    assert 89 <= body["checks"]["queue"]["oldest_queued_seconds"] <= 120


@pytest.mark.django_db
def test_readyz_is_503_naming_redis_when_redis_is_unreachable(client, settings, heartbeats):
    heartbeat.beat(hostname="w1@test", queues=["default"], client=heartbeats)
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail" and "redis" in body["failed"] and "database" not in body["failed"]
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_readyz_is_503_naming_workers_when_no_worker_beat_within_a_minute(client, heartbeats):
    heartbeat.beat(hostname="old@test", queues=["default"], client=heartbeats, now=time.time() - 61)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["workers"]
    assert response.json()["checks"]["workers"]["count"] == 0


@pytest.mark.django_db
def test_readyz_fails_the_queue_check_past_its_configured_limit(
    client, settings, heartbeats, alice, acme_project
):
    heartbeat.beat(hostname="w1@test", queues=["default"], client=heartbeats)
    settings.READYZ_MAX_QUEUED_SECONDS = 300
    JobFactory(project=acme_project, created_by=alice, status=JobStatus.QUEUED)
    Job.objects.update(created_at=timezone.now() - timedelta(minutes=10))

    response = client.get("/readyz")

    assert response.status_code == 503 and response.json()["failed"] == ["queue"]


def test_log_format_json_writes_one_redacted_json_object_per_line(tmp_path):
    script = (
        "import django, logging; django.setup(); "
        "log = logging.getLogger('wanweb.test'); "
        "log.warning('vendor said: bad key %s', '" + CANARY + "'); "
        "log.info('second line')\n"
        "try:\n    raise ValueError('boom with " + CANARY + "')\n"
        "except ValueError:\n    log.exception('failed')\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wanweb.settings",
        "LOG_FORMAT": "json",
        "DASHSCOPE_API_KEY": CANARY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    ours = [r for r in records if r["logger"] == "wanweb.test"]
    assert [r["message"] for r in ours[:2]] == ["vendor said: bad key [redacted]", "second line"]
    assert ours[0]["level"] == "WARNING" and "time" in ours[0]
    assert "ValueError: boom with [redacted]" in ours[2]["exception"]
    assert CANARY not in result.stderr


def test_sentry_before_send_redacts_every_string_of_the_event(monkeypatch):
    monkeypatch.setenv("FAL_KEY", CANARY)
    event = {
        "message": f"failed with {CANARY}",
        "exception": {"values": [{"type": "ProviderError", "value": f"401: key {CANARY} invalid"}]},
        "breadcrumbs": {"values": [{"message": f"GET https://x/?key={CANARY}"}]},
        "extra": {"vars": [1, None, {"token": CANARY}]},
    }
    cleaned = sentry.before_send(event, {})
    assert CANARY not in json.dumps(cleaned)
    assert cleaned["exception"]["values"][0]["value"] == "401: key [redacted] invalid"
    assert cleaned["extra"]["vars"][:2] == [1, None]


def test_sentry_starts_only_with_a_dsn_without_personal_data_and_with_the_redaction():
    sentry_sdk = pytest.importorskip("sentry_sdk")
    assert sentry.init("") is False
    try:
        assert sentry.init("https://public@127.0.0.1:9/1", environment="test") is True
        options = sentry_sdk.get_client().options
        assert options["send_default_pii"] is False
        assert options["before_send"] is sentry.before_send
    finally:
        sentry_sdk.get_client().close(timeout=0)
        sentry_sdk.init()  # back to a disabled client


@pytest.mark.django_db
def test_the_system_page_is_for_staff_only(client, alice):
    url = reverse("admin:system")
    assert url.endswith("/system/")
    client.force_login(alice)  # a team owner, not staff
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_the_system_page_shows_queue_depths_workers_jobs_by_status_and_the_oldest_active_job(
    client, heartbeats, own_queues, alice, acme_project
):
    staff = UserFactory(username="ops", is_staff=True, is_superuser=True)
    default_queue, downloads_queue = own_queues
    heartbeats.lpush(default_queue, "m1", "m2", "m3")
    heartbeats.lpush(downloads_queue, "m4")
    heartbeat.beat(hostname="w1@test", queues=[default_queue], client=heartbeats)
    heartbeat.beat(hostname="w2@test", queues=[downloads_queue], client=heartbeats)
    for status, n in [(JobStatus.QUEUED, 2), (JobStatus.RUNNING, 1), (JobStatus.SUCCEEDED, 4)]:
        for _ in range(n):
            JobFactory(project=acme_project, created_by=alice, status=status)
    oldest = JobFactory(project=acme_project, created_by=alice, status=JobStatus.SUBMITTED)
    Job.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(hours=3))

    client.force_login(staff)
    index = client.get(reverse("admin:index"))
    assert reverse("admin:system").encode() in index.content  # linked from the admin index
    page = client.get(reverse("admin:system")).content.decode()

    assert f'data-queue="{default_queue}">3<' in page and f'data-queue="{downloads_queue}">1<' in page
    assert '<span id="worker-count">2</span>' in page and "w1@test" in page and "w2@test" in page
    assert 'data-status="queued">2<' in page and 'data-status="running">1<' in page
    assert 'data-status="succeeded">4<' in page and 'data-status="submitted">1<' in page
    assert 'data-status="failed">0<' in page
    assert str(oldest.public_id) in page and "3\xa0hours ago" in page


def test_a_worker_heartbeat_is_counted_within_a_minute_and_not_after(heartbeats):
    now = time.time()
    heartbeat.beat(hostname="fresh@test", queues=["q"], client=heartbeats, now=now - 10)
    heartbeat.beat(hostname="stale@test", queues=["q"], client=heartbeats, now=now - 70)
    assert [w["hostname"] for w in heartbeat.recent(client=heartbeats, now=now)] == ["fresh@test"]
    assert heartbeats.ttl(f"{django_settings.OPS_HEARTBEAT_PREFIX}fresh@test") > 60
