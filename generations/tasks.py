"""Celery entry points: take ids, call one service, nothing else (shared/STYLE.md).

Every task is idempotent (the services claim rows with conditional updates), acks late, and has
time limits. Countdowns stay far below Redis' visibility timeout.
"""

from __future__ import annotations

import random

from celery import shared_task
from django.db import OperationalError

from providers.base import ProviderError

# A locked or restarting database is worth a few quick retries; anything else is a bug to see.
DB_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
}

SUBMIT_RETRIES = 6
STORE_RETRIES = 6


def retry_countdown(retries: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter (2, 4, 8 ... 120 s), never shorter than the vendor's Retry-After."""
    delay = min(120.0, 2.0 * (2**retries)) * random.uniform(0.75, 1.25)
    return round(max(delay, retry_after or 0.0), 2)


@shared_task(bind=True, acks_late=True, max_retries=SUBMIT_RETRIES, soft_time_limit=240, time_limit=300)
def job_submit_task(self, job_id: int) -> None:
    from generations import services

    try:
        services.job_submit(job_id=job_id)
    except ProviderError as exc:  # only transient ones reach here: the service fails permanent ones
        if self.request.retries >= self.max_retries:
            services.job_fail_by_id(
                job_id=job_id, code=exc.code, message=f"Gave up after retries: {exc.message}"
            )
            return
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries, exc.retry_after)) from exc


# One poll per message: what the dispatcher sent before batches, kept so that messages queued by
# an older worker during a deploy still run.
@shared_task(acks_late=True, soft_time_limit=240, time_limit=300, max_retries=5, **DB_RETRY)
def job_poll_task(job_id: int, token: str, sequence: int | None = None) -> None:
    from generations import services

    services.job_poll(job_id=job_id, token=token, sequence=sequence)


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300, max_retries=5, **DB_RETRY)
def job_poll_batch_task(polls: list[list]) -> None:
    """Several due polls in one message (the dispatcher's): [[job_id, token, sequence], ...]."""
    from generations import services

    services.job_poll_batch(polls=[(job_id, token, sequence) for job_id, token, sequence in polls])


@shared_task(bind=True, acks_late=True, max_retries=STORE_RETRIES, soft_time_limit=600, time_limit=660)
def job_store_outputs_task(self, job_id: int) -> None:
    from generations import services

    try:
        services.job_store_outputs(job_id=job_id)
    except ProviderError as exc:
        if self.request.retries >= self.max_retries:
            services.job_fail_by_id(
                job_id=job_id, code=exc.code, message=f"Could not copy the result: {exc.message}"
            )
            return
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries, exc.retry_after)) from exc


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, max_retries=5, **DB_RETRY)
def job_vendor_cancel_task(job_id: int) -> None:
    from generations import services

    services.job_vendor_cancel(job_id=job_id)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180, max_retries=2, **DB_RETRY)
def job_reconcile_task() -> dict[str, int]:
    from generations import services

    return services.job_reconcile()


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180, max_retries=2, **DB_RETRY)
def pending_upload_cleanup_task() -> int:
    from generations import uploads

    return uploads.pending_upload_cleanup()
