"""Typed readers for query and form parameters that are not worth a Form (shared/RELIABILITY.md §10).

Each returns None (or the default) for anything it cannot read, never raises: views decide
whether garbage means "ignore it" or a 400.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme

MAX_NEXT_CHARS = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def get_uuid(data: Mapping[str, str], name: str) -> uuid.UUID | None:
    """The parameter as a UUID; None when absent or not a UUID."""
    value = data.get(name)
    if not value or len(value) > 64:
        return None
    try:
        return uuid.UUID(value.strip())
    except (ValueError, AttributeError, TypeError):
        return None


def get_datetime(data: Mapping[str, str], name: str) -> dt.datetime | None:
    """The parameter as an aware datetime (ISO 8601; naive means UTC); None when unreadable."""
    value = data.get(name)
    if not value or len(value) > 64:
        return None
    try:
        parsed = parse_datetime(value.strip())
    except (ValueError, TypeError, OverflowError):  # well-formed but impossible: month 13, hour 25
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, dt.UTC)
    return parsed


def get_flag(data: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    """ "1" is True, "0" is False, anything else the default."""
    value = data.get(name)
    return {"1": True, "0": False}.get(value or "", default)


def get_choice(data: Mapping[str, str], name: str, choices) -> str | None:
    """The parameter when it is one of `choices`, else None."""
    value = data.get(name)
    return value if value in choices else None


def safe_next(value: str | None, *, host: str, fallback: str) -> str:
    """A same-site path to go back to after a POST, or `fallback` for anything else."""
    if not value or len(value) > MAX_NEXT_CHARS or _CONTROL.search(value):
        return fallback
    if not value.startswith("/") or value.startswith("//"):
        return fallback
    if not url_has_allowed_host_and_scheme(value, allowed_hosts={host}):
        return fallback
    return value
