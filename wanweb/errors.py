"""The app's own error pages, with a next step, whether DEBUG is on or off.

Django shows its technical 404/403 pages (the URL list, the settings) whenever DEBUG is on
(`DEBUG=true make run`; `make run` itself runs without DEBUG). People follow used invite links and
links to deleted jobs there too, so FriendlyErrorPagesMiddleware renders our pages under DEBUG as well; without DEBUG, Django calls
the same views through handler404/handler403 (wanweb/urls.py). 500s keep Django's debug page
under DEBUG: that one is for developers.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode


class NotFound(Http404):
    """A 404 whose message is written for the person who sees it, with an optional next step."""

    def __init__(self, message: str, *, next_label: str = "", next_url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.next_label = next_label
        self.next_url = next_url


# Said when nothing more specific was raised: the first matching path prefix wins.
_NOT_FOUND_BY_PATH = [
    ("/jobs/", "This job does not exist: it may have been deleted, or it belongs to another team."),
    ("/projects/", "This project does not exist, or it belongs to a team you are not in."),
    ("/collections/", "This collection does not exist: it may have been deleted."),
    ("/files/", "This file does not exist: its job may have been deleted."),
    ("/invite/", "This invite link is not valid."),
]
_NOT_FOUND_DEFAULT = "This page does not exist, or you do not have access to it."


def _default_next_step(request: HttpRequest) -> tuple[str, str]:
    if request.user.is_authenticated:
        return "Go to your projects", reverse("home")
    return "Log in", f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}"


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    label, url = _default_next_step(request)
    if isinstance(exception, NotFound):
        message = exception.message
        label, url = exception.next_label or label, exception.next_url or url
    else:
        message = next((m for prefix, m in _NOT_FOUND_BY_PATH if request.path.startswith(prefix)), None)
        message = message or _NOT_FOUND_DEFAULT
    if url.startswith(reverse("login")) and request.path.startswith("/invite/"):
        url = reverse("login")  # coming back to a dead invite after logging in helps nobody
    context = {"message": message, "next_label": label, "next_url": url}
    return render(request, "404.html", context, status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception is not None and str(exception) else ""
    label, url = _default_next_step(request)
    context = {
        "message": message or "Your role in this team does not allow it. Ask an owner or admin.",
        "next_label": label,
        "next_url": url,
    }
    return render(request, "403.html", context, status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form sent from a page open too long, or after logging in elsewhere."""
    label, url = _default_next_step(request)
    context = {
        "message": "This form has expired (the page was open a long time, or you logged in or out in "
        "another tab). Go back, reload the page and send it again.",
        "next_label": label,
        "next_url": url,
    }
    return render(request, "403.html", context, status=403)


class FriendlyErrorPagesMiddleware:
    """Under DEBUG, our 404 and 403 pages instead of Django's technical ones (see the module doc)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A URL that matched no pattern: Django answered with its technical 404 before any view ran.
        if settings.DEBUG and response.status_code == 404 and request.resolver_match is None:
            response = not_found(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not settings.DEBUG:
            return None  # Django calls handler404/handler403 itself (and logs the response)
        if isinstance(exception, Http404):
            return not_found(request, exception)
        if isinstance(exception, PermissionDenied):
            return permission_denied(request, exception)
        return None
