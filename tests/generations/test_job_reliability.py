"""fal jobs under the faults shared/RELIABILITY.md sections 1, 2 and 7 name, end to end.

A fake fal on loopback (tests/fakes/fal.py, with the faults of tests/fakes/fal_faults.py) answers
real HTTP; a real Celery worker on real Redis runs the tasks. Two tests need a worker that can be
SIGKILLed, so they run `celery worker` as a subprocess against the test database: PostgreSQL only
(an SQLite test database lives in this process's memory).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from generations import dispatch, services
from generations.models import AssetRole, Job, JobStatus, VendorCall
from providers import fal
from providers.base import GenerationRequest, Mode
from tests.conftest import wait_for
from tests.fakes.fal_faults import FaultyFal
from tests.fakes.slow import TrickleServer
from tests.polls import next_poll
from wanweb.accounts.models import Membership

NEVER_DONE = ("IN_PROGRESS",) * 10_000  # every status call answers IN_PROGRESS: polling cannot finish
FINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


@pytest.fixture(autouse=True)
def _fresh_jwks_cache():
    fal.clear_jwks_cache()
    yield
    fal.clear_jwks_cache()


def _use_fake(monkeypatch, settings, fake: FaultyFal) -> None:
    for name, value in fake.environ.items():
        monkeypatch.setenv(name, value)
    settings.ALLOW_PRIVATE_URLS = True  # the fake's result files are on loopback


@pytest.fixture
def never_done_fal(monkeypatch, settings):
    with FaultyFal(steps=NEVER_DONE) as fake:
        _use_fake(monkeypatch, settings, fake)
        yield fake


@pytest.fixture
def quick_fal(monkeypatch, settings):
    """Completes at the first status call."""
    with FaultyFal(steps=()) as fake:
        _use_fake(monkeypatch, settings, fake)
        yield fake


@pytest.fixture
def webhooks_to_live_server(settings, live_server):
    settings.WEBHOOKS_ENABLED = True
    settings.PUBLIC_BASE_URL = live_server.url
    return f"{live_server.url}{reverse('generations:webhook', args=['fal'])}"


def _membership(user, project) -> Membership:
    return Membership.objects.get(user=user, team=project.team)


def _create(user, project, prompt: str = "a lighthouse at dawn") -> Job:
    return services.job_create(
        membership=_membership(user, project),
        project=project,
        provider="fal",
        model=None,
        mode="t2i",
        prompt=prompt,
        params={},
    )


def _finished(job: Job) -> Job | None:
    job.refresh_from_db()
    return job if job.status in FINAL else None


def _running_at_fal(job: Job, fake: FaultyFal) -> bool:
    job.refresh_from_db()
    return job.status == JobStatus.RUNNING and bool(fake.jobs) and fake.only_job().status_calls >= 1


def _sha256_on_disk(name: str) -> str:
    with default_storage.open(name) as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def _submit_statuses(job: Job) -> list[int | None]:
    return list(
        job.vendor_calls.filter(operation="submit").order_by("attempt").values_list("http_status", flat=True)
    )


# --- 1, 2: finished by a signed webhook ------------------------------------------------------------


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_job_that_polling_cannot_finish_is_finished_by_fals_signed_webhook(
    celery_worker_live, never_done_fal, webhooks_to_live_server, alice, acme_project
):
    job = _create(alice, acme_project)
    wait_for(lambda: _running_at_fal(job, never_done_fal), timeout=30)
    vendor_job = never_done_fal.only_job()
    assert vendor_job.webhook_url == webhooks_to_live_server  # the submit carried fal_webhook

    response = never_done_fal.deliver_webhook(vendor_job.request_id)

    assert response.status_code == 200 and response.json() == {"ok": True, "known": True}
    wait_for(lambda: _finished(job), timeout=30)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert "COMPLETED" not in vendor_job.statuses_seen  # polling never saw it finish
    [output] = job.assets.filter(role=AssetRole.OUTPUT)
    served, _ = never_done_fal.files[f"{vendor_job.request_id}/out.png"]
    assert output.sha256 == hashlib.sha256(served).hexdigest() == _sha256_on_disk(output.file.name)
    assert (output.index, output.kind, output.content_type) == (0, "image", "image/png")
    assert job.seed == 42
    assert job.vendor_calls.filter(operation="webhook").count() == 1


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_the_same_signed_webhook_delivered_again_and_again_gives_one_set_of_outputs(
    celery_worker_live, never_done_fal, webhooks_to_live_server, alice, acme_project
):
    job = _create(alice, acme_project)
    wait_for(lambda: _running_at_fal(job, never_done_fal), timeout=30)
    request_id = never_done_fal.only_job().request_id
    headers, body = never_done_fal.signed_webhook(request_id)

    # fal retries a delivery it thinks failed: twice while the outputs are being copied, once after.
    first = never_done_fal.deliver_webhook(request_id)
    second = never_done_fal.deliver_webhook(request_id)
    wait_for(lambda: _finished(job), timeout=30)
    third = httpx.post(
        never_done_fal.only_job().webhook_url,
        content=body,
        headers={**headers, "Content-Type": "application/json"},
        timeout=15,
    )

    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    outputs = job.assets.filter(role=AssetRole.OUTPUT)
    assert list(outputs.values_list("index", flat=True)) == [0]
    assert job.events.filter(status=JobStatus.SUCCEEDED).count() == 1
    assert job.events.filter(message__startswith="The vendor finished").count() == 1
    assert job.vendor_calls.filter(operation="webhook").count() == 3
    assert len(never_done_fal.server.requests_to("GET", r"/files/.*")) == 1  # downloaded once
    assert job.vendor_calls.filter(operation="download").count() == 1


# --- 6: retries on submit ---------------------------------------------------------------------------


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_429_with_retry_after_then_a_503_on_submit_are_retried_and_the_job_succeeds(
    celery_worker_live, quick_fal, alice, acme_project
):
    quick_fal.submit_faults = [
        (429, {"detail": "Rate limit exceeded"}, {"Retry-After": "1"}),
        (503, "<html><body>Service Unavailable</body></html>"),
    ]
    started = time.monotonic()

    job = _create(alice, acme_project)
    wait_for(lambda: _finished(job), timeout=45)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert _submit_statuses(job) == [429, 503, 200]
    assert quick_fal.accepted_submits == 1
    assert job.assets.filter(role=AssetRole.OUTPUT).count() == 1
    submits = quick_fal.server.requests_to("POST", r"/wan/v2\.6/text-to-image")
    assert len(submits) == 3 and time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_422_on_submit_fails_the_job_with_invalid_request_and_is_not_retried(
    celery_worker_live, quick_fal, alice, acme_project
):
    quick_fal.submit_faults = [
        (
            422,
            {"detail": [{"loc": ["body", "image_size"], "msg": "unsupported size", "type": "value_error"}]},
        )
    ]

    job = _create(alice, acme_project)
    wait_for(lambda: _finished(job), timeout=30)

    assert (job.status, job.error_code) == (JobStatus.FAILED, "invalid_request")
    assert "image_size: unsupported size" in job.error_message
    assert _submit_statuses(job) == [422]
    assert quick_fal.accepted_submits == 0 and len(quick_fal.server.requests) == 1
    assert not job.vendor_job_id and not job.assets.exists()
    assert job.events.filter(status=JobStatus.FAILED).count() == 1


# --- 7: expired result URL ---------------------------------------------------------------------------


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", [403, 404])
def test_an_expired_result_url_fails_the_job_with_result_expired(
    celery_worker_live, quick_fal, alice, acme_project, status
):
    with TrickleServer() as files:
        url = files.add("expired/out.png", status=status)
        quick_fal.output_url = lambda vendor_job: url

        job = _create(alice, acme_project)
        wait_for(lambda: _finished(job), timeout=30)

    assert (job.status, job.error_code) == (JobStatus.FAILED, "result_expired")
    assert job.error_message and job.result == []
    assert not job.assets.filter(role=AssetRole.OUTPUT).exists()
    [download] = job.vendor_calls.filter(operation="download")
    assert download.http_status == status and download.error.startswith("result_expired")
    assert files.gets_of("expired/out.png") == 1  # permanent: not retried
    assert not default_storage.exists(f"jobs/{job.public_id}/output-0.png")


# --- 8: poll tokens ----------------------------------------------------------------------------------


class _Recorder:
    """Stands in for a task: records what would have been enqueued."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def delay(self, *args) -> None:
        self.calls.append(args)

    def apply_async(self, args, countdown=None) -> None:
        self.calls.append(tuple(args))


@pytest.mark.django_db
def test_the_reconciler_re_drives_a_silent_job_with_a_new_token_and_the_old_chain_becomes_a_no_op(
    never_done_fal, alice, acme_project, monkeypatch
):
    submission = never_done_fal.client().submit(
        GenerationRequest(
            provider="fal", model="wan/v2.6/text-to-image", mode=Mode.T2I, prompt="x", params={}
        )
    )
    long_ago = timezone.now() - timedelta(minutes=10)
    job = Job.objects.create(
        team=acme_project.team,
        project=acme_project,
        created_by=alice,
        provider="fal",
        model="wan/v2.6/text-to-image",
        mode="t2i",
        prompt="x",
        status=JobStatus.RUNNING,
        vendor_job_id=submission.vendor_job_id,
        vendor_state=submission.state,
        poll_token="old-chain",
        created_at=long_ago,
        updated_at=long_ago,
    )
    now = timezone.now()

    counts = services.job_reconcile(now=now)

    assert counts == {"resubmitted": 0, "repolled": 1, "restored": 0, "expired": 0}
    job.refresh_from_db()
    assert job.poll_token not in ("", "old-chain") and job.updated_at == now
    polls = []  # what the poll dispatcher sends: the new chain's first poll, at once
    dispatch.polls_dispatch_due(send=polls.extend)
    assert polls == [(job.pk, job.poll_token, 0)]
    assert services.job_reconcile(now=now) == {"resubmitted": 0, "repolled": 0, "restored": 0, "expired": 0}

    before = (
        job.status,
        job.poll_count,
        job.updated_at,
        VendorCall.objects.count(),
        len(never_done_fal.server.requests),
    )
    services.job_poll(job_id=job.pk, token="old-chain")  # the old chain's task, delivered late

    job.refresh_from_db()
    after = (
        job.status,
        job.poll_count,
        job.updated_at,
        VendorCall.objects.count(),
        len(never_done_fal.server.requests),
    )
    assert after == before  # no vendor call, nothing scheduled

    services.job_poll(job_id=job.pk, token=job.poll_token, sequence=0)  # the new chain does poll

    job.refresh_from_db()
    assert job.poll_count == 1 and job.vendor_calls.filter(operation="poll").count() == 1
    assert next_poll(job.pk) == {"job_id": job.pk, "token": job.poll_token, "sequence": 1}
    due_at = job.poll_due_at

    # The same poll delivered a second time (acks_late redelivery) changes nothing.
    services.job_poll(job_id=job.pk, token=job.poll_token, sequence=0)
    job.refresh_from_db()
    assert job.poll_count == 1 and job.vendor_calls.filter(operation="poll").count() == 1
    assert job.poll_due_at == due_at


@pytest.mark.django_db
def test_the_reconciler_re_enqueues_the_store_of_a_job_whose_outputs_were_never_copied(
    alice, acme_project, monkeypatch
):
    long_ago = timezone.now() - timedelta(minutes=10)
    job = Job.objects.create(
        team=acme_project.team,
        project=acme_project,
        created_by=alice,
        provider="fal",
        model="wan/v2.6/text-to-image",
        mode="t2i",
        status=JobStatus.RUNNING,
        vendor_job_id="req-1",
        result=[{"url": "https://example.invalid/out.png", "kind": "image", "content_type": "image/png"}],
        poll_due_at=long_ago,  # the last poll's schedule, left when it saw the success
        created_at=long_ago,
        updated_at=long_ago,
    )
    stores = _Recorder()
    monkeypatch.setattr(services, "job_store_outputs_task", stores)

    assert services.job_reconcile()["restored"] == 1
    assert stores.calls == [(job.pk,)]
    polls = []
    dispatch.polls_dispatch_due(send=polls.extend)
    assert polls == []  # outputs waiting to be stored are the store's, never a poll's


# --- 9: cancel ---------------------------------------------------------------------------------------


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_canceled_running_job_tells_fal_once_and_later_polls_and_webhooks_do_not_resurrect_it(
    celery_worker_live, never_done_fal, client, alice, acme_project
):
    job = _create(alice, acme_project)
    wait_for(lambda: _running_at_fal(job, never_done_fal), timeout=30)
    vendor_job = never_done_fal.only_job()

    assert services.job_cancel(membership=_membership(alice, acme_project), job=job) is True
    assert services.job_cancel(membership=_membership(alice, acme_project), job=job) is False

    cancel_path = rf"/wan/v2\.6/requests/{vendor_job.request_id}/cancel"
    wait_for(lambda: VendorCall.objects.filter(job=job, operation="cancel").exists(), timeout=20)
    assert len(never_done_fal.server.requests_to("PUT", cancel_path)) == 1 and vendor_job.canceled
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED and job.finished_at is not None

    # The poll chain's pending task (its countdown is at most 1.2 x 2 x 1.4^poll_count s) runs and stops.
    status_calls = vendor_job.status_calls
    time.sleep(min(30.0, 2.0 * 1.4**job.poll_count) * 1.2 + 0.5)
    services.job_poll(job_id=job.pk, token=job.poll_token)
    assert vendor_job.status_calls == status_calls

    headers, body = never_done_fal.signed_webhook(vendor_job.request_id)
    response = client.post(
        reverse("generations:webhook", args=["fal"]),
        data=body,
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 200

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED and job.result == [] and not job.error_code
    assert not job.assets.filter(role=AssetRole.OUTPUT).exists()
    assert not never_done_fal.server.requests_to("GET", r"/files/.*")
    assert job.events.filter(status=JobStatus.SUCCEEDED).count() == 0
    assert job.events.filter(message__startswith="Canceled by alice").count() == 1
    assert len(never_done_fal.server.requests_to("PUT", cancel_path)) == 1


# --- 4, 5: a worker in its own process, SIGKILLed or holding countdowns past the visibility timeout ---

VISIBILITY_TIMEOUT = 5
# The worker process: the test settings, plus what a worker for these tests needs and the settings do
# not read from the environment (settings_test pins ALLOW_PRIVATE_URLS and MEDIA_ROOT; the broker
# options have no environment variable).
_WORKER = """
import json, os, sys
from pathlib import Path
import wanweb.settings_test as s
s.ALLOW_PRIVATE_URLS = True
s.MEDIA_ROOT = Path(os.environ["MEDIA_ROOT"])
s.CELERY_BROKER_TRANSPORT_OPTIONS = json.loads(os.environ["TEST_BROKER_TRANSPORT_OPTIONS"])
from celery.__main__ import main
sys.argv = ["celery", *sys.argv[1:]]
sys.exit(main())
"""


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class _Workers:
    """Start `celery worker` processes on this run's queues, each in its own process group."""

    def __init__(self, *, env: dict[str, str], queues: list[str], log_dir: Path) -> None:
        self.env, self.queues, self.log_dir = env, queues, log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, concurrency: int = 2) -> subprocess.Popen:
        log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                "-A",
                "wanweb",
                "worker",
                "-Q",
                ",".join(self.queues),
                "-P",
                "prefork",
                "-c",
                str(concurrency),
                "-n",
                f"reliability-{uuid.uuid4().hex[:6]}@%h",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            env=self.env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool processes: nothing gets to ack, reject or restore."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(proc)

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))


@pytest.fixture
def worker_processes(transactional_db, settings, tmp_path, monkeypatch):
    """A factory of worker subprocesses on an isolated broker keyspace with a 5 s visibility timeout.

    Broker keys get a per-test prefix (kombu's `global_keyprefix`), in this process too: the short
    visibility timeout makes a worker restore *every* unacked message older than 5 s in its keyspace,
    which must not touch another test run's (or a developer's worker's) messages on the same Redis.
    """
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: the worker subprocess must reach the test database, and an SQLite test "
            "database lives in this process's memory (run with DATABASE_URL=postgres://...)"
        )
    from wanweb.celery import app

    options = {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 1,  # sweep for expired unacked messages every second ...
        "unacked_restore_throttle": 1,  # ... not every 10 x 10 s (kombu's defaults)
        "global_keyprefix": f"{settings.TEST_QUEUE_PREFIX}-{uuid.uuid4().hex[:6]}:",
    }
    queues = list(settings.WORKER_QUEUES)  # polls, downloads, default: every queue the app sends to
    saved = app.conf.broker_transport_options
    app.conf.broker_transport_options = options
    app._pool = None  # the producer pools are keyed by connection options: make new ones
    app.amqp._producer_pool = None
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wanweb.settings_test",
        "WANWEB_TEST_QUEUE_PREFIX": settings.TEST_QUEUE_PREFIX,
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "DATABASE_URL": _test_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "TEST_BROKER_TRANSPORT_OPTIONS": json.dumps(options),
    }
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    workers = _Workers(env=env, queues=queues, log_dir=log_dir)
    try:
        yield workers
    finally:
        workers.stop_all()
        app.conf.broker_transport_options = saved
        app._pool = None
        app.amqp._producer_pool = None
        import redis

        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        keys = list(client.scan_iter(match=f"{options['global_keyprefix']}*"))
        if keys:
            client.delete(*keys)
        connection.close()  # the flush after the test must not wait on anything of ours


def _noisy_png(size: int = 256) -> bytes:
    """A PNG of a few hundred KB (noise does not compress), so a trickled download takes a while."""
    pixels = np.random.default_rng(7).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.celery
@pytest.mark.postgres
def test_a_worker_sigkilled_mid_download_recovers_after_restart_with_one_set_of_outputs(
    worker_processes, monkeypatch, settings, alice, acme_project
):
    data = _noisy_png()
    with FaultyFal(steps=()) as fake, TrickleServer() as files:
        _use_fake(monkeypatch, settings, fake)
        worker_processes.env.update(fake.environ)
        url = files.add("out.png", data, "image/png", slow_gets=1, slow_seconds=45)
        fake.output_url = lambda vendor_job: url
        first = worker_processes.start()

        job = _create(alice, acme_project)
        assert files.slow_started.wait(30), worker_processes.log()
        worker_processes.kill(first)  # mid-download: headers and the first bytes are in, the rest is not

        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING and job.result and not job.assets.filter(role=AssetRole.OUTPUT)
        killed_at = time.monotonic()
        worker_processes.start()
        wait_for(lambda: _finished(job), timeout=45)

    assert job.status == JobStatus.SUCCEEDED, (job.error_message, worker_processes.log())
    # The killed delivery came back only after the visibility timeout (acks_late: it was never acked).
    assert time.monotonic() - killed_at >= VISIBILITY_TIMEOUT - 1
    [output] = job.assets.filter(role=AssetRole.OUTPUT)
    assert output.sha256 == hashlib.sha256(data).hexdigest() == _sha256_on_disk(output.file.name)
    assert (output.width, output.height) == (256, 256)
    assert files.gets_of("out.png") == 2  # the killed download, then the redelivered one
    stored = sorted(default_storage.listdir(f"jobs/{job.public_id}")[1])
    assert stored == ["output-0-thumb.webp", "output-0.png"]
    assert job.events.filter(status=JobStatus.SUCCEEDED).count() == 1
    assert job.vendor_calls.filter(operation="download", http_status=200).count() == 1
    assert fake.accepted_submits == 1


def _received(log: str, task: str) -> int:
    """How many times the worker log says the one task id of `task` was received."""
    [task_id] = set(re.findall(rf"Task generations\.tasks\.{task}\[([0-9a-f-]+)\] received", log))
    return log.count(f"{task}[{task_id}] received")


@pytest.mark.celery
@pytest.mark.postgres
def test_a_store_retry_countdown_longer_than_a_5_s_visibility_timeout_still_stores_one_set_of_outputs(
    worker_processes, monkeypatch, settings, alice, acme_project
):
    data = _noisy_png(64)
    with FaultyFal(steps=()) as fake, TrickleServer() as files:
        _use_fake(monkeypatch, settings, fake)
        worker_processes.env.update(fake.environ)
        # Retry-After: 8 makes the store task's retry countdown 8 s, past the 5 s visibility timeout:
        # Redis hands the waiting retry out again (celery docs, "Redis caveats"), so it runs twice.
        url = files.add("out.png", data, "image/png", faults=[(429, {"Retry-After": "8"})])
        fake.output_url = lambda vendor_job: url
        worker_processes.start(concurrency=2)

        job = _create(alice, acme_project)
        wait_for(lambda: _finished(job), timeout=50)
        time.sleep(1.0)  # let a duplicate that lost the race finish before counting

    log = worker_processes.log()
    assert job.status == JobStatus.SUCCEEDED, (job.error_message, log)
    assert _received(log, "job_store_outputs_task") >= 3, log  # first try, retry, retry redelivered
    [output] = job.assets.filter(role=AssetRole.OUTPUT)
    assert output.sha256 == hashlib.sha256(data).hexdigest() == _sha256_on_disk(output.file.name)
    stored = sorted(default_storage.listdir(f"jobs/{job.public_id}")[1])
    assert stored == ["output-0-thumb.webp", "output-0.png"]  # no second copy, no renamed orphan
    assert job.events.filter(status=JobStatus.SUCCEEDED).count() == 1
    assert fake.accepted_submits == 1


@pytest.mark.celery
@pytest.mark.postgres
def test_a_submit_retry_countdown_longer_than_a_5_s_visibility_timeout_still_submits_once(
    worker_processes, monkeypatch, settings, alice, acme_project
):
    with FaultyFal(steps=()) as fake:
        _use_fake(monkeypatch, settings, fake)
        worker_processes.env.update(fake.environ)
        # Retry-After: 8 makes the submit task's retry countdown 8 s, past the 5 s visibility timeout.
        fake.submit_faults = [(429, {"detail": "Rate limit exceeded"}, {"Retry-After": "8"})]
        worker_processes.start(concurrency=2)

        job = _create(alice, acme_project)
        wait_for(lambda: _finished(job), timeout=50)
        time.sleep(1.0)  # let a duplicate that lost the race finish before counting

    log = worker_processes.log()
    assert job.status == JobStatus.SUCCEEDED, (job.error_message, log)
    assert _received(log, "job_submit_task") >= 3, log  # first try, retry, retry redelivered
    assert job.assets.filter(role=AssetRole.OUTPUT).count() == 1
    assert job.events.filter(status=JobStatus.SUCCEEDED).count() == 1
    assert fake.accepted_submits == 1, _submit_statuses(job)  # one request at fal: one charge
