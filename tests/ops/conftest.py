"""A private redis-server (not the shared :6379) that a test may stop and start, and worker subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """redis-server on a free port; `persistent`: with an append-only file, so a restart keeps its queues.

    Without it the server keeps nothing on disk: killed and started again, it comes back empty,
    as a Redis without persistence (or one that lost its disk) does.
    """

    def __init__(self, workdir: Path, *, persistent: bool = True) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.persistent = persistent
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                *(
                    ["--appendonly", "yes", "--appendfsync", "always"]
                    if self.persistent
                    else ["--appendonly", "no"]
                ),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 10
        while not _pong(self.port):
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # a clean shutdown: the AOF is complete
            self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to the clients; without persistence every queue is gone."""
        assert self.proc is not None and self.proc.poll() is None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None


def _redis_server(tmp_path: Path, *, persistent: bool):
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server on PATH")
    server = PrivateRedis(tmp_path, persistent=persistent)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_redis(tmp_path):
    yield from _redis_server(tmp_path, persistent=True)


@pytest.fixture
def ephemeral_redis(tmp_path):
    """A private redis-server that keeps nothing on disk (see PrivateRedis)."""
    yield from _redis_server(tmp_path, persistent=False)


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# The worker process: the test settings, plus the broker options of the test (no environment
# variable carries them) and the test's MEDIA_ROOT (settings_test pins it). TEST_POLL_LEASE_SECONDS
# shortens the poll dispatcher's lease (generations/dispatch.py LEASE, 30 s) so a test can wait it out.
_WORKER = """
import json, os, sys
from datetime import timedelta
from pathlib import Path
import wanweb.settings_test as s
s.MEDIA_ROOT = Path(os.environ["MEDIA_ROOT"])
s.CELERY_BROKER_TRANSPORT_OPTIONS = json.loads(os.environ["TEST_BROKER_TRANSPORT_OPTIONS"])
if os.environ.get("TEST_POLL_LEASE_SECONDS"):
    from generations import dispatch
    assert isinstance(dispatch.LEASE, timedelta), "generations.dispatch.LEASE is gone: update the tests"
    dispatch.LEASE = timedelta(seconds=float(os.environ["TEST_POLL_LEASE_SECONDS"]))
from celery.__main__ import main
sys.argv = ["celery", *sys.argv[1:]]
sys.exit(main())
"""


class WorkerProcess:
    def __init__(self, *, env: dict[str, str], queues: list[str], log: Path) -> None:
        self.env, self.queues, self.log_path = env, queues, log
        self.proc: subprocess.Popen | None = None

    def start(self, concurrency: int = 2) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
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
                f"ops-{uuid.uuid4().hex[:6]}@%h",
                "--loglevel",
                "INFO",
            ],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def point_app_at(app, broker_url: str, transport_options: dict) -> None:
    """This process's Celery app (the web side that enqueues) on another broker."""
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = transport_options
    app._pool = None  # producer pools are keyed by connection options: make new ones
    app.amqp._producer_pool = None


def _worker_on(redis: PrivateRedis, settings, tmp_path: Path):
    from wanweb.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    options = {
        **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        "visibility_timeout": 5,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    settings.CELERY_BROKER_URL = settings.REDIS_URL = redis.url
    point_app_at(app, redis.url, options)
    queues = list(settings.WORKER_QUEUES)  # polls, downloads, default: every queue the app sends to
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wanweb.settings_test",
        "WANWEB_TEST_QUEUE_PREFIX": settings.TEST_QUEUE_PREFIX,
        "REDIS_URL": redis.url,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "SIMULATOR_STATE_DIR": str(tmp_path / "simulator"),
        "TEST_BROKER_TRANSPORT_OPTIONS": json.dumps(options),
    }
    worker = WorkerProcess(env=env, queues=queues, log=tmp_path / "worker.log")
    try:
        yield worker
    finally:
        worker.stop()
        point_app_at(app, *saved)
        connection.close()


@pytest.fixture
def worker_on_private_redis(transactional_db, private_redis, settings, tmp_path):
    """A `celery worker` subprocess (prefork) on the private Redis, and this process enqueueing there.

    The visibility timeout is 5 s (a private Redis: no one else's messages to restore early), so
    messages the worker held when Redis went away come back within the test. Add to `worker.env`
    before `worker.start()` for more (vendor URLs, TEST_POLL_LEASE_SECONDS).
    """
    yield from _worker_on(private_redis, settings, tmp_path)


@pytest.fixture
def worker_on_ephemeral_redis(transactional_db, ephemeral_redis, settings, tmp_path):
    """The same worker on a Redis that keeps nothing on disk: what it held at a kill is gone for good."""
    yield from _worker_on(ephemeral_redis, settings, tmp_path)
