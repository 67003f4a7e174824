"""Login and invite-link throttling on top of django-axes (docs/ARCHITECTURE.md "Access").

Axes counts failed logins per (username, client address) through Django's `user_login_failed`
signal and refuses that pair for AXES_COOLOFF_TIME after AXES_FAILURE_LIMIT failures, even with
the right password. Invite links are throttled the same way: an unknown invite token counts as one
failure of the pseudo-user INVITE_USERNAME from that address, so guessing tokens stops after a
few tries. Operators unlock by deleting the "Access attempts" rows in Django admin.
"""

from __future__ import annotations

import math

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off
from django.contrib.auth.signals import user_login_failed
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

# The username axes records for failed invite tokens (not a valid username: it has spaces).
INVITE_USERNAME = "(invite link)"
INVITE_CREDENTIALS = {"username": INVITE_USERNAME}
LOCKED_STATUS = 429


def invite_allowed(request: HttpRequest) -> bool:
    return AxesProxyHandler.is_allowed(request, INVITE_CREDENTIALS)


def invite_failed(request: HttpRequest) -> None:
    """Count one unknown invite token against this client (the axes middleware answers the lockout)."""
    user_login_failed.send(sender=__name__, credentials=INVITE_CREDENTIALS, request=request)


def minutes_left(request: HttpRequest, credentials: dict | None = None) -> int:
    """Whole minutes (at least 1) until this client may try again: cool-off after the last failure."""
    cool_off = get_cool_off(request)
    AxesProxyHandler.update_request(request)
    attempts = AxesProxyHandler.get_implementation().get_user_attempts(request, credentials)
    latest = max(
        (when for qs in attempts if (when := qs.aggregate(last=Max("attempt_time"))["last"])), default=None
    )
    left = (latest + cool_off - timezone.now()) if latest else cool_off
    return max(1, math.ceil(left.total_seconds() / 60))


def lockout_message(minutes: int) -> str:
    return f"Too many failed attempts: try again in {minutes} minute{'' if minutes == 1 else 's'}."


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login form with the message, or a page of our own (429, not a bare 403)."""
    message = lockout_message(minutes_left(request, credentials))
    if request.path == reverse("login"):
        context = {
            "lockout_message": message,
            "username": get_client_username(request, credentials) or "",
            "next": request.POST.get("next", ""),
        }
        return render(request, "registration/login.html", context, status=LOCKED_STATUS)
    return render(request, "registration/locked_out.html", {"lockout_message": message}, status=LOCKED_STATUS)
