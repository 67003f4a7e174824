"""The usage page (figures per period from the ledger) and its CSV export."""

from __future__ import annotations

import csv

from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from wanweb.accounts.views import team_required
from wanweb.htmx import wants_fragment
from wanweb.quotas import selectors


@require_GET
@team_required
@vary_on_headers("HX-Request")
def usage_page(request):
    actor = request.membership
    period = selectors.usage_period_get(team=actor.team, key=request.GET.get("period"))
    # Owners and admins see every member's row; members and viewers the team's totals and their own.
    members = None if actor.can_manage_members else [actor]
    context = {
        "actor": actor,
        "usage": selectors.usage_for_team(team=actor.team, period=period, members=members),
        "periods": selectors.usage_periods(team=actor.team),
    }
    template = "quotas/usage.html"
    if wants_fragment(request):
        template += "#usage-body"
    return render(request, template, context)


class _Echo:
    """A file-like sink for csv.writer: each row comes back as a string to stream."""

    def write(self, value: str) -> str:
        return value


@require_GET
@team_required
def usage_ledger_csv(request):
    actor = request.membership
    if not actor.can_manage_members:
        raise PermissionDenied
    key = request.GET.get("period") or ""
    period = selectors.usage_period_get(team=actor.team, key=key) if key else None
    writer = csv.writer(_Echo())
    rows = selectors.ledger_csv_rows(team=actor.team, period=period)
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    name = f"{actor.team.slug}-ledger-{period.key if period else 'all'}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
