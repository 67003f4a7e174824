"""The compare page of a run: the grid, its one live poller, winners and votes (runs.py writes)."""

from __future__ import annotations

import re
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from generations import compare, run_selectors, runs, selectors, services, studio
from generations.forms import GenerationForm
from generations.models import RunCell
from providers import registry
from providers.base import RequestValidationError
from wanweb import params
from wanweb.accounts.views import team_required

# A row is stamped when its UPDATE runs but seen only when its transaction commits (gallery_views).
CHANGE_LOOKBACK = timedelta(seconds=5)
# The pace of the poller once every cell is done: votes and winner picks of teammates still show.
IDLE_SECONDS = 5
_CELL = re.compile(r"^(\d{1,4})-(\d{1,4})$")


def _grid_context(request, run, membership, *, cells=None, since=None) -> dict:
    cells = list(cells if cells is not None else run_selectors.run_cells(run=run, user=request.user))
    rows, cols = run_selectors.run_grid(run=run, cells=cells)
    return {
        "run": run,
        "membership": membership,
        "rows": rows,
        "cols": cols,
        "cells": cells,
        "polling": any(c.job is not None and c.job.is_active for c in cells)
        or (since is not None and run_selectors.run_is_active(run=run)),
        "since": timezone.now().isoformat(),
        "idle_seconds": IDLE_SECONDS,
        "total_cost": sum((c.cost for c in cells), 0),
    }


@require_GET
@team_required
def run_detail(request, run_id):
    run, membership = run_selectors.run_get_for_user(user=request.user, public_id=run_id)
    return render(request, "generations/run_detail.html", _grid_context(request, run, membership))


@require_GET
@team_required
def run_changes(request, run_id):
    """The page's one refresh request per interval, whatever the number of cells: the cells that
    changed since the last answer (out of band), their rows' winner marks, and the poller.

    Two paces: every 2 s while a cell runs; every IDLE_SECONDS (`idle=1`, skipped by compare.js
    while the tab is hidden) once all are done, so teammates' votes and winner picks still show.
    Nothing changed and the pace is right: 204, htmx leaves the page alone.
    """
    run, membership = run_selectors.run_get_for_user(user=request.user, public_id=run_id)
    since = params.get_datetime(request.GET, "since") or timezone.now()
    idle = request.GET.get("idle") == "1"
    now = timezone.now()
    # Asked before the changes are read: a cell that finishes in between is then in the changes.
    polling = run_selectors.run_is_active(run=run)
    changed = list(run_selectors.run_cells(run=run, user=request.user, since=since - CHANGE_LOOKBACK))
    if not changed and polling != idle:
        return HttpResponse(status=204)
    rows = sorted({c.row for c in changed})
    winners = run_selectors.run_row_winners(run=run, rows=rows)
    context = {
        "run": run,
        "membership": membership,
        "changed": changed,
        "changed_rows": [(row, winners.get(row)) for row in rows],
        "running_jobs": selectors.team_active_job_count(team=run.team),  # the top bar's count
        "polling": polling,
        "since": now.isoformat(),
        "idle_seconds": IDLE_SECONDS,
    }
    return render(request, "generations/run_detail.html#run-changes", context)


def _cell_for(request, run) -> RunCell:
    """The POSTed `cell` ("row-col"); Http404 for garbage or a position the run lacks."""
    match = _CELL.match(request.POST.get("cell") or "")
    cell = None
    if match:
        cell = RunCell.objects.filter(run=run, row=int(match[1]), col=int(match[2])).first()
    if cell is None:
        raise Http404("No such cell")
    return cell


def _after_action(request, run, membership):
    if not request.htmx:
        return redirect(run.detail_url)
    return render(request, "generations/run_detail.html#run-grid", _grid_context(request, run, membership))


@require_POST
@team_required
def run_winner(request, run_id):
    run, membership = run_selectors.run_get_for_user(user=request.user, public_id=run_id)
    runs.run_pick_winner(membership=membership, run=run, cell=_cell_for(request, run))
    return _after_action(request, run, membership)


@require_POST
@team_required
def run_vote(request, run_id):
    run, membership = run_selectors.run_get_for_user(user=request.user, public_id=run_id)
    runs.run_vote_toggle(membership=membership, run=run, cell=_cell_for(request, run))
    return _after_action(request, run, membership)


# ---------------------------------------------------------------------------------------------
# The studio form's Compare section: its live estimate and its submit
# ---------------------------------------------------------------------------------------------


@require_GET
@team_required
def run_estimate(request, project_id):
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    form = GenerationForm(request.GET, providers=services.available_providers(project.team))
    compare_form = compare.compare_form(membership, form, request.GET)
    context = {"compare_estimate": compare.estimate(membership, form, compare_form)}
    return render(request, "generations/_compare_section.html#compare-estimate", context)


@require_POST
@team_required
def run_create(request, project_id):
    """The Compare button: the whole run or nothing; on success the compare page."""
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    if not membership.can_edit:
        raise PermissionDenied
    form = studio.build_form(request, membership, data=request.POST, files=request.FILES)
    compare_form = compare.compare_form(membership, form, request.POST)
    refusal = None
    if not form.is_valid():
        refusal = form.refusal_message()
    elif not compare_form.is_valid():
        refusal = compare_form.error_text()
    else:
        try:
            run = runs.run_create(
                membership=membership,
                project=project,
                mode=form.spec.mode.value,
                prompt=form.cleaned_data["prompt"],
                params=compare.base_params(form),
                uploads=form.uploads,
                failover=compare_form.cleaned_data.get("compare_failover") or False,
                **compare_form.run_options(),
            )
        except runs.RunRefused as exc:
            refusal = exc.message
        except RequestValidationError as exc:
            refusal = " ".join(m for ms in exc.errors.values() for m in ms)
        else:
            if request.htmx:
                return HttpResponseClientRedirect(run.detail_url)
            return redirect(run.detail_url)
    if not request.htmx:
        messages.error(request, refusal)
        return redirect("generations:project-detail", project_id=project.public_id)
    form.add_error(None, refusal)
    context = {**studio.form_context(project, membership, form), "refused": refusal}
    return render(request, "generations/studio_form.html#generation-form", context)


# ---------------------------------------------------------------------------------------------
# The team's failover settings: everyone in the team sees them, owners and admins change them
# (the vendor keys page's convention)
# ---------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@team_required
def run_settings(request):
    membership = request.membership
    team_settings = runs.team_settings(membership.team)
    providers = runs.team_usable_providers(membership.team)
    form = compare.RunSettingsForm(
        request.POST if request.method == "POST" else None,
        providers=providers,
        initial_order=list(team_settings.provider_order or []),
        initial={"failover_enabled": team_settings.failover_enabled},
    )
    status = 200
    if request.method == "POST":
        if not membership.can_manage_members:
            raise PermissionDenied
        if form.is_valid():
            runs.team_settings_update(
                membership=membership,
                failover_enabled=form.cleaned_data["failover_enabled"],
                provider_order=form.cleaned_data["provider_order"],
            )
            messages.success(request, "Failover settings saved.")
            return redirect("generations:run-settings")
        status = 400
    order = [p for p in (team_settings.provider_order or []) if p in providers]
    context = {
        "actor": membership,
        "form": form,
        "team_settings": team_settings,
        "order": order,
        "order_labels": [registry.PROVIDER_LABELS.get(p, p) for p in order],
    }
    return render(request, "generations/run_settings.html", context, status=status)
