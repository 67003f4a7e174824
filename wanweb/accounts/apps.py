from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "wanweb.accounts"
    label = "accounts"
    verbose_name = "Teams and accounts"

    def ready(self) -> None:
        from wanweb import checks  # noqa: F401  (registers wanweb.E001)
        from wanweb.accounts import checks as accounts_checks  # noqa: F401 (registers accounts.E001)
        from wanweb.accounts import vendor_keys
        from wanweb.redaction import register_secret_source

        # Teams' decrypted vendor keys are hidden from logs, rows and pages like the operator's.
        register_secret_source(vendor_keys.plaintext_secrets)
