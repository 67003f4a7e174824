"""Reads for /readyz and the admin System page: database, Redis, workers, queues, jobs."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count
from django.utils import timezone

from generations.models import ACTIVE_STATUSES, Job, JobStatus
from wanweb.ops import heartbeat


def queue_names() -> list[str]:
    """The Celery queues the app sends to: the default one and every routed one."""
    names = [settings.CELERY_TASK_DEFAULT_QUEUE]
    for route in settings.CELERY_TASK_ROUTES.values():
        if route.get("queue") and route["queue"] not in names:
            names.append(route["queue"])
    return names


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def queue_depths(client: redis.Redis) -> dict[str, int]:
    """Messages waiting in each queue (kombu keeps a queue as a Redis list of its name)."""
    pipe = client.pipeline()
    names = queue_names()
    for name in names:
        pipe.llen(name)
    return dict(zip(names, pipe.execute(), strict=True))


def unacked_count(client: redis.Redis) -> int:
    """Messages handed to workers and not yet acknowledged (running, or waiting for a countdown)."""
    return int(client.hlen("unacked"))


def jobs_by_status() -> dict[str, int]:
    counts = dict(Job.objects.order_by().values_list("status").annotate(n=Count("id")))
    return {status.value: counts.get(status.value, 0) for status in JobStatus}


def oldest_job(*, statuses) -> Job | None:
    return (
        Job.objects.filter(status__in=statuses)
        .select_related("team", "project")
        .order_by("created_at", "id")
        .first()
    )


def oldest_queued_age() -> float | None:
    job = oldest_job(statuses=[JobStatus.QUEUED])
    return None if job is None else round((timezone.now() - job.created_at).total_seconds(), 1)


def readiness() -> tuple[bool, dict]:
    """Every dependency a request or a job needs; (ready, report). Errors are named, never quoted."""
    checks: dict[str, dict] = {}
    started = time.monotonic()
    checks["database"] = {"ok": database_ok()}
    client = heartbeat.redis_client()
    try:
        client.ping()
        checks["redis"] = {"ok": True}
    except redis.RedisError as exc:
        checks["redis"] = {"ok": False, "error": type(exc).__name__}
    if checks["redis"]["ok"]:
        try:
            workers = heartbeat.recent(client=client)
            checks["workers"] = {
                "ok": bool(workers),
                "count": len(workers),
                "within_seconds": heartbeat.RECENT,
            }
        except redis.RedisError as exc:
            checks["workers"] = {"ok": False, "error": type(exc).__name__}
    else:
        checks["workers"] = {"ok": False, "error": "redis unavailable"}
    if checks["database"]["ok"]:
        age = oldest_queued_age()
        limit = settings.READYZ_MAX_QUEUED_SECONDS
        checks["queue"] = {
            "ok": not (limit and age is not None and age > limit),
            "oldest_queued_seconds": age,
        }
        if limit:
            checks["queue"]["limit_seconds"] = limit
    else:
        checks["queue"] = {"ok": False, "error": "database unavailable"}
    failed = [name for name, check in checks.items() if not check["ok"]]
    report = {
        "status": "fail" if failed else "ok",
        "failed": failed,
        "checks": checks,
        "took_ms": round((time.monotonic() - started) * 1000, 1),
    }
    return not failed, report


def system_overview() -> dict:
    """The figures of the admin System page."""
    client = heartbeat.redis_client()
    broker: dict = {"ok": True}
    try:
        broker["queues"] = queue_depths(client)
        broker["unacked"] = unacked_count(client)
        workers = heartbeat.recent(client=client)
    except redis.RedisError as exc:
        broker = {"ok": False, "error": type(exc).__name__}
        workers = []
    oldest = oldest_job(statuses=ACTIVE_STATUSES)
    return {
        "broker": broker,
        "workers": workers,
        "jobs_by_status": jobs_by_status(),
        "oldest_active": oldest,
        "oldest_active_age": None if oldest is None else timezone.now() - oldest.created_at,
    }
