"""The generation form's view helpers: building it with its kept inputs, where its initial values
come from (Remix, "use as input", presets, the last mode), its estimate and its context."""

from __future__ import annotations

from django.http import Http404

from generations import presets, selectors, services, uploads
from generations.forms import GenerationForm, resolve_model, slot_ref_field
from generations.models import AssetRole, Job
from providers import catalog
from providers.base import Mode, RequestValidationError
from wanweb import params

SESSION_KEY = "studio_form"  # {"provider", "mode", "model"}: the form opens where the user left it
RECENT_PROMPTS = 8

# What "use as input" offers per output kind, in menu order.
USE_AS_INPUT = {
    "image": (("edit", "Edit this image"), ("i2v", "Animate it (image to video)")),
    "video": (("v2v", "Video to video"), ("r2v", "Use as a reference")),
}


def build_form(request, membership, *, data=None, files=None, initial=None) -> GenerationForm:
    """The form, resolving its input references for this user in this team only."""

    def resolve(ref: str):
        return uploads.input_ref_resolve(user=request.user, team=membership.team, ref=ref)

    return GenerationForm(
        data,
        files,
        providers=services.available_providers(membership.team),
        initial=initial,
        resolve_ref=resolve,
    )


def initial_from_query(query) -> dict:
    """A GET's values as form initial data; input references keep every value (several files)."""
    initial = {}
    for key in query:
        initial[key] = query.getlist(key) if key.endswith("_ref") else query.get(key)
    initial.pop("csrfmiddlewaretoken", None)
    initial.pop("submit_token", None)  # a fresh form has a fresh token
    return initial


def remember(request, form: GenerationForm) -> None:
    choice = {"provider": form.spec.provider, "mode": str(form.spec.mode), "model": form.spec.model_id}
    if request.session.get(SESSION_KEY) != choice:
        request.session[SESSION_KEY] = choice


def remembered(request) -> dict:
    value = request.session.get(SESSION_KEY)
    return dict(value) if isinstance(value, dict) else {}


def _inputs_of(job: Job) -> dict:
    refs: dict[str, list[str]] = {}
    for asset in job.assets.filter(role=AssetRole.INPUT).order_by("index"):
        refs.setdefault(slot_ref_field(asset.slot), []).append(f"a:{asset.public_id}")
    return refs


def remix_initial(request, project) -> dict | None:
    """Everything the job was made with: parameters, the seed it used, and its inputs."""
    remix_id = params.get_uuid(request.GET, "remix")  # garbage: an empty form
    if not remix_id:
        return None
    job, _ = selectors.job_get_for_user(user=request.user, public_id=remix_id)
    if job.project_id != project.pk:
        raise Http404("No such job in this project")
    initial = {
        "provider": job.provider,
        "mode": job.mode,
        "model": job.model,
        "prompt": job.prompt,
        **job.params,
        **_inputs_of(job),
    }
    seed = job.params.get("seed", job.seed)
    if seed is not None:
        initial["seed"] = seed
        initial["remix_seed"] = seed
    return initial


def use_initial(request, project) -> dict | None:
    """`?use=<asset>&mode=<mode>`: the form for that mode with the team's file in its first slot
    of that kind (the lightbox and the job page link here)."""
    asset_id = params.get_uuid(request.GET, "use")
    if not asset_id:
        return None
    asset = selectors.asset_get_for_user(user=request.user, public_id=asset_id)
    if asset.job.team_id != project.team_id:
        raise Http404("No such file in this team")
    mode = request.GET.get("mode") or dict(USE_AS_INPUT).get(asset.kind, (("edit", ""),))[0][0]
    providers = services.available_providers(project.team)
    # The output's own provider when it has that mode, else the default one.
    provider = asset.job.provider if catalog.models_for(asset.job.provider, mode) else None
    spec = resolve_model(providers=providers, provider=provider, mode=mode, model=None)
    slot = next((s for s in spec.media if s.kind == asset.kind), None)
    initial = {"provider": spec.provider, "mode": str(spec.mode), "model": spec.model_id}
    if slot is not None:
        initial[slot_ref_field(slot.name)] = [f"a:{asset.public_id}"]
    return initial


def preset_initial(request, current: dict) -> dict | None:
    preset_id = current.pop("preset", None)
    if not preset_id:
        return None
    preset, _ = presets.preset_get_for_user(user=request.user, public_id=preset_id)
    initial = presets.preset_apply(preset, prompt=current.get("prompt") or "")
    # The user's inputs follow into the preset's mode where it has the same slot.
    initial.update({k: v for k, v in current.items() if k.endswith("_ref")})
    return initial


def estimate(form: GenerationForm) -> dict:
    """The cost of what the form says, or the field errors that stop it from being priced."""
    spec = form.spec
    source = form.data if form.is_bound else form.initial
    given = {}
    for name in form.param_names:
        value = source.get(name)
        if value not in (None, ""):
            given[name] = value
    try:
        params = catalog.clean_params(spec, given)
    except RequestValidationError as exc:
        errors = [m for messages in exc.errors.values() for m in messages]
        return {"usd": None, "errors": errors, "note": spec.price.note, "estimate": spec.price.estimate}
    return {
        "usd": catalog.estimate_cost(spec, params),
        "errors": [],
        "note": spec.price.note,
        "estimate": spec.price.estimate,
    }


def recent_prompts(project) -> list[str]:
    """The project's last few distinct prompts, newest first."""
    seen: dict[str, None] = {}
    for prompt in (
        Job.objects.filter(project=project)
        .exclude(prompt="")
        .order_by("-created_at")
        .values_list("prompt", flat=True)[:60]
    ):
        seen.setdefault(prompt.strip(), None)
        if len(seen) >= RECENT_PROMPTS:
            break
    return list(seen)


def form_context(project, membership, form: GenerationForm) -> dict:
    """What the form partial needs besides the form."""
    return {
        "project": project,
        "membership": membership,
        "form": form,
        "estimate": estimate(form),
        "recent_prompts": recent_prompts(project),
        "presets": list(presets.preset_list_for_team(team=project.team)),
        "can_manage_presets": membership.can_manage_members,
        "remix_seed": form.initial.get("remix_seed") if not form.is_bound else form.data.get("remix_seed"),
        "makes_video": Mode(form.spec.mode).makes_video,
        **compare_context(membership, form),
    }


def compare_context(membership, form: GenerationForm) -> dict:
    """The Compare section (generations/compare.py): its form and its estimate."""
    from generations import compare

    if not membership.can_edit:
        return {}
    compare_form = compare.compare_form(membership, form, form.data if form.is_bound else None)
    return {
        "compare_form": compare_form,
        "compare_estimate": compare.estimate(membership, form, compare_form),
    }


def keep_refused_uploads(request, membership, form: GenerationForm) -> None:
    """A refused submit keeps the files that passed: they come back as chips, not as empty inputs."""
    for upload in form.new_uploads:
        pending = uploads.pending_upload_create(
            user=request.user,
            team=membership.team,
            filename=upload.filename,
            data=upload.data,
            info=upload.info,
        )
        form.add_kept_inputs(upload.slot, [uploads.input_ref_for_upload(pending)])


def inputs_after_success(job: Job) -> dict:
    """The next run starts with the job's stored inputs (pending uploads are gone by then)."""
    return _inputs_of(job)
