"""The poll dispatcher: send each job's poll when it is due, from `Job.poll_due_at`, once.

Why not a countdown task per poll (what the chain did until issue 13): Celery hands an ETA
message to a worker at once, and the worker holds it unacknowledged in memory until it is due
(its prefetch grows with every one). Thousands of jobs in flight were thousands of messages held
by one worker's timer, each then queued behind submits and downloads on the same pool, and each
one past Redis' visibility timeout handed out a second time (two deliveries of the same poll
~80 ms apart at its due time, with the 10-20 s timeouts of the scale-out runs).

Now the row is the only schedule: a poll records when the next is due (`poll_due_at`), and a
dispatcher running in each worker that serves the polls queue (PollDispatcherStep, a thread of
the worker's main process) asks every TICK seconds, in one indexed query, which active jobs are
due, marks them dispatched (`poll_dispatched_at`, under FOR UPDATE SKIP LOCKED on PostgreSQL, so
several workers never send the same poll), and sends them as immediate `job_poll_batch_task`s of
up to POLL_BATCH polls on the `polls` queue (one message and one claim for many polls: most of a
quiet poll's cost was the task around its one vendor GET). A dispatched poll whose message is
lost (a worker killed, a broker restart) is sent again after LEASE, since no poll recorded a
later due time; a duplicate finds its sequence number taken and does nothing
(services.job_poll_batch). The reconciler stays as the backstop for a
job nobody dispatches at all (no worker on the polls queue).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from celery import bootsteps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

logger = logging.getLogger(__name__)

TICK = 0.25  # seconds between looks at the due polls: bounds how late a due poll is sent
EARLY = timedelta(seconds=TICK)  # ... and how early: polls due before the next look go now
BATCH = 500  # due polls claimed per query; a fuller batch is followed by another at once
# Due polls per message (services.job_poll_batch). A batch costs about one poll's database work and
# one message for all of them; its vendor calls run POLL_THREADS at a time, so a poll in a batch of
# 20 waits for at most two other rounds of vendor calls.
POLL_BATCH = 20
# A dispatched poll that has not recorded its successor's due time within this long is sent
# again (its message was lost). Longer than a queued poll waits on a healthy worker; shorter
# than the reconciler's patience (services.POLL_OVERDUE, 60 s).
LEASE = timedelta(seconds=30)
POLLED_STATUSES = ["submitted", "running"]  # exactly the job_poll_due index's condition


def due_polls(now):
    """Active jobs waiting for a poll whose due time has come and that no dispatch is serving.

    A poll that records the next due time clears `poll_dispatched_at` (nothing sent for it yet).
    Dispatched before the current due time (`poll_dispatched_at < poll_due_at`) also means that
    dispatch was for an earlier poll. Jobs whose outputs are being stored (`result` set) are the
    store task's, not a poll's.
    """
    from generations.models import Job

    return Job.objects.filter(status__in=POLLED_STATUSES, poll_due_at__lte=now, result=[]).filter(
        Q(poll_dispatched_at__isnull=True)
        | Q(poll_dispatched_at__lt=F("poll_due_at"))
        | Q(poll_dispatched_at__lt=now - LEASE)
    )


def polls_dispatch_due(*, now=None, batch: int = BATCH, send=None) -> int:
    """Claim up to `batch` due polls and send them (`send`, default: to the polls queue).

    Returns how many were claimed. An idle tick is one indexed query. The claim commits before
    anything is sent: a crash between the two loses nothing (the lease runs out and a later tick
    sends them again).
    """
    from generations.models import Job

    # Polls due before the next tick go with this one: sent at most EARLY before their time, they
    # join the batches of this tick instead of leaving one by one on the next (a lone poll costs
    # ~3x a batched one's CPU). Marked dispatched as of that horizon, so they are not due again.
    now = (now or timezone.now()) + EARLY
    due = due_polls(now)
    if not due.exists():
        return 0
    with transaction.atomic():
        claimed = list(
            due.select_for_update(skip_locked=True)
            .order_by("poll_due_at")
            .values_list("pk", "poll_token", "poll_count")[:batch]
        )
        Job.objects.filter(pk__in=[pk for pk, _, _ in claimed]).update(poll_dispatched_at=now)
    (send or send_polls)(claimed)
    return len(claimed)


def send_polls(claimed: list[tuple[int, str, int]]) -> None:
    """The claimed polls as job_poll_batch_task messages of at most POLL_BATCH, on one producer
    connection, split evenly so each of a worker's processes gets a share of a large tick."""
    from generations.tasks import job_poll_batch_task
    from wanweb.celery import app

    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for batch in split_batches(claimed, POLL_BATCH):
                job_poll_batch_task.apply_async((batch,), producer=producer)
                sent += len(batch)
    except Exception:  # the broker is gone: the lease brings these back, the thread keeps ticking
        logger.exception("poll dispatch: %s of %s due polls sent", sent, len(claimed))


def split_batches(items: list, most: int) -> list[list]:
    """`items` in the fewest batches of at most `most`, of sizes differing by one at most."""
    count = -(-len(items) // most)  # ceiling division
    size, extra = divmod(len(items), count) if count else (0, 0)
    batches, start = [], 0
    for i in range(count):
        end = start + size + (i < extra)
        batches.append(items[start:end])
        start = end
    return batches


def run_dispatcher(stop: threading.Event, *, tick: float = TICK) -> None:
    """Dispatch due polls every `tick` seconds until `stop` is set (a worker's thread, or a test's)."""
    while not stop.is_set():
        try:  # one connection for the thread's life (not one per tick); a broken one is replaced below
            while polls_dispatch_due() >= BATCH and not stop.is_set():
                pass  # more were due than one batch: take the next at once
        except Exception:
            logger.exception("poll dispatch failed; trying again")
            connection.close()  # a dropped database connection: the next tick opens a new one
        stop.wait(tick)
    connection.close()


def serves_polls(queue_names) -> bool:
    return settings.CELERY_TASK_ROUTES["generations.tasks.job_poll_batch_task"]["queue"] in set(queue_names)


class PollDispatcherStep(bootsteps.StartStopStep):
    """Worker bootstep: a worker consuming the polls queue also dispatches them (see the module).

    Started after the pool, so the prefork children are forked before the thread exists.
    """

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.thread: threading.Thread | None = None
        self.stop_event = threading.Event()

    def start(self, worker):
        queues = worker.app.amqp.queues.consume_from or worker.app.amqp.queues
        if not serves_polls(queues):
            return
        self.stop_event.clear()
        self.thread = threading.Thread(
            target=run_dispatcher, args=(self.stop_event,), name="poll-dispatcher", daemon=True
        )
        self.thread.start()

    def stop(self, worker):
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    terminate = stop  # a warm or cold shutdown alike (the test worker's ends with terminate)
