import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wanweb.settings")

app = Celery("wanweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_worker_logs(logger, **kwargs):
    """The worker replaces the root logger's handlers with its own: redact those too."""
    from wanweb.redaction import install_on

    install_on(logger.handlers)


@worker_process_shutdown.connect
def _close_vendor_clients(**kwargs):
    """Each prefork child keeps its own vendor clients (providers.http.pooled_client): close them."""
    from providers.http import close_pool

    close_pool()
