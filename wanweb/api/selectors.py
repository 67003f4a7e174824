"""Reads of the API: token lookup, scoped jobs/projects, and the JSON shapes of jobs and the catalog."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from generations.models import Asset, AssetRole, Job, Project, Run
from providers import catalog
from providers.base import MODE_LABELS, Mode
from providers.catalog import FieldSpec, MediaSlot, ModelSpec
from providers.registry import PROVIDER_LABELS
from wanweb.accounts.models import Membership, hash_token
from wanweb.api.models import ApiToken, WebhookDelivery, WebhookEndpoint


def token_authenticate(raw: str) -> tuple[ApiToken, Membership] | None:
    """The active token and its owner's current membership of the token's team, or None."""
    if not raw or len(raw) > 200:
        return None
    token = ApiToken.objects.select_related("user", "team").filter(token_hash=hash_token(raw)).first()
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return None
    membership = (
        Membership.objects.select_related("team", "user").filter(team=token.team, user=token.user).first()
    )
    if membership is None:
        return None
    return token, membership


def tokens_for(*, membership: Membership) -> QuerySet[ApiToken]:
    """A member sees their own tokens; admins and owners see the whole team's."""
    tokens = ApiToken.objects.filter(team=membership.team).select_related("user")
    if not membership.can_manage_members:
        tokens = tokens.filter(user=membership.user)
    return tokens


def token_get(*, membership: Membership, public_id) -> ApiToken:
    try:
        return tokens_for(membership=membership).get(public_id=public_id)
    except (ApiToken.DoesNotExist, ValueError):
        raise Http404("No such token") from None


def project_get(*, membership: Membership, public_id) -> Project:
    try:
        return Project.objects.select_related("team").get(team=membership.team, public_id=public_id)
    except (Project.DoesNotExist, ValueError, TypeError):
        raise Http404("No such project") from None


def _outputs_prefetch():
    return Prefetch(
        "assets", queryset=Asset.objects.filter(role=AssetRole.OUTPUT).order_by("index"), to_attr="outputs"
    )


def jobs_for_team(*, membership: Membership) -> QuerySet[Job]:
    return (
        Job.objects.filter(team=membership.team)
        .select_related("project", "retry_of")
        .prefetch_related(_outputs_prefetch())
    )


def job_get(*, membership: Membership, public_id) -> Job:
    try:
        return jobs_for_team(membership=membership).get(public_id=public_id)
    except (Job.DoesNotExist, ValueError, TypeError):
        raise Http404("No such job") from None


def asset_get(*, membership: Membership, public_id) -> Asset:
    try:
        return Asset.objects.select_related("job").get(job__team=membership.team, public_id=public_id)
    except (Asset.DoesNotExist, ValueError, TypeError):
        raise Http404("No such file") from None


def job_page(
    *, membership: Membership, filters: dict, after=None, limit: int = 50
) -> tuple[list[Job], str | None]:
    """Newest first, keyset on (created_at, id): `after` is the cursor of the previous page."""
    jobs = jobs_for_team(membership=membership).order_by("-created_at", "-id")
    if filters.get("project"):
        jobs = jobs.filter(project__public_id=filters["project"])
    for name in ("status", "mode", "provider"):
        if filters.get(name):
            jobs = jobs.filter(**{name: filters[name]})
    if filters.get("created_after"):
        jobs = jobs.filter(created_at__gt=filters["created_after"])
    if filters.get("created_before"):
        jobs = jobs.filter(created_at__lt=filters["created_before"])
    if after is not None:
        jobs = jobs.filter(
            Q(created_at__lt=after.created_at) | Q(created_at=after.created_at, id__lt=after.id)
        )
    page = list(jobs[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, (str(page[-1].public_id) if more and page else None)


def _absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL + path


def job_payload(job: Job) -> dict:
    """The job as `GET /jobs/{id}` returns it (and as webhooks carry it)."""
    outputs = getattr(job, "outputs", None)
    if outputs is None:
        outputs = list(job.assets.filter(role=AssetRole.OUTPUT).order_by("index"))
    from django.urls import reverse

    return {
        "id": str(job.public_id),
        "project": str(job.project.public_id),
        "status": job.status,
        "progress": job.progress,
        "provider": job.provider,
        "model": job.model,
        "mode": job.mode,
        "prompt": job.prompt,
        "params": job.params,
        "cost_estimate": str(job.cost_estimate),
        "cost_final": None if job.cost_final is None else str(job.cost_final),
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "seed": job.seed,
        "outputs": [
            {
                "id": str(a.public_id),
                "index": a.index,
                "kind": a.kind,
                "content_type": a.content_type,
                "size_bytes": a.size_bytes,
                "width": a.width,
                "height": a.height,
                "duration": a.duration,
                "url": _absolute(reverse("api:asset_file", kwargs={"asset_id": a.public_id})),
            }
            for a in outputs
        ],
        "retry_of": str(job.retry_of.public_id) if job.retry_of_id else None,
        "created_at": job.created_at.isoformat(),
        "submitted_at": job.submitted_at.isoformat() if job.submitted_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def project_payload(project: Project) -> dict:
    return {
        "id": str(project.public_id),
        "name": project.name,
        "slug": project.slug,
        "description": project.description,
        "archived": project.is_archived,
        "created_at": project.created_at.isoformat(),
    }


# ---------------------------------------------------------------------------------------------
# The catalog as JSON: the machine-readable twin of the form
# ---------------------------------------------------------------------------------------------


def _field(fs: FieldSpec) -> dict:
    return {
        "name": fs.name,
        "type": fs.type,
        "label": fs.label,
        "help": fs.help,
        "default": fs.default,
        "choices": list(fs.choices),
        "min": fs.min,
        "max": fs.max,
        "required": fs.required,
        "advanced": fs.advanced,
        "unit": fs.unit,
        "unconfirmed": fs.unconfirmed,
    }


def _slot(slot: MediaSlot) -> dict:
    return {
        "name": slot.name,
        "kind": slot.kind,
        "label": slot.label,
        "min_count": slot.min_count,
        "max_count": slot.max_count,
        "formats": list(slot.formats),
        "max_bytes": slot.max_bytes,
        "min_px": slot.min_px,
        "max_px": slot.max_px,
        "min_seconds": slot.min_seconds,
        "max_seconds": slot.max_seconds,
    }


def _model(spec: ModelSpec) -> dict:
    price = spec.price
    return {
        "model": spec.model_id,
        "mode": spec.mode.value,
        "mode_label": MODE_LABELS[spec.mode],
        "title": spec.title,
        "family": spec.family,
        "variant": spec.variant,
        "prompt_required": spec.prompt_required,
        "prompt_max_chars": spec.prompt_max_chars,
        "fields": [_field(f) for f in spec.fields],
        "media": [_slot(s) for s in spec.media],
        "price": {
            "rates_usd": {unit: str(usd) for unit, usd in price.rates().items()},
            "default_seconds": price.default_seconds,
            "estimate": price.estimate,
            "note": price.note,
        },
        "notes": list(spec.notes),
    }


def catalog_for(providers: list[str]) -> list[dict]:
    return [
        {
            "provider": name,
            "label": PROVIDER_LABELS.get(name, name),
            "models": [_model(s) for mode in Mode for s in catalog.models_for(name, mode)],
        }
        for name in providers
    ]


# ---------------------------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------------------------


def endpoints_for_project(*, project: Project) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(team=project.team).filter(
        Q(project=project) | Q(project__isnull=True)
    )


def endpoint_get(*, membership: Membership, public_id) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.select_related("project").get(
            team=membership.team, public_id=public_id
        )
    except (WebhookEndpoint.DoesNotExist, ValueError, TypeError):
        raise Http404("No such webhook") from None


def deliveries_for_project(*, project: Project, limit: int = 50) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(project=project).select_related("job")[:limit])


def delivery_get(*, membership: Membership, msg_id: str) -> WebhookDelivery:
    try:
        return WebhookDelivery.objects.select_related("project").get(team=membership.team, msg_id=msg_id)
    except (WebhookDelivery.DoesNotExist, ValueError, TypeError):
        raise Http404("No such delivery") from None


def run_get(*, membership: Membership, public_id) -> Run:
    """A compare run of the token's team; Http404 for any other."""
    try:
        return Run.objects.select_related("project").get(team=membership.team, public_id=public_id)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run") from None


def run_payload(run: Run, *, user) -> dict:
    """The run as `GET /runs/{id}` returns it: what was asked and one entry per cell (a fixed
    number of queries, the compare page's selector)."""
    from generations import run_selectors

    cells = list(run_selectors.run_cells(run=run, user=user))
    return {
        "id": str(run.public_id),
        "project": str(run.project.public_id),
        "mode": run.mode,
        "prompt": run.prompt,
        "failover": run.failover,
        "targets": list(run.spec.get("targets") or []),
        "seeds": list(run.spec.get("seeds") or []),
        "variants": list(run.spec.get("variants") or []),
        "extra_param": run.spec.get("extra_param") or "",
        "extra_values": list(run.spec.get("extra_values") or []),
        "total_cost": str(sum((Decimal(str(c.cost)) for c in cells), Decimal(0))),
        "created_at": run.created_at,
        "cells": [_cell_payload(c) for c in cells],
    }


def _cell_payload(cell) -> dict:
    job = cell.job
    return {
        "row": cell.row,
        "col": cell.col,
        "row_label": cell.row_label,
        "col_label": cell.col_label,
        "target": f"{job.provider}:{job.model}" if job else None,
        "job": str(job.public_id) if job else None,
        "status": job.status if job else "left_out",
        "cost": str(cell.cost),
        "seed": cell.seed,
        "vendor_seconds": cell.vendor_seconds,
        "note": cell.note,
        "winner": cell.winner,
        "votes": cell.vote_count,
    }
