"""The generation form's own endpoints: uploads kept before a submit, and team presets."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from generations import presets, selectors, studio, uploads
from generations.files import stored_file_response
from generations.forms import UploadRefused, probe_upload, resolve_model
from providers.base import RequestValidationError
from wanweb.accounts.views import team_required

FORM_TEMPLATE = "generations/studio_form.html"


@require_POST
@team_required
def upload_create(request, project_id):
    """One file for one slot of the chosen model, probed like a submit would; answers its chip.

    The form sends each chosen, dropped or pasted file here at once, so it is previewed before the
    submit and survives refused submits and mode switches as a reference.
    """
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    if not membership.can_edit:
        raise PermissionDenied
    from generations import services

    spec = resolve_model(
        providers=services.available_providers(project.team),
        provider=request.POST.get("provider"),
        mode=request.POST.get("mode"),
        model=request.POST.get("model"),
    )
    slot = spec.slot(request.POST.get("slot", ""))
    upload = request.FILES.get("file")
    context = {"slot": slot, "error": None, "chip": None}
    if slot is None or upload is None:
        context["error"] = "Choose a file for one of this model's inputs."
        return render(request, FORM_TEMPLATE + "#upload-result", context)
    try:
        data, info = probe_upload(upload, slot)
    except UploadRefused as exc:
        context["error"] = str(exc)
        return render(request, FORM_TEMPLATE + "#upload-result", context)
    pending = uploads.pending_upload_create(
        user=request.user, team=membership.team, filename=upload.name, data=data, info=info
    )
    context["chip"] = uploads.input_ref_for_upload(pending)
    context["ref_name"] = f"input_{slot.name}_ref"
    return render(request, FORM_TEMPLATE + "#upload-result", context)


@require_GET
@team_required
def upload_thumb(request, upload_id):
    """A pending upload's preview, for its owner only."""
    pending = uploads.pending_upload_get_for_user(user=request.user, public_id=upload_id)
    if pending is None or not pending.thumbnail:
        raise Http404("No such upload")
    return stored_file_response(
        pending.thumbnail, content_type="image/webp", cache_control="private, max-age=600"
    )


def _menu(request, project, membership, *, editor_errors=None, status=200) -> HttpResponse:
    context = {
        "project": project,
        "presets": list(presets.preset_list_for_team(team=project.team)),
        "can_manage_presets": membership.can_manage_members,
        "preset_errors": editor_errors or [],
    }
    return render(request, FORM_TEMPLATE + "#preset-menu", context, status=status)


@require_POST
@team_required
def preset_create(request, project_id):
    """Save the form's current mode, model and parameters as a team preset (owners and admins)."""
    project, membership = selectors.project_get_for_user(user=request.user, public_id=project_id)
    if not membership.can_manage_members:
        raise PermissionDenied
    data = request.POST.copy()
    for key in [k for k in data if k.endswith("_ref")]:
        del data[key]  # a preset holds settings, not files
    form = studio.build_form(request, membership, data=data)
    form.is_valid()  # for cleaned values of the parameters; the prompt may well be empty
    bad = [
        f"{form.fields[n].label}: {' '.join(form.errors[n])}" for n in form.param_names if n in form.errors
    ]
    if bad:
        return _menu(request, project, membership, editor_errors=bad)
    params = {
        name: form.cleaned_data[name]
        for name in form.param_names
        if form.cleaned_data.get(name) not in (None, "")
    }
    try:
        preset = presets.preset_create(
            membership=membership,
            name=request.POST.get("preset_name", ""),
            provider=form.spec.provider,
            mode=str(form.spec.mode),
            model=form.spec.model_id,
            params=params,
            prompt_suffix=request.POST.get("preset_suffix", ""),
            negative_prompt=request.POST.get("preset_negative", ""),
        )
    except RequestValidationError as exc:
        return _menu(
            request, project, membership, editor_errors=[m for ms in exc.errors.values() for m in ms]
        )
    response = _menu(request, project, membership)
    return trigger_client_event(response, "preset-saved", {"name": preset.name})


@require_POST
@team_required
def preset_delete(request, preset_id):
    preset, membership = presets.preset_get_for_user(user=request.user, public_id=preset_id)
    if not membership.can_manage_members:
        raise PermissionDenied
    name = preset.name
    project = (
        selectors.project_get_for_user(user=request.user, public_id=request.POST.get("project"))[0]
        if request.POST.get("project")
        else None
    )
    presets.preset_delete(membership=membership, preset=preset)
    if project is None:
        return HttpResponse(status=204)
    response = _menu(request, project, membership)
    return trigger_client_event(response, "preset-deleted", {"name": name})
