"""The wanweb Celery app with per-task CPU accounting, for bench/job_cpu.py (`celery -A _cpu_worker`).

For every task run in a pool process it appends one JSON line to $CPU_LOG: the task name, the
process CPU between task_prerun and task_postrun (the task body, its SQL client work, the
apply_async of the next step, and the poll threads a batch of polls runs its vendor calls on: a
pool process runs one task at a time, so its CPU is that task's), the part of it spent decoding media in-process (PyAV poster frame,
Pillow thumbnail and probe: `providers.media` calls, wrapped here), the CPU of waited-for child
processes, the SQL statements run and the commits made. Celery's own receive/ack around a task is
outside these signals; job_cpu.py reports the whole worker tree's CPU as well. With $CPU_PROFILE
set to a directory, each task name is also profiled (cProfile, which inflates the CPU figures:
use one run for the figures and another for the profile).
"""

from __future__ import annotations

import json
import os
import resource
import time

from celery.signals import task_postrun, task_prerun, worker_process_init

from wanweb.celery import app  # noqa: F401 (what `celery -A _cpu_worker` loads)

_WRITES = ("INSERT", "UPDATE", "DELETE")
_counts = {"queries": 0, "commits": 0, "media": 0.0}
_started: dict[str, tuple[float, float, float]] = {}
_profiles: dict = {}  # task name -> cProfile.Profile, when $CPU_PROFILE names a directory


def _count_sql(execute, sql, params, many, context):
    from django.db import connection

    _counts["queries"] += 1
    if not connection.in_atomic_block and sql.lstrip()[:6].upper() in _WRITES:
        _counts["commits"] += 1  # autocommit: the statement is its own transaction
    return execute(sql, params, many, context)


def _timed_media(function):
    def wrapper(*args, **kwargs):
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            _counts["media"] += time.thread_time() - started

    return wrapper


@worker_process_init.connect
def _instrument(**kwargs):
    from django.db import connection
    from django.db.backends.base.base import BaseDatabaseWrapper

    from providers import media

    connection.execute_wrappers.append(_count_sql)
    commit = BaseDatabaseWrapper.commit

    def counted_commit(self):
        _counts["commits"] += 1
        return commit(self)

    BaseDatabaseWrapper.commit = counted_commit
    for name in ("probe", "video_poster", "make_thumbnail", "reencode_image"):
        setattr(media, name, _timed_media(getattr(media, name)))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@task_prerun.connect
def _before(task_id, task, **kwargs):
    _counts.update(queries=0, commits=0, media=0.0)
    if os.environ.get("CPU_PROFILE"):
        import cProfile

        _profiles.setdefault(task.name, cProfile.Profile(time.thread_time)).enable()
    _started[task_id] = (time.process_time(), _children_cpu(), time.monotonic())


@task_postrun.connect
def _after(task_id, task, args=None, **kwargs):
    cpu, children, wall = _started.pop(task_id, (None, 0.0, 0.0))
    cpu_now = time.process_time()
    if cpu is None:
        return
    record = {
        "task": task.name.rsplit(".", 1)[-1],
        "job": (args or [None])[0],
        # job_poll_batch_task's one argument is its polls, [[job_id, token, sequence], ...]
        "jobs": [poll[0] for poll in args[0]] if task.name.endswith("job_poll_batch_task") else None,
        "cpu_ms": (cpu_now - cpu) * 1000,
        "media_ms": _counts["media"] * 1000,
        "children_ms": (_children_cpu() - children) * 1000,
        "wall_ms": (time.monotonic() - wall) * 1000,
        "queries": _counts["queries"],
        "commits": _counts["commits"],
        "state": kwargs.get("state"),
    }
    with open(os.environ["CPU_LOG"], "a") as log:
        log.write(json.dumps(record) + "\n")
    if task.name in _profiles:
        profile = _profiles[task.name]
        profile.disable()
        profile.dump_stats(f"{os.environ['CPU_PROFILE']}/{record['task']}-{os.getpid()}.prof")
