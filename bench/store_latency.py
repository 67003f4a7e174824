"""How long after a vendor finishes is the result stored? (a measurement, not a test)

A real Celery worker (subprocess `celery -A wanweb worker`) on a private Redis runs simulator
jobs submitted through `generations.services.job_create`, exactly as the web form does. For each
job:

  vendor finished  = vendor_state["started_at"] + vendor_state["delay"]   (the simulator's clock:
                     it answers SUCCEEDED to the first poll at or after this moment)
  detected         = the "vendor finished; copying outputs" event (the poll that saw it claimed it)
  stored           = Job.finished_at (outputs and thumbnails written, status succeeded)

  latency = stored - vendor finished = poll lag (backoff) + rendering/copying + bookkeeping

Jobs are split across `--delays` (seconds each simulated job runs) because the poll backoff
(services.poll_countdown: 1 s, then ~2.8, 3.9, 5.5, 7.7 ... up to 30 s) makes the lag grow
with the job's length.

    .venv/bin/python bench/store_latency.py                      # SQLite + private Redis
    .venv/bin/python bench/store_latency.py --database-url postgres://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402


def private_redis() -> tuple[str, subprocess.Popen | None]:
    """Our own redis-server on a free port, so no other worker on a shared Redis takes our tasks
    (the queue names are fixed in settings); scripts.services.ensure_redis when none is on PATH."""
    binary = shutil.which("redis-server")
    if not binary:
        from scripts.services import ensure_redis

        return ensure_redis()
    port = common.free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tempfile.mkdtemp(prefix="wanweb-bench-redis-"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    common.wait_for_port(port)
    return f"redis://127.0.0.1:{port}/0", process


def start_worker(env: dict[str, str], concurrency: int, pool: str) -> subprocess.Popen:
    log = (common.OUT / "store-latency-worker.log").open("w")
    celery = str(Path(sys.executable).with_name("celery"))
    return subprocess.Popen(
        [
            celery,
            "-A",
            "wanweb",
            "worker",
            "-Q",
            "polls,downloads,default",  # every queue (settings.WORKER_QUEUES), polls first
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",  # task failures and lost processes end up in bench/out/store-latency-worker.log
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=common.ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL server (a fresh database is made on it)")
    parser.add_argument("--redis-url", help="use this Redis instead of a private redis-server")
    parser.add_argument("--jobs", type=int, default=10, help="jobs per delay (default 10)")
    parser.add_argument("--delays", default="3,15", help="simulated job lengths, seconds (default 3,15)")
    parser.add_argument("--mode", default="t2i", choices=["t2i", "t2v"], help="t2i (PNG) or t2v (MP4)")
    parser.add_argument("--pool", default="prefork", help="worker pool (default prefork, as deployed)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2 = cores)")
    parser.add_argument("--timeout", type=float, default=150.0, help="give up after this many seconds")
    args = parser.parse_args()
    delays = [float(d) for d in args.delays.split(",")]

    database_url = common.isolated_database_url(args.database_url, "store_latency")
    vendor = common.vendor_for(database_url)
    redis_url, redis_process = (args.redis_url, None) if args.redis_url else private_redis()
    env = common.bench_environ(database_url, f"store-latency-{vendor}", REDIS_URL=redis_url)
    common.django_setup()
    common.migrate()
    worker = start_worker(env, args.concurrency, args.pool)
    try:
        return run(args, delays, vendor)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        if redis_process:
            redis_process.terminate()
        from django.db import connections

        connections.close_all()
        common.drop_database(database_url)


def run(args, delays: list[float], vendor: str) -> int:
    from generations import services
    from generations.models import Job, JobEvent

    user, membership = common.make_owner()
    project = common.make_project(membership, "Latency")
    time.sleep(2)  # let the worker connect before the first enqueue (its start is not timed)

    jobs = []
    for delay in delays:
        for n in range(args.jobs):
            jobs.append(
                services.job_create(
                    membership=membership,
                    project=project,
                    provider="simulator",
                    model=None,
                    mode=args.mode,
                    prompt=f"Latency probe {n}: a lighthouse at dusk, waves, {delay:g} s",
                    params={"sim_delay": delay},
                )
            )
    print(f"{len(jobs)} {args.mode} jobs submitted ({vendor}); waiting for the worker...", flush=True)
    deadline = time.monotonic() + args.timeout
    ids = [j.pk for j in jobs]
    while time.monotonic() < deadline:
        active = Job.objects.filter(pk__in=ids, status__in=["queued", "submitted", "running"]).count()
        if not active:
            break
        time.sleep(0.5)

    rows_by_delay: dict[float, list[dict]] = {d: [] for d in delays}
    failures = []
    for job in Job.objects.filter(pk__in=ids):
        state = job.vendor_state
        if job.status != "succeeded":
            failures.append({"job": str(job.public_id), "status": job.status, "error": job.error_message})
            continue
        finished = float(state["started_at"]) + float(state["delay"])
        claimed = (
            JobEvent.objects.filter(job=job, message__startswith="The vendor finished")
            .values_list("created_at", flat=True)
            .first()
        )
        rows_by_delay[float(state["delay"])].append(
            {
                "latency_s": job.finished_at.timestamp() - finished,
                "detect_s": claimed.timestamp() - finished,
                "store_s": job.finished_at.timestamp() - claimed.timestamp(),
                "polls": job.poll_count,
                "submit_wait_s": job.submitted_at.timestamp() - job.created_at.timestamp(),
            }
        )

    table, summary = [], {}
    for delay, rows in rows_by_delay.items():
        if not rows:
            continue
        lat = [r["latency_s"] for r in rows]
        det = [r["detect_s"] for r in rows]
        sto = [r["store_s"] for r in rows]
        summary[str(delay)] = {
            "jobs": len(rows),
            "latency_median_s": round(common.median(lat), 3),
            "latency_p95_s": round(common.percentile(lat, 95), 3),
            "latency_max_s": round(max(lat), 3),
            "detect_median_s": round(common.median(det), 3),
            "store_median_s": round(common.median(sto), 3),
            "polls_median": common.median([r["polls"] for r in rows]),
            "submit_wait_median_s": round(common.median([r["submit_wait_s"] for r in rows]), 3),
            "rows": rows,
        }
        s = summary[str(delay)]
        table.append(
            [
                f"{delay:g}",
                s["jobs"],
                s["latency_median_s"],
                s["latency_p95_s"],
                s["latency_max_s"],
                s["detect_median_s"],
                s["store_median_s"],
                s["polls_median"],
                s["submit_wait_median_s"],
            ]
        )
    common.print_table(
        [
            "sim_delay s",
            "jobs",
            "latency median s",
            "p95 s",
            "max s",
            "detect median s",
            "store median s",
            "polls",
            "queued->submitted s",
        ],
        table,
        title=f"Vendor finished -> result stored (simulator {args.mode}, {vendor}, "
        f"{args.pool} x{args.concurrency}, polling)",
    )
    if failures:
        print(f"\n{len(failures)} job(s) did not succeed: {failures[:3]}")
    common.write_json(
        f"store-latency-{vendor}-{args.mode}",
        {
            "vendor": vendor,
            "mode": args.mode,
            "pool": args.pool,
            "concurrency": args.concurrency,
            "delays": delays,
            "summary": summary,
            "failures": failures,
        },
    )
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
