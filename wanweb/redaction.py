"""The app's side of redaction: which secrets it holds, and a logging filter (shared/RELIABILITY.md §9).

`providers.redact.redact()` does the work; this module supplies the secrets the app is
configured with. Use `redact_text()` on anything a vendor said before it reaches a row, a page
or a log line.

Per-team vendor keys (stored encrypted, added by a later change) plug in with
`register_secret_source(fn)`: `fn()` returns the plaintext keys currently in use. It is called
for every redaction, including every log record, so it must be cheap (cache, never query per
call).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from django.conf import settings

from providers import registry
from providers.redact import redact

# Environment variables whose values are secrets: every vendor key (FAL_KEY, *_API_KEY), webhook
# secrets, and the usual names of anything else secret (S3 keys, SENTRY_DSN, passwords).
_SECRET_NAME = re.compile(r"(^|_)(API_KEY|KEY|SECRET|SECRET_KEY|TOKEN|PASSWORD|DSN)$")
# URLs whose password part is a secret.
_URL_NAMES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")

_sources: list[Callable[[], Iterable[str]]] = []


def register_secret_source(source: Callable[[], Iterable[str]]) -> None:
    """Add a supplier of more secrets (per-team keys); it must be cheap, see the module docstring."""
    if source not in _sources:
        _sources.append(source)


def unregister_secret_source(source: Callable[[], Iterable[str]]) -> None:
    if source in _sources:
        _sources.remove(source)


def _environ_names() -> tuple:
    """The environment's variable names, cheaply: os.environ's own (encoded) keys, not decoded.

    known_secrets() runs for every redaction and log record; decoding and matching every variable
    each time was most of its cost (bench/job_cpu.py). The names are matched once per set of names
    (`_secret_names`), the values are still read on every call, so a changed value is seen at once.
    """
    raw = getattr(os.environ, "_data", None)
    return tuple(raw) if raw is not None else tuple(os.environ)


@functools.lru_cache(maxsize=16)
def _secret_names(encoded_names: tuple) -> tuple[str, ...]:
    vendor_vars = {key_var for _, key_var, _, _ in registry.PROVIDERS.values() if key_var}
    vendor_vars.add("LUMENFALL_WEBHOOK_SECRET")
    decode = getattr(os.environ, "decodekey", lambda name: name)
    names = (decode(name) for name in encoded_names)
    return tuple(name for name in names if name in vendor_vars or _SECRET_NAME.search(name))


def known_secrets() -> list[str]:
    """Every secret the app is configured with: vendor keys, webhook secrets, SECRET_KEY, URL passwords."""
    found: list[str] = []
    for name in _secret_names(_environ_names()):
        value = os.environ.get(name)
        if value:
            found.append(value)
    for name in _URL_NAMES:
        try:
            password = urlsplit(os.environ.get(name, "")).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    # gunicorn's master logs before any Django setup (wanweb/ops/gunicorn_logging.py): no settings yet.
    secret_key = getattr(settings, "SECRET_KEY", "") if settings.configured else ""
    if secret_key:
        found.append(secret_key)
    for source in list(_sources):
        try:
            found.extend(s for s in source() if s)
        # A broken source must not take logging down with it (and logging here would recurse).
        except Exception:  # noqa: S112
            continue
    return found


# Two kinds of our URLs carry a secret in their path: public share links (`/s/<token>/...`) and
# the signed input files vendors fetch (`/inputs/<token>/`). Log lines name paths (Django's
# "Not Found: /s/...", gunicorn's access log), and a share token is a random string that the
# shape-based redaction misses now and then (one without a digit), so the path rule is explicit.
_TOKEN_IN_PATH = re.compile(r"(/(?:s|inputs)/)[^/?#\s\"']+")


def redact_token_paths(text: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1[redacted]", text)


def redact_text(text: object, *, limit: int | None = 500) -> str:
    """`text` with every known secret and credential-shaped token replaced, capped at `limit` chars."""
    if text is None or text == "":
        return (
            ""  # nothing to hide; known_secrets() reads the whole environment (most VendorCall errors are "")
        )
    return redact(text, known_secrets(), limit=limit)


class RedactingFilter(logging.Filter):
    """Redacts every log record in place (message, arguments, traceback), before any handler formats it.

    Installed on the handlers in settings.LOGGING and on Celery's own handlers (wanweb/celery.py).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_wanweb_redacted", False):
            return True
        secrets = known_secrets()
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: log what we have rather than lose the record
            message = f"{record.msg} {record.args}"
        record.msg = redact(redact_token_paths(message), secrets, limit=None)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets, limit=None)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets, limit=None)
        record._wanweb_redacted = True
        return True


def install_on(handlers: Iterable[logging.Handler]) -> None:
    """Add the filter to handlers set up outside settings.LOGGING (Celery's worker logging)."""
    for handler in handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
