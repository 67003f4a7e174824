"""System checks of the accounts app: the keys that encrypt teams' vendor keys (crypto.py)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from wanweb.accounts import crypto


@register()
def field_encryption_keys(app_configs=None, **kwargs):
    keys = crypto.configured_keys()
    if not keys:
        if settings.DEBUG:
            return []  # settings generated a local key (var/field_encryption_key)
        return [
            Error(
                "FIELD_ENCRYPTION_KEYS is not set.",
                hint="Set it (or FIELD_ENCRYPTION_KEYS_FILE) to one or more Fernet keys, newest first, "
                "comma-separated; make one with python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'. `make run` generates one into "
                "var/field_encryption_key; it encrypts teams' vendor keys, so keep it.",
                id="accounts.E001",
            )
        ]
    return [
        Error(problem, hint="Each key is 44 characters of url-safe base64.", id="accounts.E002")
        for problem in crypto.key_problems(keys)
    ]
