"""Celery entry points of the API app: take ids, call one function (shared/STYLE.md)."""

from __future__ import annotations

from celery import shared_task

from generations.tasks import DB_RETRY

MAX_COUNTDOWN = 300


@shared_task(bind=True, acks_late=True, soft_time_limit=60, time_limit=90, **DB_RETRY)
def webhook_deliver_task(self, delivery_id: int) -> None:
    from wanweb.api import webhooks

    retry_in = webhooks.deliver(delivery_id)
    if retry_in is not None and retry_in <= MAX_COUNTDOWN:
        # Short waits as a countdown; longer ones are left to the sweep (beat, every minute), since
        # a countdown beyond Redis' visibility timeout would be delivered twice.
        webhook_deliver_task.apply_async((delivery_id,), countdown=retry_in)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180, **DB_RETRY)
def webhook_sweep_task() -> int:
    from wanweb.api import webhooks

    return webhooks.sweep()
