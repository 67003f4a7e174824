"""Outgoing webhooks: which receivers hear of a finished job, signing, delivery with backoff.

Signed with the Standard Webhooks scheme (the `standardwebhooks` package). Every delivery row has a
`msg_id` that is the `webhook-id` of every attempt, so a receiver can drop a repeat. A receiver
that does not answer 2xx is tried again with exponential backoff for up to 24 h (at least once).

Secrets are not stored: each is HMAC(SECRET_KEY, salt), so rotating draws a new salt, and a
database dump alone cannot sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks import Webhook

from generations.models import FINAL_STATUSES, Job
from providers import download
from providers.base import ProviderError
from wanweb.api.models import ApiJob, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from wanweb.redaction import redact_text

logger = logging.getLogger(__name__)

# Seconds after the previous attempt: 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 8 h, 8 h (about 23.6 h in all).
BACKOFF = (5, 60, 300, 1800, 7200, 18000, 28800, 28800)
CLAIM_LEASE = timedelta(minutes=2)  # the sweep leaves a claimed attempt alone this long
EVENT_OF_STATUS = {"succeeded": "job.succeeded", "failed": "job.failed", "canceled": "job.canceled"}


def secret_for_salt(salt: str) -> str:
    key = hmac.new(settings.SECRET_KEY.encode(), f"api-webhook:{salt}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(key).decode()


def _secret_of(delivery: WebhookDelivery) -> str:
    if delivery.endpoint_id:
        return secret_for_salt(delivery.endpoint.secret_salt)
    return secret_for_salt(delivery.api_job.webhook_salt)


def backoff(attempt: int) -> float | None:
    """Seconds before attempt `attempt + 1`, or None after the last."""
    schedule = getattr(settings, "API_WEBHOOK_BACKOFF", None) or BACKOFF
    if attempt > len(schedule):
        return None
    return float(schedule[attempt - 1])


def _receivers(job: Job, event: str) -> list[tuple[WebhookEndpoint | None, ApiJob | None, str]]:
    receivers = []
    endpoints = WebhookEndpoint.objects.filter(team_id=job.team_id, disabled_at__isnull=True).filter(
        Q(project_id=job.project_id) | Q(project__isnull=True)
    )
    for endpoint in endpoints:
        if event in endpoint.events:
            receivers.append((endpoint, None, endpoint.url))
    api_job = ApiJob.objects.filter(job=job).exclude(webhook_url="").first()
    if api_job is not None:
        receivers.append((None, api_job, api_job.webhook_url))
    return receivers


def deliveries_create(job: Job) -> list[WebhookDelivery]:
    """One delivery per receiver for the job's final event; a second call adds none (msg_id is unique)."""
    from wanweb.api.selectors import job_payload

    event = EVENT_OF_STATUS.get(job.status)
    if event is None:
        return []
    made = []
    receivers = _receivers(job, event)
    if not receivers:
        return []
    payload = {"type": event, "timestamp": timezone.now().isoformat(), "data": job_payload(job)}
    for endpoint, api_job, url in receivers:
        receiver = f"e{endpoint.pk}" if endpoint else f"j{api_job.pk}"
        msg_id = "msg_" + hashlib.sha256(f"{receiver}:{job.public_id}:{event}".encode()).hexdigest()[:32]
        try:
            with transaction.atomic():
                made.append(
                    WebhookDelivery.objects.create(
                        msg_id=msg_id,
                        team_id=job.team_id,
                        endpoint=endpoint,
                        api_job=api_job,
                        job=job,
                        project_id=job.project_id,
                        event=event,
                        url=url,
                        payload=payload,
                        next_attempt_at=timezone.now(),
                    )
                )
        except IntegrityError:
            continue  # already made by an earlier call for the same finish
    return made


def on_job_finished(sender, job: Job, **kwargs) -> None:
    """Signal receiver: after commit, make the deliveries and enqueue the first attempts."""
    team_id, project_id = job.team_id, job.project_id
    transaction.on_commit(lambda: enqueue_for_job(job.pk, team_id=team_id, project_id=project_id))


def _may_be_heard(job_id: int, *, team_id: int, project_id: int) -> bool:
    """Whether any endpoint or API caller might hear of this job, in one or two cheap EXISTS
    queries: a job nobody listens to (most of them) then costs the store task neither a read of
    its row nor _receivers' queries. The endpoints' event lists are checked in _receivers."""
    endpoints = WebhookEndpoint.objects.filter(team_id=team_id, disabled_at__isnull=True).filter(
        Q(project_id=project_id) | Q(project__isnull=True)
    )
    return endpoints.exists() or ApiJob.objects.filter(job_id=job_id).exclude(webhook_url="").exists()


def enqueue_for_job(job_id: int, *, team_id: int | None = None, project_id: int | None = None) -> None:
    """Make the job's deliveries and send their first attempts; with the job's team and project
    (as the signal knows them), a job without any receiver returns after one or two queries."""
    from wanweb.api.tasks import webhook_deliver_task

    if team_id is not None and not _may_be_heard(job_id, team_id=team_id, project_id=project_id):
        return
    job = Job.objects.select_related("project").filter(pk=job_id).first()
    if job is None:
        return
    for delivery in deliveries_create(job):
        webhook_deliver_task.delay(delivery.pk)


def sign(delivery: WebhookDelivery, body: str, when: datetime) -> dict[str, str]:
    signature = Webhook(_secret_of(delivery)).sign(delivery.msg_id, when, body)
    return {
        "webhook-id": delivery.msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def deliver(delivery_id: int) -> float | None:
    """Make one attempt; returns the seconds until the next one, or None when done (or gave up).

    The attempt is claimed first (a conditional update on the attempt count), so a duplicate task
    and the sweep cannot both send the same attempt.
    """
    delivery = WebhookDelivery.objects.select_related("endpoint", "api_job").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return None
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts
    ).update(attempts=delivery.attempts + 1, next_attempt_at=timezone.now() + CLAIM_LEASE)
    if not claimed:
        return None
    attempt = delivery.attempts + 1
    body = json.dumps(delivery.payload, separators=(",", ":"), default=str)
    started = time.monotonic()
    changes: dict = {"attempts": attempt}
    retry_in: float | None = None
    try:
        answer = download.post(
            delivery.url,
            content=body.encode(),
            headers=sign(delivery, body, timezone.now()),
            allow_private=settings.ALLOW_PRIVATE_URLS,
        )
    except ProviderError as exc:
        changes.update(response_status=None, response_snippet="", error=redact_text(exc.message, limit=300))
        ok, permanent = False, not exc.transient
    else:
        changes.update(
            response_status=answer.status,
            response_snippet=redact_text(answer.body_snippet, limit=300),
            error="",
        )
        ok, permanent = 200 <= answer.status < 300, False
    changes["latency_ms"] = int((time.monotonic() - started) * 1000)
    if ok:
        changes.update(status=DeliveryStatus.DELIVERED, delivered_at=timezone.now(), next_attempt_at=None)
    else:
        retry_in = None if permanent else backoff(attempt)
        if retry_in is None:
            changes.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        else:
            changes.update(
                status=DeliveryStatus.PENDING, next_attempt_at=timezone.now() + timedelta(seconds=retry_in)
            )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
    return retry_in


def send_again(delivery: WebhookDelivery) -> None:
    """Restart a delivery from its first attempt, same webhook-id (the log's "send again")."""
    from wanweb.api.tasks import webhook_deliver_task

    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    transaction.on_commit(lambda: webhook_deliver_task.delay(delivery.pk))


def sweep(*, now=None) -> int:
    """The beat's backstop: deliveries whose task was lost, and finished jobs with receivers but no
    delivery (a finish path that sent no signal). Returns how many attempts it enqueued."""
    from wanweb.api.tasks import webhook_deliver_task

    now = now or timezone.now()
    count = 0
    # Due attempts: those past the longest countdown a task carries, and any whose task was lost.
    overdue = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lt=now - timedelta(seconds=30)
    ).values_list("pk", flat=True)[:500]
    for pk in overdue:
        webhook_deliver_task.delay(pk)
        count += 1
    recent = Job.objects.filter(status__in=FINAL_STATUSES, finished_at__gte=now - timedelta(hours=1))
    teams = WebhookEndpoint.objects.filter(disabled_at__isnull=True).values("team_id")
    candidates = recent.filter(Q(team_id__in=teams) | Q(api__webhook_url__gt="")).exclude(
        pk__in=WebhookDelivery.objects.filter(job__isnull=False).values("job_id")
    )
    for job in candidates.select_related("project")[:200]:
        for delivery in deliveries_create(job):
            webhook_deliver_task.delay(delivery.pk)
            count += 1
    return count


def new_salt() -> str:
    return secrets.token_hex(16)
