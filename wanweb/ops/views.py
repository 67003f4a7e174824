"""Health probes and the admin System page."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from wanweb.ops import selectors


@require_GET
@never_cache
def healthz(request) -> HttpResponse:
    """The process is up and answering (no database, no Redis): for a liveness probe."""
    return HttpResponse("ok", content_type="text/plain")


@require_GET
@never_cache
def readyz(request) -> JsonResponse:
    """Database, Redis, a worker heard from within a minute, the oldest queued job: 200, or 503
    with a JSON body naming what failed (for deploy gates and monitoring)."""
    ready, report = selectors.readiness()
    return JsonResponse(report, status=200 if ready else 503)


def system(request):
    """Admin > System (staff only, through admin_view): queues, workers, jobs by status."""
    context = {
        **admin.site.each_context(request),
        "title": "System",
        "overview": selectors.system_overview(),
    }
    return TemplateResponse(request, "admin/system.html", context)
