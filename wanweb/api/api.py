"""The public API (django-ninja) at /api/v1/: thin handlers over the same services as the studio.

Auth is a personal bearer token (wanweb/api/models.py ApiToken); errors are RFC 9457 problem
details (`application/problem+json`) with every field error at once, in the form's words.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Query, Router, Schema
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.responses import Status
from ninja.security import HttpBearer
from pydantic import Field

from generations import runs
from generations import services as generation_services
from generations.assets import UploadedInput
from generations.files import stored_file_response
from generations.forms import UploadRefused, probe_upload
from generations.models import JobStatus
from providers import catalog, download
from providers.base import GenerationRequest, MediaInput, Mode, ProviderError, RequestValidationError
from providers.registry import PROVIDER_LABELS
from wanweb.api import ratelimit, selectors, services, webhooks
from wanweb.quotas import selectors as quota_selectors
from wanweb.quotas.services import QuotaExceeded
from wanweb.uploads import upload_refusal

PROBLEM = "application/problem+json"
MAX_URL_INPUTS = 10
NUL_MESSAGE = "Remove the NUL characters."


def problem(
    status: int, title: str, detail: str = "", *, errors: dict | None = None, headers=None, extra=None
) -> HttpResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = {k: [str(m) for m in v] for k, v in errors.items()}
    body.update(extra or {})  # RFC 9457 extension members (a refused run's limit and what fits)
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class TokenAuth(HttpBearer):
    """`Authorization: Bearer wan_…`. The token's owner acts with their current role in its team."""

    def authenticate(self, request: HttpRequest, token: str):
        found = selectors.token_authenticate(token)
        if found is None:
            return None
        api_token, membership = found
        ratelimit.check(str(api_token.public_id))
        services.token_touch(api_token)
        request.api_token = api_token
        request.api_membership = membership
        return api_token


api = NinjaAPI(
    title="wanweb API",
    version="1",
    description=(
        "Generate images and videos with Alibaba's Wan models, through the same catalog, quotas and "
        "roles as the studio. Authenticate with `Authorization: Bearer <token>` (create one on the "
        "API tokens page). Errors are RFC 9457 problem details."
    ),
    auth=TokenAuth(),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return problem(
        401,
        "Unauthorized",
        "Send a valid, unexpired, unrevoked API token as `Authorization: Bearer <token>`.",
        headers={"WWW-Authenticate": "Bearer"},
    )


@api.exception_handler(ratelimit.RateLimited)
def _rate_limited(request, exc):
    return problem(429, "Too Many Requests", exc.message, headers={"Retry-After": str(exc.retry_after)})


@api.exception_handler(NinjaValidationError)
def _invalid(request, exc):
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "body", "path", "payload")]
        errors.setdefault(".".join(loc) or "__all__", []).append(error.get("msg", "Invalid value."))
    return problem(422, "Invalid request", "Some fields are not valid.", errors=errors)


@api.exception_handler(RequestValidationError)
def _refused(request, exc):
    return problem(422, "Invalid request", "Some fields are not valid.", errors=exc.errors)


@api.exception_handler(services.IdempotencyConflict)
def _conflict(request, exc):
    return problem(422, "Idempotency-Key reused", str(exc), errors={"Idempotency-Key": [str(exc)]})


def _quota_answer(exc: QuotaExceeded) -> tuple[int, str, dict]:
    """(status, title, headers) for a quota refusal: the same for a job and for a run."""
    if exc.limit in ("max_jobs_per_hour", "max_concurrent_jobs"):
        headers = {}
        if exc.resets_at is not None:
            from django.utils import timezone

            headers["Retry-After"] = str(max(1, int((exc.resets_at - timezone.now()).total_seconds())))
        elif exc.limit == "max_concurrent_jobs":
            headers["Retry-After"] = "30"
        return 429, "Too Many Requests", headers
    if exc.limit == "budget":
        return 402, "Budget exceeded", {}
    # frozen team, providers or models the quota does not allow, too many video seconds
    return 403, "Not allowed by the quota", {}


@api.exception_handler(QuotaExceeded)
def _quota(request, exc):
    status, title, headers = _quota_answer(exc)
    errors = None if status == 429 else {"__all__": [exc.message]}
    return problem(status, title, exc.message, errors=errors, headers=headers)


@api.exception_handler(runs.RunRefused)
def _run_refused(request, exc):
    """A refused run: a quota limit answers as it would for one job (402, 403, 429), naming the
    limit and how many of the run's jobs would fit; a run too big or with nothing to run is a 422."""
    extra = {"limit": exc.limit or "run", "fits": exc.fits}
    if isinstance(exc.__cause__, QuotaExceeded):
        status, title, headers = _quota_answer(exc.__cause__)
        return problem(
            status, title, exc.message, errors={"__all__": [exc.message]}, headers=headers, extra=extra
        )
    field = {"seeds": "seeds", "targets": "targets"}.get(exc.limit, "__all__")
    return problem(422, "Invalid request", exc.message, errors={field: [exc.message]}, extra=extra)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return problem(404, "Not Found", str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return problem(403, "Forbidden", str(exc) or "Your role in this team may not do that.")


# ---------------------------------------------------------------------------------------------
# Schemas (the OpenAPI document; handlers return plain dicts built by selectors)
# ---------------------------------------------------------------------------------------------


class ProblemOut(Schema):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: dict[str, list[str]] | None = None


class FieldOut(Schema):
    name: str
    type: str
    label: str
    help: str
    default: Any = None
    choices: list[Any]
    min: float | None
    max: float | None
    required: bool
    advanced: bool
    unit: str
    unconfirmed: bool


class SlotOut(Schema):
    name: str
    kind: str
    label: str
    min_count: int
    max_count: int
    formats: list[str]
    max_bytes: int | None
    min_px: int | None
    max_px: int | None
    min_seconds: float | None
    max_seconds: float | None


class PriceOut(Schema):
    rates_usd: dict[str, str]
    default_seconds: int
    estimate: bool
    note: str


class ModelOut(Schema):
    model: str
    mode: str
    mode_label: str
    title: str
    family: str
    variant: str
    prompt_required: bool
    prompt_max_chars: int | None
    fields: list[FieldOut]
    media: list[SlotOut]
    price: PriceOut
    notes: list[str]


class ProviderOut(Schema):
    provider: str
    label: str
    models: list[ModelOut]


class ProjectOut(Schema):
    id: uuid.UUID
    name: str
    slug: str
    description: str
    archived: bool
    created_at: datetime


class ProjectIn(Schema):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=2000)


class OutputOut(Schema):
    id: uuid.UUID
    index: int
    kind: str
    content_type: str
    size_bytes: int
    width: int | None
    height: int | None
    duration: float | None
    url: str = Field(description="Download with the same bearer token.")


class ErrorOut(Schema):
    code: str
    message: str


class JobOut(Schema):
    id: uuid.UUID
    project: uuid.UUID
    status: str
    progress: int | None
    provider: str
    model: str
    mode: str
    prompt: str
    params: dict[str, Any]
    cost_estimate: str = Field(description="USD, as a decimal string")
    cost_final: str | None
    error: ErrorOut | None
    seed: int | None
    outputs: list[OutputOut]
    retry_of: uuid.UUID | None
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None


class JobCreatedOut(JobOut):
    webhook_secret: str | None = Field(
        None,
        description="With `webhook_url`: the Standard Webhooks secret its deliveries are signed with. "
        "Returned once, when the job is made.",
    )


class JobPage(Schema):
    items: list[JobOut]
    next_cursor: str | None = Field(description="Pass as `after` for the next page; null on the last.")


class JobFilters(Schema):
    project: uuid.UUID | None = None
    status: JobStatus | None = None
    mode: Mode | None = None
    provider: str | None = Field(None, max_length=20)
    created_after: datetime | None = None
    created_before: datetime | None = None
    after: uuid.UUID | None = Field(None, description="The cursor from the previous page.")
    limit: int = Field(50, ge=1, le=200)


class MoneyOut(Schema):
    budget: str | None
    spent: str
    reserved: str
    remaining: str | None
    jobs: int


class UsageOut(Schema):
    period_start: datetime
    period_end: datetime | None
    team: MoneyOut | None = Field(description="The whole team's figures; owners and admins only.")
    me: MoneyOut


ERRORS = {401: ProblemOut, 403: ProblemOut, 404: ProblemOut, 422: ProblemOut, 429: ProblemOut}


# ---------------------------------------------------------------------------------------------
# Catalog and projects
# ---------------------------------------------------------------------------------------------


def _membership(request):
    return request.api_membership


def team_providers(membership) -> list[str]:
    """The providers this team can use: the same helper the studio's form uses (its own keys included)."""
    return generation_services.available_providers(membership.team)


@api.get("/models", response={200: list[ProviderOut], **ERRORS}, tags=["catalog"])
def models(request):
    """The catalog this team can use: each provider's models, modes, fields, media slots and price rule."""
    return selectors.catalog_for(team_providers(_membership(request)))


projects = Router(tags=["projects"])


@projects.get("", response={200: list[ProjectOut], **ERRORS})
def project_list(request, archived: bool = False):
    from generations.selectors import project_list_for_team

    return [
        selectors.project_payload(p)
        for p in project_list_for_team(team=_membership(request).team, archived=archived)[:500]
    ]


@projects.post("", response={201: ProjectOut, **ERRORS})
def project_create(request, payload: ProjectIn):
    name = payload.name.strip()
    if not name:
        raise RequestValidationError({"name": ["Give the project a name."]})
    if "\x00" in name or "\x00" in payload.description:
        raise RequestValidationError({"name": [NUL_MESSAGE]})
    project = generation_services.project_create(
        membership=_membership(request), name=name, description=payload.description
    )
    return Status(201, selectors.project_payload(project))


@projects.get("/{project_id}", response={200: ProjectOut, **ERRORS})
def project_detail(request, project_id: uuid.UUID):
    return selectors.project_payload(
        selectors.project_get(membership=_membership(request), public_id=project_id)
    )


api.add_router("/projects", projects)


# ---------------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------------

jobs = Router(tags=["jobs"])

JOB_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["project", "provider"],
    "properties": {
        "project": {"type": "string", "format": "uuid"},
        "provider": {"type": "string", "description": "See GET /models"},
        "model": {"type": "string"},
        "mode": {"type": "string", "enum": [m.value for m in Mode]},
        "prompt": {"type": "string"},
        "params": {"type": "object", "description": "Normalised parameter names (GET /models fields)."},
        "inputs": {
            "type": "object",
            "description": "Slot name -> https URL (or a list of them), fetched by the server.",
            "additionalProperties": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
        },
        "webhook_url": {"type": "string", "description": "Also tell this https URL when the job finishes."},
    },
}
MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["project", "provider"],
    "properties": {
        **{k: v for k, v in JOB_REQUEST_SCHEMA["properties"].items() if k not in ("params", "inputs")},
        "params": {"type": "string", "description": "A JSON object, as in the JSON body."},
        "inputs": {"type": "string", "description": "A JSON object of URL inputs, as in the JSON body."},
    },
    "additionalProperties": {
        "type": "string",
        "format": "binary",
        "description": "A file for the slot of this name",
    },
}


def _parse_job_request(request) -> tuple[dict, list[tuple[str, Any]], dict[str, list[str]]]:
    """The fields, the files (slot, file) and the errors of parsing, from JSON or multipart."""
    errors: dict[str, list[str]] = {}
    content_type = request.content_type or ""
    files: list[tuple[str, Any]] = []
    if content_type.startswith("multipart/form-data"):
        refusal = upload_refusal(request)  # the studio's request limits: count and total size
        if refusal is not None:
            raise RequestValidationError({refusal.field_name or "__all__": [refusal.message]})
        raw = {k: request.POST.get(k) for k in request.POST}
        for name in ("params", "inputs"):
            if raw.get(name):
                try:
                    raw[name] = json.loads(raw[name])
                except ValueError:
                    errors[name] = ["Not valid JSON."]
                    raw[name] = None
        for name in request.FILES:
            for upload in request.FILES.getlist(name)[:MAX_URL_INPUTS]:
                files.append((name.removeprefix("input_"), upload))
    elif content_type in ("application/json", ""):
        try:
            raw = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise RequestValidationError({"__all__": ["The body is not valid JSON."]}) from None
        if not isinstance(raw, dict):
            raise RequestValidationError({"__all__": ["The body must be a JSON object."]})
    else:
        raise RequestValidationError({"__all__": ["Send application/json or multipart/form-data."]})
    fields: dict[str, Any] = {}
    for name in ("project", "provider", "model", "mode", "prompt", "webhook_url"):
        value = raw.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 10000:
            errors[name] = ["Must be a string (at most 10000 characters)."]
            continue
        if "\x00" in value:
            errors[name] = [NUL_MESSAGE]
            continue
        fields[name] = value.strip() if name != "prompt" else value
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        errors["params"] = ["Must be an object of parameter names to values."]
        params = {}
    for name, value in params.items():
        if _has_nul(name) or _has_nul(value):
            errors[str(name).replace("\x00", "")] = [NUL_MESSAGE]
    fields["params"] = params
    inputs = raw.get("inputs") or {}
    if not isinstance(inputs, dict):
        errors["inputs"] = ["Must be an object of slot names to URLs."]
        inputs = {}
    fields["inputs"] = {}
    for slot, urls in inputs.items():
        urls = [urls] if isinstance(urls, str) else urls
        if (
            not isinstance(urls, list)
            or not all(isinstance(u, str) for u in urls)
            or len(urls) > MAX_URL_INPUTS
        ):
            errors.setdefault(str(slot), []).append("Give a URL or a list of URLs.")
            continue
        fields["inputs"][str(slot)] = urls
    for name in ("project", "provider"):
        if not fields.get(name) and name not in errors:
            errors[name] = ["This field is required."]
    return fields, files, errors


def _has_nul(value) -> bool:
    """A NUL anywhere in a JSON value (PostgreSQL's jsonb and text refuse it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _probe_all(spec, fields, files, errors) -> list[UploadedInput]:
    """Every file (sent or fetched) checked by its bytes for its slot; problems go into `errors`."""
    uploads: list[UploadedInput] = []
    wanted: list[tuple[str, Any]] = list(files)
    for slot_name, urls in fields["inputs"].items():
        slot = spec.slot(slot_name)
        if slot is None:
            continue  # reported below
        for url in urls:
            try:
                fetched = download.fetch(
                    url,
                    expected_kind=slot.kind,
                    max_bytes=slot.max_bytes or 100 * 1024 * 1024,
                    allow_private=settings.ALLOW_PRIVATE_URLS,
                    timeout=15.0,
                )
            except ProviderError as exc:
                errors.setdefault(slot_name, []).append(f"{url.split('?', 1)[0]}: {exc.message}")
                continue
            name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "input"
            wanted.append((slot_name, SimpleUploadedFile(name[:100], fetched.data)))
    by_slot: dict[str, int] = {}
    for slot_name, upload in wanted:
        slot = spec.slot(slot_name)
        if slot is None:
            known = ", ".join(s.name for s in spec.media) or "none"
            errors.setdefault(slot_name, []).append(
                f"This model has no input slot {slot_name!r} (slots: {known})."
            )
            continue
        by_slot[slot_name] = by_slot.get(slot_name, 0) + 1
        if by_slot[slot_name] > slot.max_count:
            errors.setdefault(slot_name, []).append(
                f"{slot.label}: this model takes at most {slot.max_count}."
            )
            continue
        try:
            data, info = probe_upload(upload, slot)
        except UploadRefused as exc:
            errors.setdefault(slot_name, []).append(str(exc))
            continue
        uploads.append(UploadedInput(slot=slot_name, data=data, filename=upload.name, info=info))
    return uploads


@jobs.post(
    "",
    response={200: JobOut, 201: JobCreatedOut, **ERRORS, 402: ProblemOut},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": JOB_REQUEST_SCHEMA},
                "multipart/form-data": {"schema": MULTIPART_SCHEMA},
            },
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
                "description": "The same key and body within 24 h returns the first job (200); another body is a 422.",
            }
        ],
    },
)
def job_create(request):
    """Create a job: validated by the catalog, reserved against the quota, queued for its vendor.

    201 with the new job (its `cost_estimate` set), or 200 with the first job for a repeated
    `Idempotency-Key`.
    """
    membership = _membership(request)
    if not membership.can_edit:
        raise PermissionDenied("Viewers can browse but not create jobs.")
    fields, files, errors = _parse_job_request(request)
    if "project" in errors:
        raise RequestValidationError(errors)
    try:
        project_id = uuid.UUID(fields["project"])
    except ValueError:
        raise RequestValidationError({**errors, "project": ["Not a project id."]}) from None
    project = selectors.project_get(membership=membership, public_id=project_id)
    fingerprint = services.body_fingerprint(
        {k: v for k, v in fields.items()}, [(slot, _sha256(upload)) for slot, upload in files]
    )
    key = request.headers.get("Idempotency-Key", "").strip()
    if key and (len(key) > 200 or not key.isprintable() or not key.isascii()):
        raise RequestValidationError({"Idempotency-Key": ["Use up to 200 printable ASCII characters."]})
    if key:
        earlier = services.idempotent_job(membership=membership, key=key, fingerprint=fingerprint)
        if earlier is not None:
            return Status(200, selectors.job_payload(earlier))
    provider = fields.get("provider", "")
    if provider and provider not in team_providers(membership) and "provider" not in errors:
        errors["provider"] = [f"{PROVIDER_LABELS.get(provider, provider)} is not configured."]
    spec = None
    if "provider" not in errors:
        try:
            spec = catalog.get_model(provider, fields.get("model") or None, fields.get("mode") or None)
        except RequestValidationError as exc:
            errors.update(exc.errors)
    uploads = _probe_all(spec, fields, files, errors) if spec is not None else []
    if fields.get("webhook_url"):
        try:
            services.check_webhook_url(fields["webhook_url"])
        except RequestValidationError as exc:
            errors.update(exc.errors)
    if errors:
        if spec is not None:
            _add_catalog_errors(spec, fields, uploads, errors)
        raise RequestValidationError(errors)
    job, repeated = services.job_create(
        membership=membership,
        token=request.api_token,
        project=project,
        fields={**fields, "model": spec.model_id, "mode": spec.mode.value},
        uploads=uploads,
        idempotency_key=key,
        fingerprint=fingerprint,
        webhook_url=fields.get("webhook_url", ""),
    )
    if repeated:
        return Status(200, selectors.job_payload(job))
    payload = selectors.job_payload(job)
    api_job = getattr(job, "api", None)
    if api_job is not None and api_job.webhook_url:
        payload["webhook_secret"] = webhooks.secret_for_salt(api_job.webhook_salt)
    return Status(201, payload)


def _sha256(upload) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _add_catalog_errors(spec, fields, uploads, errors) -> None:
    """The catalog's own errors too, so one answer lists every problem (like the form)."""
    request = GenerationRequest(
        provider=spec.provider,
        model=spec.model_id,
        mode=spec.mode,
        prompt=fields.get("prompt") or "",
        params=dict(fields.get("params") or {}),
        inputs=[
            MediaInput(
                slot=u.slot, content_type=u.info.content_type, data=u.data, filename=u.filename, info=u.info
            )
            for u in uploads
        ],
    )
    try:
        catalog.validate_request(request)
    except RequestValidationError as exc:
        for name, messages in exc.errors.items():
            if name not in errors:
                errors[name] = list(messages)


@jobs.get("", response={200: JobPage, **ERRORS})
def job_list(request, filters: Query[JobFilters]):
    """The team's jobs, newest first, with keyset pagination (`next_cursor` -> `after`)."""
    membership = _membership(request)
    if filters.project is not None:
        selectors.project_get(membership=membership, public_id=filters.project)  # another team's: 404
    after = None
    if filters.after is not None:
        after = selectors.jobs_for_team(membership=membership).filter(public_id=filters.after).first()
        if after is None:
            raise RequestValidationError({"after": ["Unknown cursor."]})
    page, cursor = selectors.job_page(
        membership=membership,
        filters={
            "project": filters.project,
            "status": filters.status.value if filters.status else None,
            "mode": filters.mode.value if filters.mode else None,
            "provider": filters.provider,
            "created_after": filters.created_after,
            "created_before": filters.created_before,
        },
        after=after,
        limit=filters.limit,
    )
    return {"items": [selectors.job_payload(j) for j in page], "next_cursor": cursor}


@jobs.get("/{job_id}", response={200: JobOut, **ERRORS})
def job_detail(request, job_id: uuid.UUID):
    """Status, progress, outputs with download URLs, cost and error."""
    return selectors.job_payload(selectors.job_get(membership=_membership(request), public_id=job_id))


@jobs.post("/{job_id}/cancel", response={200: JobOut, **ERRORS})
def job_cancel(request, job_id: uuid.UUID):
    """Cancel a queued or running job (its creator, or an admin). A finished job is returned as it is."""
    membership = _membership(request)
    job = selectors.job_get(membership=membership, public_id=job_id)
    generation_services.job_cancel(membership=membership, job=job)
    return selectors.job_payload(selectors.job_get(membership=membership, public_id=job_id))


@jobs.post("/{job_id}/retry", response={201: JobOut, **ERRORS, 402: ProblemOut})
def job_retry(request, job_id: uuid.UUID):
    """Run a failed or canceled job again as a new job with the same parameters and inputs."""
    membership = _membership(request)
    job = selectors.job_get(membership=membership, public_id=job_id)
    if not membership.can_edit:
        raise PermissionDenied("Viewers can browse but not create jobs.")
    new_job = generation_services.job_retry(membership=membership, job=job)
    return Status(201, selectors.job_payload(new_job))


@jobs.delete("/{job_id}", response={204: None, **ERRORS})
def job_delete(request, job_id: uuid.UUID):
    """Delete a finished job and its files (cancel an active one first)."""
    membership = _membership(request)
    job = selectors.job_get(membership=membership, public_id=job_id)
    generation_services.job_delete(membership=membership, job=job)
    return Status(204, None)


api.add_router("/jobs", jobs)


@api.get("/files/{asset_id}", response={200: None, **ERRORS}, tags=["jobs"], url_name="asset_file")
def asset_file(request, asset_id: uuid.UUID):
    """An output's bytes (the `url` of a job's output)."""
    asset = selectors.asset_get(membership=_membership(request), public_id=asset_id)
    return stored_file_response(asset.file, content_type=asset.content_type)


@api.get("/usage", response={200: UsageOut, **ERRORS}, tags=["usage"])
def usage(request):
    """This period's spent / reserved / remaining: the caller's, and the team's for owners and admins."""
    membership = _membership(request)
    period = quota_selectors.usage_period_get(team=membership.team, key=None)
    figures = quota_selectors.usage_for_team(team=membership.team, period=period, members=[membership])
    mine = next((row.figures for row in figures.members if row.membership.pk == membership.pk), None)

    def money(f) -> dict:
        if f is None:
            return {"budget": None, "spent": "0", "reserved": "0", "remaining": None, "jobs": 0}
        return {
            "budget": None if f.budget is None else str(f.budget),
            "spent": str(f.spent),
            "reserved": str(f.reserved),
            "remaining": None if f.remaining is None else str(f.remaining),
            "jobs": f.jobs,
        }

    return {
        "period_start": period.start,
        "period_end": period.end,
        "team": money(figures.totals) if membership.can_manage_members else None,
        "me": money(mine),
    }


# ---------------------------------------------------------------------------------------------
# Compare runs (generations/runs.py): the form's Compare section and `manage.py generate --compare`
# ---------------------------------------------------------------------------------------------

compare_runs = Router(tags=["runs"])


class RunIn(Schema):
    project: uuid.UUID
    mode: Mode
    prompt: str = Field("", max_length=10000)
    params: dict[str, Any] = Field(
        default_factory=dict, description="Normalised names; translated per target (notes say how)."
    )
    targets: list[str] = Field(
        min_length=1, max_length=48, description='"provider:model" serving `mode`; see GET /models.'
    )
    seeds: list[int] = Field(default_factory=list, max_length=runs.MAX_SEEDS, description="Explicit seeds.")
    seed_count: int | None = Field(
        None, ge=1, le=runs.MAX_SEEDS, description="Or this many random seeds (default 1)."
    )
    variants: list[str] = Field(default_factory=list, max_length=runs.MAX_VARIANTS, description="Prompts.")
    extra_param: str = Field("", max_length=40, description=f"One of {', '.join(runs.EXTRA_PARAMS)}.")
    extra_values: list[int | float | str] = Field(default_factory=list, max_length=runs.MAX_EXTRA_VALUES)
    failover: bool = Field(
        False, description="Re-route a job that fails for capacity (if the team allows it)."
    )


class RunCellOut(Schema):
    row: int
    col: int
    row_label: str
    col_label: str
    target: str | None = Field(description='"provider:model" of the cell\'s job; null when left out.')
    job: uuid.UUID | None = Field(description="GET /jobs/{id} for its outputs; null when left out.")
    status: str = Field(description='The job\'s status, or "left_out" (the reason is in `note`).')
    cost: str = Field(description="USD: final cost, the hold while it runs, 0 when refunded.")
    seed: int | None
    vendor_seconds: float | None
    note: str = Field(description="A parameter translated for this target, or why the cell is left out.")
    winner: bool
    votes: int


class RunOut(Schema):
    id: uuid.UUID
    project: uuid.UUID
    mode: str
    prompt: str
    failover: bool
    targets: list[str]
    seeds: list[int]
    variants: list[str]
    extra_param: str
    extra_values: list[Any]
    total_cost: str
    created_at: datetime
    cells: list[RunCellOut]


@compare_runs.post(
    "",
    response={200: RunOut, 201: RunOut, **ERRORS, 402: ProblemOut},
    openapi_extra={
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
                "description": "The same key and body within 24 h returns the first run (200); another body is a 422.",
            }
        ]
    },
)
def run_create(request, payload: RunIn):
    """Make a compare run: targets x prompt variants x extra values x seeds, at most 48 jobs,
    reserved all or nothing. A limit that refuses any job refuses the run (no job, no hold):
    402 / 403 / 429 as for one job, naming the `limit` and how many jobs `fits`."""
    membership = _membership(request)
    if not membership.can_edit:
        raise PermissionDenied("Viewers can browse but not create runs.")
    if _has_nul(payload.prompt) or _has_nul(payload.variants) or _has_nul(payload.params):
        raise RequestValidationError({"prompt": [NUL_MESSAGE]})
    if _has_nul(payload.targets) or _has_nul(payload.extra_values) or "\x00" in payload.extra_param:
        raise RequestValidationError({"targets": [NUL_MESSAGE]})
    project = selectors.project_get(membership=membership, public_id=payload.project)
    body = payload.dict()
    fingerprint = services.body_fingerprint({"run": body}, [])
    key = request.headers.get("Idempotency-Key", "").strip()
    if key and (len(key) > 200 or not key.isprintable() or not key.isascii()):
        raise RequestValidationError({"Idempotency-Key": ["Use up to 200 printable ASCII characters."]})
    if key:
        earlier = services.idempotent_run(membership=membership, key=key, fingerprint=fingerprint)
        if earlier is not None:
            return Status(200, selectors.run_payload(earlier, user=membership.user))
    options = {
        "mode": payload.mode.value,
        "targets": [runs.Target.parse(t) for t in payload.targets],
        "prompt": payload.prompt,
        "params": payload.params,
        "seeds": payload.seeds,
        "seed_count": payload.seed_count,
        "variants": payload.variants,
        "extra_param": payload.extra_param,
        "extra_values": payload.extra_values,
        "failover": payload.failover,
    }
    run, repeated = services.run_create(
        membership=membership, project=project, options=options, idempotency_key=key, fingerprint=fingerprint
    )
    return Status(200 if repeated else 201, selectors.run_payload(run, user=membership.user))


@compare_runs.get("/{run_id}", response={200: RunOut, **ERRORS})
def run_detail(request, run_id: uuid.UUID):
    """The run's cells: each with its job id, status, cost, seed, target and note."""
    membership = _membership(request)
    run = selectors.run_get(membership=membership, public_id=run_id)
    return selectors.run_payload(run, user=membership.user)


api.add_router("/runs", compare_runs)


def unknown_path(request, rest: str = ""):
    """Any other path under /api/v1/: a problem document, not the studio's HTML 404."""
    return problem(404, "Not Found", "No such API path. See /api/v1/openapi.json.")
