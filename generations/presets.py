"""Team presets: a named mode + model + parameters (+ prompt suffix / negative prompt) that any
member applies to the generation form in one click; owners and admins save and delete them."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from generations.models import Preset
from providers import catalog
from providers.base import RequestValidationError
from wanweb.accounts.models import Membership

MAX_PRESETS_PER_TEAM = 100


def preset_list_for_team(*, team) -> QuerySet[Preset]:
    return Preset.objects.filter(team=team).order_by("name")


def preset_get_for_user(*, user, public_id) -> tuple[Preset, Membership]:
    """The preset and the user's membership of its team; Http404 for anyone outside that team."""
    try:
        preset = Preset.objects.select_related("team").get(public_id=public_id, team__memberships__user=user)
    except (Preset.DoesNotExist, ValueError):
        raise Http404("No such preset") from None
    return preset, Membership.objects.get(team=preset.team, user=user)


def preset_create(
    *,
    membership: Membership,
    name: str,
    provider: str,
    mode: str,
    model: str,
    params: dict,
    prompt_suffix: str = "",
    negative_prompt: str = "",
) -> Preset:
    """Save the form's settings for the team. Raises PermissionDenied below admin and
    RequestValidationError for a blank or taken name, or parameters the model does not take."""
    if not membership.can_manage_members:
        raise PermissionDenied("Only owners and admins manage presets.")
    # PostgreSQL refuses NUL in text columns: a field error, not a 500 (SQLite would store it).
    for field, text in (
        ("preset_name", name),
        ("preset_suffix", prompt_suffix),
        ("preset_negative", negative_prompt),
    ):
        if "\x00" in (text or ""):
            raise RequestValidationError({field: ["This field cannot contain a NUL character."]})
    name = name.strip()[:80]
    if not name:
        raise RequestValidationError({"preset_name": ["Give the preset a name."]})
    team = membership.team
    if Preset.objects.filter(team=team, name=name).exists():
        raise RequestValidationError({"preset_name": [f"There is already a preset called “{name}”."]})
    if Preset.objects.filter(team=team).count() >= MAX_PRESETS_PER_TEAM:
        raise RequestValidationError(
            {"preset_name": [f"A team keeps at most {MAX_PRESETS_PER_TEAM} presets."]}
        )
    spec = catalog.get_model(provider, model, mode)
    # The negative prompt is the preset's own field; the rest must be what this model takes.
    cleaned = catalog.clean_params(spec, {k: v for k, v in params.items() if k != "negative_prompt"})
    defaults = spec.defaults()
    # Keep only what differs from the model's defaults: a preset says what it changes.
    kept = {k: v for k, v in cleaned.items() if defaults.get(k) != v and k != "seed"}
    return Preset.objects.create(
        team=team,
        name=name,
        provider=spec.provider,
        mode=str(spec.mode),
        model=spec.model_id,
        params=kept,
        prompt_suffix=prompt_suffix[:500] if prompt_suffix.strip() else "",
        negative_prompt=negative_prompt.strip()[:500],
        created_by=membership.user,
    )


def preset_delete(*, membership: Membership, preset: Preset) -> None:
    if not membership.can_manage_members or preset.team_id != membership.team_id:
        raise PermissionDenied("Only owners and admins manage presets.")
    preset.delete()


def preset_apply(preset: Preset, *, prompt: str) -> dict:
    """The form's initial values for this preset, keeping the user's prompt (plus the suffix)."""
    initial = {"provider": preset.provider, "mode": preset.mode, "model": preset.model, **preset.params}
    prompt = prompt or ""
    suffix = preset.prompt_suffix
    if suffix and not prompt.rstrip().endswith(suffix.strip()):
        prompt = prompt.rstrip() + suffix if prompt.strip() else suffix.lstrip(" ,;")
    initial["prompt"] = prompt
    if preset.negative_prompt:
        initial["negative_prompt"] = preset.negative_prompt
    return initial
