"""Optional error reporting to Sentry when SENTRY_DSN is set (pip install "wanweb[sentry]").

No personal data (send_default_pii False), and every event goes through the same redaction as
log records before it leaves: vendor keys quoted in exception messages, locals, breadcrumbs.
"""

from __future__ import annotations

import logging

from wanweb.redaction import known_secrets

logger = logging.getLogger(__name__)


def _redact_tree(value, secrets: list[str]):
    from providers.redact import redact

    if isinstance(value, str):
        return redact(value, secrets, limit=None)
    if isinstance(value, dict):
        return {key: _redact_tree(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_tree(item, secrets) for item in value]
    return value


def before_send(event: dict, hint: dict | None = None) -> dict:
    """Redact every string of the event (messages, exception values, frame vars, breadcrumbs)."""
    return _redact_tree(event, known_secrets())


def init(dsn: str, *, environment: str = "", release: str = "") -> bool:
    """Start the SDK; False (and a warning) when sentry-sdk is not installed."""
    if not dsn:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.celery import CeleryIntegration
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError:
        logger.warning('SENTRY_DSN is set but sentry-sdk is not installed: pip install "wanweb[sentry]"')
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        send_default_pii=False,
        before_send=before_send,
        before_send_transaction=before_send,
        before_breadcrumb=lambda crumb, hint: _redact_tree(crumb, known_secrets()),
        integrations=[DjangoIntegration(), CeleryIntegration()],
        traces_sample_rate=0.0,
    )
    return True
