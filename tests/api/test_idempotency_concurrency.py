"""Twenty concurrent POST /jobs with one Idempotency-Key on PostgreSQL: one job, one hold.

Each thread has its own database connection (Django's are per thread) and they are released
together by a barrier. SQLite serialises every write, so it cannot show the race.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.test import Client

from generations import services as generation_services
from generations.models import Job
from tests.api.conftest import bearer, make_token
from wanweb.api.models import IdempotencyKey
from wanweb.quotas.models import Hold

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"
    ),
]
THREADS = 20


@pytest.fixture(autouse=True)
def no_submit(monkeypatch):
    monkeypatch.setattr(generation_services.job_submit_task, "delay", lambda *a, **k: None)


@pytest.mark.parametrize("round_", range(3))
def test_one_key_twenty_requests_one_job_one_hold(alice, acme, acme_project, round_):
    token = make_token(alice, acme)
    body = json.dumps(
        {"project": str(acme_project.public_id), "provider": "simulator", "mode": "t2i", "prompt": "a fox"}
    )
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def post():
        try:
            client = Client()
            barrier.wait(timeout=30)
            response = client.post(
                "/api/v1/jobs",
                body,
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY="race",
                **bearer(token),
            )
            with lock:
                results.append((response.status_code, response.json().get("id", response.content.decode())))
        except BaseException as exc:  # noqa: BLE001 -- reported below
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 200: THREADS - 1}, results
    assert len({job_id for _, job_id in results}) == 1
    assert Job.objects.count() == 1 and Hold.objects.count() == 1 and IdempotencyKey.objects.count() == 1


def test_one_key_twenty_run_requests_one_run_and_its_holds(alice, acme, acme_project):
    """The same for POST /runs: one run of two jobs and two holds, whatever the number of twins."""
    from generations.models import Run

    token = make_token(alice, acme)
    body = json.dumps(
        {
            "project": str(acme_project.public_id),
            "mode": "t2i",
            "prompt": "a fox",
            "targets": ["simulator:wan-sim"],
            "seeds": [1, 2],
        }
    )
    barrier = threading.Barrier(THREADS)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def post():
        try:
            client = Client()
            barrier.wait(timeout=30)
            response = client.post(
                "/api/v1/runs",
                body,
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY="run-race",
                **bearer(token),
            )
            with lock:
                results.append((response.status_code, response.json().get("id", response.content.decode())))
        except BaseException as exc:  # noqa: BLE001 -- reported below
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert Counter(status for status, _ in results) == {201: 1, 200: THREADS - 1}, results
    assert len({run_id for _, run_id in results}) == 1
    assert Run.objects.count() == 1 and Job.objects.count() == 2 and Hold.objects.count() == 2
    assert IdempotencyKey.objects.count() == 1
