from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "wanweb.api"
    label = "api"
    verbose_name = "Public API"

    def ready(self) -> None:
        from generations import signals
        from wanweb.api import webhooks

        signals.job_finished.connect(webhooks.on_job_finished, dispatch_uid="api-webhooks")
