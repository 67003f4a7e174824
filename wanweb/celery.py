import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_init, worker_process_shutdown

from wanweb.ops import kombu_workaround

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wanweb.settings")

kombu_workaround.install()  # a Redis restart must not kill the worker (see the module)

app = Celery("wanweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
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
