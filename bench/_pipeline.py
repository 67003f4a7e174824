"""Shared by notice_latency.py and inflight.py: a timed fake fal on loopback, a real worker, CPU.

The fake is tests/fakes/fal.py's FakeFal with time instead of call counts: a job answers
IN_PROGRESS until `duration` seconds after its submit (the duration is read from the prompt,
`... #dur=120`), then COMPLETED with a tiny MP4 served by the same server. It records when each
job was submitted, so notice lag = the app's "vendor finished" claim - (submit + duration).

With `deliver_webhooks`, the fake also does what fal does for a request submitted with
`?fal_webhook=` (shared/providers/fal.md §4): when the job's duration has passed it POSTs the
signed delivery (ED25519 over request id, user id, timestamp and body hash, verifiable with its
JWKS at FAL_JWKS_URL) to that URL, retries a refused one, and records when it sent it and what
the app answered.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import _common as common  # noqa: E402

from tests.fakes.fal import FakeFal, FakeRequest, tiny_mp4  # noqa: E402

MODEL = "wan/v2.6/text-to-video"
_DURATION = re.compile(r"#dur=(\d+(?:\.\d+)?)")


@dataclass
class Delivery:
    """One job's webhook as the fake sent it (unix seconds) and what the app answered."""

    due_at: float  # submit + duration: the moment the vendor "finished"
    sent_at: float = 0.0  # the first attempt's start
    answered_at: float = 0.0  # the last attempt's end
    http_status: int | None = None  # None: no answer (refused, timed out)
    known: bool = False  # the app's answer said it found the job (`{"ok": true, "known": true}`)
    attempts: int = 0


class TimedFal(FakeFal):
    WEBHOOK_ATTEMPTS = 3  # fal retries up to 10 times over 2 hours (§4); a bench needs a few
    WEBHOOK_RETRY_SECONDS = 1.0

    def __init__(self, *, deliver_webhooks: bool = False) -> None:
        super().__init__()
        self.submitted_at: dict[str, float] = {}
        self.duration: dict[str, float] = {}
        self.status_calls = 0
        self.result_calls: dict[str, int] = {}  # per job; a poll that saw COMPLETED fetches the result
        self.deliver_webhooks = deliver_webhooks
        self.deliveries: dict[str, Delivery] = {}
        self._webhook_client = None  # made on first delivery (see _deliver)
        self._mp4 = tiny_mp4()
        self._count_lock = threading.Lock()

    def _submit(self, request: FakeRequest) -> tuple:
        status, body = super()._submit(request)[:2]
        if status == 200:
            request_id = body["request_id"]
            found = _DURATION.search(str(request.json().get("prompt", "")))
            self.duration[request_id] = float(found[1]) if found else 5.0
            self.submitted_at[request_id] = time.time()
            if self.deliver_webhooks and self.jobs[request_id].webhook_url:
                due_at = self.submitted_at[request_id] + self.duration[request_id]
                self.deliveries[request_id] = Delivery(due_at=due_at)
                threading.Thread(target=self._deliver, args=(request_id,), daemon=True).start()
        return status, body

    def _deliver(self, request_id: str) -> None:
        """POST the signed delivery to the job's fal_webhook URL, as fal does when a request ends."""
        import httpx

        job, delivery = self.jobs[request_id], self.deliveries[request_id]
        # Wait on the wall clock, which the lag and the status endpoint are measured in: a
        # threading.Timer waits on the monotonic clock, and here the wall clock once ran 0.5%
        # faster (NTP slewing), which made every delivery 0.6 s late on a 120 s job.
        while (left := delivery.due_at - time.time()) > 0:
            time.sleep(min(left, 0.5))
        with self._count_lock:
            if self._webhook_client is None:
                # One client for every delivery: a new httpx client builds a TLS context (30-60 ms
                # of CPU here), which a vendor does not pay per callback and which would be counted
                # as the app's lag. No keep-alive: each delivery still opens its own connection.
                self._webhook_client = httpx.Client(
                    timeout=15.0,  # fal's delivery timeout (§4)
                    limits=httpx.Limits(max_keepalive_connections=0),
                )
        for attempt in range(self.WEBHOOK_ATTEMPTS):
            if attempt:
                time.sleep(self.WEBHOOK_RETRY_SECONDS)
            delivery.attempts = attempt + 1
            delivery.sent_at = delivery.sent_at or time.time()
            # Signed per attempt: the timestamp is part of the signed message.
            headers, body = self.signed_webhook(request_id, payload=self._payload(job))
            try:
                response = self._webhook_client.post(
                    job.webhook_url, content=body, headers={**headers, "Content-Type": "application/json"}
                )
                delivery.http_status = response.status_code
                delivery.known = response.is_success and response.json().get("known") is True
            except httpx.HTTPError:
                delivery.http_status = None
            delivery.answered_at = time.time()
            if delivery.http_status is not None and 200 <= delivery.http_status < 300:
                return

    def _done(self, request_id: str) -> bool:
        return time.time() >= self.submitted_at[request_id] + self.duration[request_id]

    def _status(self, request: FakeRequest) -> tuple:
        job = self._job(request)
        if job is None:
            return 404, {"detail": "Request not found"}
        with self._count_lock:
            self.status_calls += 1
        urls = self._urls(job)
        if not self._done(job.request_id):
            return 202, {"status": "IN_PROGRESS", "logs": [], **urls}
        return 200, {"status": "COMPLETED", "logs": [], **urls}

    def _result(self, request: FakeRequest) -> tuple:
        job = self._job(request)
        if job is None or not self._done(job.request_id):
            return 400, {"detail": "Request is still in progress"}
        with self._count_lock:
            self.result_calls[job.request_id] = self.result_calls.get(job.request_id, 0) + 1
        return 200, self._payload(job)

    def _payload(self, job) -> dict:
        """The model output: the result's body, and a webhook's `payload` (the one tiny MP4)."""
        path = f"{job.request_id}/out.mp4"
        self.files.setdefault(path, (self._mp4, "video/mp4"))
        file = {"url": f"{self.url}/files/{path}", "content_type": "video/mp4", "file_name": "out.mp4"}
        return {"video": file, "seed": 42}


def private_redis() -> tuple[str, subprocess.Popen]:
    import shutil
    import tempfile

    port = common.free_port()
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ],
        cwd=tempfile.mkdtemp(prefix="wanweb-bench-redis-"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    common.wait_for_port(port)
    return f"redis://127.0.0.1:{port}/0", process


def start_worker(
    env: dict[str, str], concurrency: int, name: str, queues: str | None = None, loglevel: str = "WARNING"
) -> subprocess.Popen:
    """One prefork worker on `queues` (default: every queue the app sends to, polls first)."""
    from django.conf import settings

    queues = queues or ",".join(settings.WORKER_QUEUES)
    log = (common.OUT / f"{name}-worker.log").open("w")
    celery = str(Path(sys.executable).with_name("celery"))
    return subprocess.Popen(
        [celery, "-A", "wanweb", "worker", "-Q", queues, "--pool", "prefork"]
        + ["--concurrency", str(concurrency), "--loglevel", loglevel]
        + ["--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=common.ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def start_web(env: dict[str, str], port: int, name: str, workers: int = 2) -> subprocess.Popen:
    """gunicorn as production runs it (the repo's gunicorn.conf.py: gthread x4) on 127.0.0.1:`port`."""
    log = (common.OUT / f"{name}-web.log").open("w")
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return subprocess.Popen(
        [gunicorn, "--config", "gunicorn.conf.py", "wanweb.wsgi:application"]
        + ["--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
        # worker pid, status, request line, milliseconds: read by web_requests()
        + ["--access-logformat", '%(p)s %(s)s "%(r)s" %(M)s'],
        cwd=common.ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def web_requests(name: str, path_prefix: str, offset: int = 0) -> list[tuple[str, float]]:
    """(gunicorn worker pid, milliseconds) of each request to `path_prefix` logged after byte `offset`."""
    log = common.OUT / f"{name}-web.log"
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    found = re.findall(r'^<(\d+)> \d{3} "\w+ (\S+) [^"]*" (\d+)$', text, flags=re.MULTILINE)
    return [(pid, float(ms)) for pid, url, ms in found if url.startswith(path_prefix)]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (a worker's main process: consumer, timer, poll dispatcher)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (the prefork pool), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid = int(fields[1])
        if int(entry.name) == pid or ppid == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def seed_history(project, user, *, shape_params: dict, seconds: float, count: int = 20) -> None:
    """Finished jobs the schedule learns from: `count` successes of `seconds` (+-0.3 s) of this shape."""
    import random
    from datetime import timedelta

    from django.utils import timezone

    from generations import schedule
    from generations.models import Job

    now = timezone.now()
    Job.objects.bulk_create(
        Job(
            team=project.team,
            project=project,
            created_by=user,
            provider="fal",
            model=MODEL,
            mode="t2v",
            prompt="history",
            params=shape_params,
            status="succeeded",
            shape=schedule.shape_of(shape_params),
            vendor_seconds=seconds + random.uniform(-0.3, 0.3),
            created_at=now - timedelta(minutes=10 + i),
            finished_at=now - timedelta(minutes=9 + i),
            updated_at=now - timedelta(minutes=9 + i),
        )
        for i in range(count)
    )


def environment(
    name: str, database_url: str | None, fake: TimedFal, **extra: Any
) -> tuple[dict, str, subprocess.Popen]:
    database_url = common.isolated_database_url(database_url, name)
    redis_url, redis_process = private_redis()
    overrides = {
        # A fresh checkout has no var/secret_key, and production settings refuse an empty key.
        "SECRET_KEY": os.environ.get("SECRET_KEY") or f"bench-{secrets.token_hex(16)}",
        "REDIS_URL": redis_url,
        "ALLOW_PRIVATE_URLS": "true",
        "WEBHOOKS_ENABLED": "false",  # polling only, unless `extra` turns webhooks on
        **fake.environ,
        **{k: str(v) for k, v in extra.items()},
    }
    env = common.bench_environ(database_url, name, **overrides)
    common.django_setup()
    common.migrate()
    return env, database_url, redis_process
