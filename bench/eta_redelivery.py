"""Why polls were delivered twice ~80 ms apart: a countdown message outliving the visibility timeout.

Starts a private redis-server and one idle worker (solo pool) with a 3 s visibility timeout and
a 1 s unacked sweep (the scale-out runs used 10-20 s and 2 s), publishes one task with a 10 s
countdown, and prints the worker's log lines for it. Celery hands the ETA message to the worker
at once, which holds it unacknowledged until it is due; after 3 s the sweep (any worker's) puts
it back in the queue, the worker takes it again and holds a second copy with the same ETA, and
both run at the ETA, milliseconds apart. A task sent when due (the poll dispatcher) is acked
long before any timeout.

    .venv/bin/python bench/eta_redelivery.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

import _common as common
import _pipeline as pipeline


def main() -> int:
    redis_url, redis = pipeline.private_redis()
    options = {"visibility_timeout": 3, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}
    log = tempfile.NamedTemporaryFile(prefix="eta-redelivery-", suffix=".log", delete=False)  # noqa: SIM115
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wanweb.settings",
        "DEBUG": "true",
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{common.OUT / 'eta-redelivery.sqlite3'}",
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_SECONDS": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "wanweb", "worker", "-Q", "default", "-P", "solo"]
        + ["--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        env=env,
        cwd=common.ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(8)  # the worker is up
        os.environ.update(env)
        common.django_setup()
        from wanweb.celery import app

        app.conf.broker_url = redis_url
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, **options}
        sent = app.send_task("celery.backend_cleanup", countdown=10, queue="default")
        print(f"sent {sent.id} with countdown=10 at {time.strftime('%H:%M:%S')}", flush=True)
        time.sleep(16)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        redis.terminate()
    with open(log.name, errors="replace") as worker_log:
        lines = [line for line in worker_log if sent.id in line]
    for line in lines:
        print(line.rstrip())
    received = sum("received" in line for line in lines)
    ran = [line for line in lines if re.search(r"succeeded|raised|Traceback|failed", line)]
    print(json.dumps({"deliveries_received": received, "runs": len(ran)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
