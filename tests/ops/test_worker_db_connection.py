"""A Celery worker keeps its database connection between tasks, and replaces a dead one.

Celery's Django fixup used to close every connection before and after each task, so each poll
opened a new PostgreSQL connection (bench/job_cpu.py). wanweb/celery.py now applies Django's
per-request rule around tasks instead (CONN_MAX_AGE, health checks).
"""

from __future__ import annotations

from types import SimpleNamespace

import psycopg
import pytest
from celery.signals import task_postrun, task_prerun
from django.contrib.auth import get_user_model
from django.db import connection

from wanweb.celery import app


class _Task:
    """Stands in for a Celery task as the signals' sender (hashable, like a real one)."""

    name = "test.task"

    def __init__(self, *, eager: bool) -> None:
        self.request = SimpleNamespace(is_eager=eager)


_TASK = _Task(eager=False)


def _run_task() -> int:
    """What the worker does around one task body: prerun signal, a query, postrun signal."""
    task_prerun.send(sender=_TASK, task_id="t", task=_TASK, args=(), kwargs={})
    count = get_user_model().objects.count()
    task_postrun.send(sender=_TASK, task_id="t", task=_TASK, args=(), kwargs={}, retval=None, state="SUCCESS")
    return count


def test_celerys_fixup_no_longer_closes_connections_after_every_task():
    assert app.conf.get("CELERY_DB_REUSE_MAX") >= 10**6


@pytest.mark.postgres
def test_tasks_reuse_the_connection_and_replace_one_postgresql_terminated(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (run with DATABASE_URL=postgres://...)")
    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    _run_task()
    pid = connection.connection.info.backend_pid
    _run_task()
    assert connection.connection.info.backend_pid == pid  # kept: no new connection per task

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The health check before reuse finds it dead: the task runs on a new connection.
    assert _run_task() == 0
    assert connection.connection.info.backend_pid != pid


def test_an_eager_task_leaves_the_callers_connection_alone(db, monkeypatch):
    closed = []
    monkeypatch.setattr("django.db.close_old_connections", lambda **kw: closed.append(1))
    eager = _Task(eager=True)
    task_prerun.send(sender=eager, task_id="t", task=eager, args=(), kwargs={})
    assert closed == []
    task_prerun.send(sender=_TASK, task_id="t", task=_TASK, args=(), kwargs={})
    assert closed == [1]
