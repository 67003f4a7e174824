"""Worker heartbeats in Redis: each worker writes one key every 15 s (expiring after 2 minutes).

`/readyz` and the admin System page count the workers heard from within the last minute. The
beat runs on the worker's own timer (a bootstep, wanweb/celery.py), so a worker whose event loop
is stuck stops beating too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time

import redis
from celery import bootsteps
from django.conf import settings

logger = logging.getLogger(__name__)

INTERVAL = 15.0  # seconds between beats
TTL = 120  # a worker gone without a word disappears from Redis after this
RECENT = 60.0  # heard within this many seconds: counted as alive


def redis_client() -> redis.Redis:
    """A short-timeout client for the app's Redis (the broker): probes never hang a request."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def _key(hostname: str) -> str:
    return f"{settings.OPS_HEARTBEAT_PREFIX}{hostname}"


def beat(*, hostname: str, queues: list[str], client: redis.Redis | None = None, now: float | None = None):
    payload = {"hostname": hostname, "queues": queues, "pid": os.getpid(), "at": now or time.time()}
    (client or redis_client()).set(_key(hostname), json.dumps(payload), ex=TTL)


def forget(*, hostname: str) -> None:
    redis_client().delete(_key(hostname))


def recent(
    *, client: redis.Redis | None = None, within: float = RECENT, now: float | None = None
) -> list[dict]:
    """The workers heard from within `within` seconds, newest first (each with its `age` in seconds)."""
    client = client or redis_client()
    keys = list(client.scan_iter(match=f"{settings.OPS_HEARTBEAT_PREFIX}*", count=200))
    now = now or time.time()
    found = []
    for raw in client.mget(keys) if keys else []:
        if raw is None:
            continue
        try:
            item = json.loads(raw)
            age = now - float(item["at"])
        except (ValueError, KeyError, TypeError):
            continue
        if age <= within:
            found.append({**item, "age": round(max(age, 0.0), 1)})
    return sorted(found, key=lambda item: item["age"])


class HeartbeatStep(bootsteps.StartStopStep):
    """Worker bootstep: beat now, then every INTERVAL seconds on the worker's timer."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        self._beat(worker)
        self.tref = worker.timer.call_repeatedly(INTERVAL, self._beat, (worker,), priority=10)

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        with contextlib.suppress(redis.RedisError):
            forget(hostname=worker.hostname)

    def _beat(self, worker):
        try:
            queues = sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
            beat(hostname=worker.hostname, queues=queues)
        except redis.RedisError as exc:  # Redis restarting: the next beat tries again
            logger.warning("worker heartbeat not written: %s", exc)
