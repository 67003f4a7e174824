import os

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_shutdown,
)

from wanweb.ops import kombu_workaround

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wanweb.settings")

kombu_workaround.install()  # a Redis restart must not kill the worker (see the module)

app = Celery("wanweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Celery's Django fixup closes every database connection before and after each task unless this
# is set, so each poll paid a new PostgreSQL connection (~3 ms of worker CPU, bench/job_cpu.py).
# Set high enough that the fixup never closes them itself; _database_connections_like_requests
# below applies Django's own rule instead (CONN_MAX_AGE, health checks, closed after errors).
app.conf.CELERY_DB_REUSE_MAX = 10**9
app.steps["worker"].add("wanweb.ops.heartbeat:HeartbeatStep")  # /readyz and Admin > System count these
app.steps["worker"].add("generations.dispatch:PollDispatcherStep")  # sends due polls (polls queue)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_worker_logs(logger, **kwargs):
    """The worker replaces the root logger's handlers with its own: redact those too."""
    from django.conf import settings

    from wanweb.ops.logs import formatter_for
    from wanweb.redaction import install_on

    install_on(logger.handlers)
    if settings.LOG_FORMAT == "json":
        for handler in logger.handlers:
            handler.setFormatter(formatter_for("json"))


@worker_init.connect
def _patient_publishing(**kwargs):
    """In a worker, a task that enqueues the next step waits out a broker restart (settings)."""
    from django.conf import settings

    app.conf.task_publish_retry_policy = settings.WORKER_PUBLISH_RETRY_POLICY


@worker_process_shutdown.connect
def _close_vendor_clients(**kwargs):
    """Each prefork child keeps its own vendor clients (providers.http.pooled_client): close them."""
    from providers.http import close_pool

    close_pool()


@task_prerun.connect
@task_postrun.connect
def _database_connections_like_requests(sender=None, **kwargs):
    """A task is a request: drop connections that are too old (CONN_MAX_AGE), broken, or failed.

    What Django does around each HTTP request. On SQLite (CONN_MAX_AGE 0) every task still gets a
    fresh connection; on PostgreSQL a worker process keeps one for up to DB_CONN_MAX_AGE seconds,
    checked before reuse (conn_health_checks), so a restarted database costs one retry at most.
    """
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # run inline (tests, .apply()): the caller's connection and transaction are not ours
    from django.db import close_old_connections

    close_old_connections()
