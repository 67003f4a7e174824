from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "wanweb.accounts"
    label = "accounts"
    verbose_name = "Teams and accounts"

    def ready(self) -> None:
        from wanweb import checks  # noqa: F401  (registers wanweb.E001)
