"""What the poll dispatcher would send next for a job (generations/dispatch.py), for service-level tests.

Polls are no longer enqueued by the poll before them: the row says when the next is due, and the
dispatcher sends `job_poll(job_id, token, sequence=poll_count)` then. Tests that drive a job
through the services call this instead of waiting for the clock.
"""

from __future__ import annotations

from generations.dispatch import POLLED_STATUSES
from generations.models import Job


def next_poll(job_id: int) -> dict | None:
    """The poll the dispatcher would send for this job once it is due, or None when none is scheduled."""
    row = (
        Job.objects.filter(pk=job_id, status__in=POLLED_STATUSES, result=[], poll_due_at__isnull=False)
        .values("poll_token", "poll_count")
        .first()
    )
    if row is None:
        return None
    return {"job_id": job_id, "token": row["poll_token"], "sequence": row["poll_count"]}
