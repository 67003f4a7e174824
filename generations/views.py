from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from generations import selectors, services
from generations.forms import ProjectForm
from wanweb.accounts.views import team_required


def _is_fragment_request(request) -> bool:
    # A history-restore request wants the whole page even though it comes from htmx.
    return bool(request.htmx) and not request.htmx.history_restore_request


@require_GET
@team_required
def project_list(request):
    membership = request.membership
    archived = request.GET.get("archived") == "1"
    context = {
        "membership": membership,
        "projects": selectors.project_list_for_team(team=membership.team, archived=archived),
        "archived": archived,
        "form": ProjectForm(),
    }
    template = "generations/project_list.html"
    if _is_fragment_request(request):
        template += "#project-listing"
    return render(request, template, context)


@require_POST
@team_required
def project_create(request):
    membership = request.membership
    if not membership.can_edit:
        raise PermissionDenied
    form = ProjectForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            return render(
                request,
                "generations/project_list.html#project-form",
                {"form": form, "membership": membership},
            )
        messages.error(
            request,
            "The project was not created: " + " ".join(e for errs in form.errors.values() for e in errs),
        )
        return redirect("generations:project-list")
    project = services.project_create(membership=membership, **form.cleaned_data)
    if request.htmx:
        response = render(
            request,
            "generations/project_list.html#project-created",
            {"form": ProjectForm(), "project": project, "membership": membership},
        )
        return trigger_client_event(response, "project-created", {"name": project.name})
    messages.success(request, f"Project “{project.name}” created.")
    return redirect("generations:project-detail", project_id=project.public_id)


@require_GET
def home(request):
    if request.user.is_authenticated:
        return redirect("generations:project-list")
    return redirect("login")


@require_GET
@team_required
def project_detail(request, project_id):
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    return render(request, "generations/project_detail.html", {"project": project, "membership": membership})


@require_http_methods(["GET", "POST"])
@team_required
def project_edit(request, project_id):
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    if not membership.can_edit:
        raise PermissionDenied
    if request.method == "GET":
        form = ProjectForm(initial={"name": project.name, "description": project.description})
        if _is_fragment_request(request):
            return render(
                request,
                "generations/project_detail.html#project-edit-form",
                {"project": project, "form": form},
            )
        return render(
            request,
            "generations/project_edit.html",
            {"project": project, "form": form, "membership": membership},
        )
    form = ProjectForm(request.POST)
    if not form.is_valid():
        template = (
            "generations/project_detail.html#project-edit-form"
            if request.htmx
            else "generations/project_edit.html"
        )
        return render(request, template, {"project": project, "form": form, "membership": membership})
    services.project_update(membership=membership, project=project, **form.cleaned_data)
    if request.htmx:
        return render(
            request,
            "generations/project_detail.html#project-header",
            {"project": project, "membership": membership},
        )
    messages.success(request, "Project saved.")
    return redirect("generations:project-detail", project_id=project.public_id)


@require_POST
@team_required
def project_archive(request, project_id):
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    archived = request.POST.get("archived", "1") == "1"
    services.project_set_archived(membership=membership, project=project, archived=archived)
    messages.success(request, f"“{project.name}” {'archived' if archived else 'restored'}.")
    if request.htmx:
        return render(
            request,
            "generations/project_detail.html#project-header",
            {"project": project, "membership": membership},
        )
    return redirect("generations:project-detail", project_id=project.public_id)


def healthz(request) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
