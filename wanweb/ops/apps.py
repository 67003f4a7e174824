from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "wanweb.ops"
    label = "ops"
    verbose_name = "Operations"
