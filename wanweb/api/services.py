"""Every write of the API app: tokens, idempotent job and compare-run creation, webhook endpoints."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from generations import runs
from generations import services as generation_services
from generations.models import Job, Project, Run
from providers import download
from providers.base import ProviderError, RequestValidationError
from wanweb.accounts.models import Membership, hash_token
from wanweb.api.models import WEBHOOK_EVENTS, ApiJob, ApiToken, IdempotencyKey, WebhookEndpoint

TOKEN_PREFIX = "wan_"  # noqa: S105 (a label, not a secret)
MAX_TOKEN_DAYS = 366
IDEMPOTENCY_WINDOW = timedelta(hours=24)
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


def token_create(
    *, membership: Membership, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new token for this user in this team; returns it and the raw token (show it once)."""
    name = name.strip()[:80] or "API token"
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise RequestValidationError({"expires_in_days": [f"Choose between 1 and {MAX_TOKEN_DAYS} days."]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=membership.user,
        team=membership.team,
        name=name,
        token_hash=hash_token(raw),
        prefix=raw[:12],
        expires_at=timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    return token, raw


def token_revoke(*, membership: Membership, token: ApiToken) -> None:
    """Revoke one's own token (admins may revoke anyone's in their team)."""
    if token.team_id != membership.team_id:
        raise PermissionDenied("That token is not this team's.")
    if token.user_id != membership.user_id and not membership.can_manage_members:
        raise PermissionDenied("Only the token's owner or a team admin can revoke it.")
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


# ---------------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------------


class IdempotencyConflict(Exception):
    """The key was used with a different body within the window (422)."""


def body_fingerprint(fields: dict, files: list[tuple[str, str]]) -> str:
    """A hash of what was asked: the fields as canonical JSON, each file (slot, SHA-256 hex)."""
    canonical = json.dumps(
        {"fields": fields, "files": [[slot, digest] for slot, digest in files]},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_webhook_url(url: str) -> None:
    """Early SSRF check of a receiver URL; RequestValidationError naming `field`."""
    try:
        download.check_target(url, allow_private=settings.ALLOW_PRIVATE_URLS)
    except ProviderError as exc:
        raise RequestValidationError({"webhook_url": [_guard_message(exc)]}) from None


def _guard_message(exc: ProviderError) -> str:
    return exc.message.replace("download", "deliver to").replace("refusing to deliver to from", "refusing")


def job_create(
    *,
    membership: Membership,
    token: ApiToken | None,
    project: Project,
    fields: dict,
    uploads,
    idempotency_key: str = "",
    fingerprint: str = "",
    webhook_url: str = "",
) -> tuple[Job, bool]:
    """Create a job through the same service as the form; returns (job, repeated).

    With an `idempotency_key`, the same key and body within 24 h returns the first job (repeated
    True); another body raises IdempotencyConflict. The key's row is inserted first, in the job's
    transaction: a concurrent twin's INSERT waits on the unique index, then fails and reads the
    first job, so there is one job and one hold however many arrive at once.
    """
    if not membership.can_edit:
        raise PermissionDenied("Viewers can browse but not create jobs.")
    if webhook_url:
        check_webhook_url(webhook_url)
    if not idempotency_key:
        with transaction.atomic():
            job = _create(membership, token, project, fields, uploads, webhook_url)
        return job, False
    key = idempotency_key[:200]
    job = _make_under_key(
        membership=membership,
        key=key,
        fingerprint=fingerprint,
        field="job",
        make=lambda: _create(membership, token, project, fields, uploads, webhook_url),
    )
    if job is not None:
        return job, False
    earlier = IdempotencyKey.objects.select_related("job").get(
        user=membership.user, team=membership.team, key=key
    )
    if earlier.body_hash != fingerprint:
        raise IdempotencyConflict("This Idempotency-Key was used with a different request body.")
    if earlier.job is None:
        raise IdempotencyConflict("The job made with this Idempotency-Key was deleted.")
    return earlier.job, True


def _make_under_key(*, membership: Membership, key: str, fingerprint: str, field: str, make):
    """Insert this key's row, then `make()` the job or run in the same transaction and record it
    in the row's `field`; None when another request already holds the key.

    A concurrent twin's INSERT waits on the unique index until the first commits, then fails; a
    refusal inside `make()` rolls the key back with everything else. Keys past the window go first.
    """
    cutoff = timezone.now() - IDEMPOTENCY_WINDOW
    IdempotencyKey.objects.filter(
        user=membership.user, team=membership.team, key=key, created_at__lt=cutoff
    ).delete()
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user=membership.user, team=membership.team, key=key, body_hash=fingerprint
                )
        except IntegrityError:
            return None
        made = make()
        setattr(record, field, made)
        record.save(update_fields=[field])
        return made


def _earlier_under_key(*, membership: Membership, key: str, fingerprint: str, field: str, related: list[str]):
    """What an earlier request with this key made in `field` (within 24 h), or None when there was
    none; IdempotencyConflict when that request had another body or its object was deleted."""
    earlier = (
        IdempotencyKey.objects.select_related(*related)
        .filter(user=membership.user, team=membership.team, key=key[:200])
        .filter(created_at__gte=timezone.now() - IDEMPOTENCY_WINDOW)
        .first()
    )
    if earlier is None:
        return None
    if earlier.body_hash != fingerprint:
        raise IdempotencyConflict("This Idempotency-Key was used with a different request body.")
    made = getattr(earlier, field)
    if made is None:
        raise IdempotencyConflict(f"The {field} made with this Idempotency-Key was deleted.")
    return made


def idempotent_job(*, membership: Membership, key: str, fingerprint: str) -> Job | None:
    """The job an earlier request with this key made, or None. A cheap early answer: job_create
    still holds the race."""
    return _earlier_under_key(
        membership=membership, key=key, fingerprint=fingerprint, field="job", related=["job", "job__project"]
    )


def run_create(
    *,
    membership: Membership,
    project: Project,
    options: dict,
    idempotency_key: str = "",
    fingerprint: str = "",
) -> tuple[Run, bool]:
    """A compare run through the same service as the form (generations.runs.run_create, all or
    nothing); returns (run, repeated). Idempotency as job_create: the key's row is inserted first in
    the run's transaction, so a refused run leaves no key, no job and no hold, and concurrent twins
    make one run."""
    if not idempotency_key:
        return runs.run_create(membership=membership, project=project, **options), False
    key = idempotency_key[:200]
    run = _make_under_key(
        membership=membership,
        key=key,
        fingerprint=fingerprint,
        field="run",
        make=lambda: runs.run_create(membership=membership, project=project, **options),
    )
    if run is not None:
        return run, False
    earlier = idempotent_run(membership=membership, key=key, fingerprint=fingerprint)
    if earlier is None:
        raise IdempotencyConflict("The run made with this Idempotency-Key was deleted.")
    return earlier, True


def idempotent_run(*, membership: Membership, key: str, fingerprint: str) -> Run | None:
    """The run an earlier `POST /runs` with this key made, or None (see _earlier_under_key)."""
    return _earlier_under_key(
        membership=membership, key=key, fingerprint=fingerprint, field="run", related=["run"]
    )


def _create(membership, token, project, fields, uploads, webhook_url) -> Job:
    job = generation_services.job_create(
        membership=membership,
        project=project,
        provider=fields["provider"],
        model=fields.get("model") or None,
        mode=fields.get("mode") or None,
        prompt=fields.get("prompt") or "",
        params=fields.get("params") or {},
        uploads=uploads,
    )
    ApiJob.objects.create(
        job=job,
        token=token,
        webhook_url=webhook_url,
        webhook_salt=secrets.token_hex(16) if webhook_url else "",
    )
    return job


# ---------------------------------------------------------------------------------------------
# Webhook endpoints
# ---------------------------------------------------------------------------------------------


def _require_admin_or_editor(membership: Membership) -> None:
    if not membership.can_edit:
        raise PermissionDenied("Viewers cannot change webhooks.")


def endpoint_create(
    *, membership: Membership, project: Project | None, url: str, events: list[str]
) -> WebhookEndpoint:
    _require_admin_or_editor(membership)
    if project is not None and project.team_id != membership.team_id:
        raise PermissionDenied("That project belongs to another team.")
    errors: dict[str, list[str]] = {}
    try:
        download.check_target(url, allow_private=settings.ALLOW_PRIVATE_URLS)
    except ProviderError as exc:
        errors["url"] = [_guard_message(exc)]
    events = [e for e in WEBHOOK_EVENTS if e in set(events)]
    if not events:
        errors["events"] = ["Choose at least one event."]
    if errors:
        raise RequestValidationError(errors)
    return WebhookEndpoint.objects.create(
        team=membership.team,
        project=project,
        url=url,
        events=events,
        secret_salt=secrets.token_hex(16),
        created_by=membership.user,
    )


def endpoint_rotate_secret(*, membership: Membership, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    _require_admin_or_editor(membership)
    endpoint.secret_salt = secrets.token_hex(16)
    endpoint.save(update_fields=["secret_salt"])
    return endpoint


def endpoint_delete(*, membership: Membership, endpoint: WebhookEndpoint) -> None:
    _require_admin_or_editor(membership)
    endpoint.delete()
