from django.apps import AppConfig


class QuotasConfig(AppConfig):
    name = "wanweb.quotas"
    label = "quotas"
    verbose_name = "Quotas and spend"
