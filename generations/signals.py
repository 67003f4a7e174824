"""Signals other apps listen to, so generations imports none of them."""

from django.dispatch import Signal

# Sent by services.on_job_finished once a job reaches succeeded/failed/canceled (kwargs: job).
job_finished = Signal()
