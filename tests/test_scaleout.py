"""bench/scaleout.py, run small: gunicorn x2, three Celery workers and beat on PostgreSQL, Redis and
S3 (moto_server on loopback), the downloads worker SIGKILLed mid-run, and the books still balance.

The script does the checking (from the database and the bucket) and exits 1 when any check
fails; this test runs it with 20 jobs and reads its verdicts. Only the downloads worker is killed
here: its store task is redelivered after the (10 s) visibility timeout. Killing a `default`
worker mid-poll leaves that poll chain to the reconciler (2 minutes of silence, then the next
beat), too slow for a test; the 200-job runs in docs/BENCHMARKS.md kill both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = [
    "one job per accepted POST",
    "every job succeeded",
    "one event of the final status per job",
    "one 'submitted' event per job",
    "the vendor saw one submit per fal job",
    "every hold settled or refunded exactly once",
    "wallets: nothing left reserved, spent = settled",
    "one output per succeeded job (no duplicates)",
    "every file row is in storage with its size",
    "no orphan files in storage",
    "20 outputs served (302 to a signed URL on the S3 endpoint) with their bytes",
    "the bucket refuses unsigned URLs",
    "streamed zip of 20 outputs: every file, right CRCs, a manifest",
    "both gunicorn workers served requests",
]


@pytest.mark.postgres
@pytest.mark.celery
def test_twenty_jobs_through_gunicorn_three_workers_and_s3_survive_a_sigkilled_worker():
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip(
            "needs PostgreSQL: run with DATABASE_URL=postgres://... (the script makes its own database)"
        )
    pytest.importorskip("moto")
    pytest.importorskip("gunicorn")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [
            sys.executable,
            "bench/scaleout.py",
            "--jobs",
            "20",
            "--s3",
            "--kill",
            "downloads",
            "--visibility-timeout",
            "10",
            "--sim-delay",
            "2",
            # Long enough for beat's reconciler (2 min of silence, then its next minute): a message the
            # killed worker had popped but not yet recorded as unacked is gone from Redis, and only
            # the reconciler brings that job back (seen once in CI: one store task lost this way).
            "--timeout",
            "330",
            "--database-url",
            os.environ["DATABASE_URL"],
            "--redis-url",
            settings.CELERY_BROKER_URL,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "SIGKILLed worker downloads" in output
    for check in EXPECTED:
        assert f"PASS  {check}" in output, (check, output[-4000:])
    assert "FAIL  " not in output and "RESULT: PASS" in output
