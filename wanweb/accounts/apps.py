from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "wanweb.accounts"
    label = "accounts"
    verbose_name = "Teams and accounts"
