"""wanweb's own system checks (registered when the accounts app is ready)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security)
def secret_key_is_set(app_configs=None, **kwargs):
    """wanweb.E001: outside DEBUG, a SECRET_KEY of the operator's own, never the one in the repository."""
    if settings.DEBUG:
        return []
    try:
        key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty SECRET_KEY
        key = ""
    if key and key != getattr(settings, "DEVELOPMENT_SECRET_KEY", None):
        return []
    return [
        Error(
            "SECRET_KEY is not set and DEBUG is off: sessions, CSRF tokens and signed links need a key "
            "of this installation's own.",
            hint=(
                "Set SECRET_KEY (or SECRET_KEY_FILE, a file holding it) to a long random value, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`. `make run` and `make serve` "
                "generate one into var/secret_key; `python scripts/services.py secret-key` does only that. "
                "For local development only, DEBUG=true falls back to a development key."
            ),
            id="wanweb.E001",
        )
    ]
