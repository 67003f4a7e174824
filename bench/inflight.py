"""Many jobs in flight on one worker: are polls on time, and does the reconciler stay idle? (a measurement)

`--jobs` fake-fal jobs (bench/_pipeline.py, the fake in its own process) of `--duration` vendor
seconds go to one prefork worker (`--concurrency`, default 4) on PostgreSQL, with a learned
history of that duration. Jobs are created at a steady rate over `--spread` seconds (0: all at
once), so the submit burst is measured only when asked for. While they run, this process:

  - samples every active job's (poll_count, poll_due_at) every `--sample` seconds in one query
    ("in flight" = submitted or running with a poll scheduled);
    a poll's lag is when its claim was first seen (poll_count went up) minus the due time the
    previous poll recorded, so lags are measured to within one sampling interval. Only polls
    after the last job was created count (`--settle` seconds later), so the figures are for the
    steady state with every job in flight, not for the submit ramp;
  - samples the broker: messages waiting per queue (LLEN) and handed out but unacknowledged
    (HLEN unacked: what a worker holds in memory, ETA/countdown messages included);
  - runs services.job_reconcile() every 20 s, as the beat would every 60 s (more often, so a
    silent chain is caught sooner), and counts its re-drives.

Worker CPU (user+system of the worker and its pool, /proc) is divided by jobs and by status calls.

    .venv/bin/python bench/inflight.py --database-url postgres://postgres@127.0.0.1:5432/x --jobs 200
    .venv/bin/python bench/inflight.py --database-url ... --jobs 5000 --duration 900 --spread 300

Targets (issue 13): 5,000 in flight, poll lag p99 <= 1 s, 0 reconciler re-drives.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import _common as common
import _pipeline as pipeline


class FakeProcess:
    """bench/_timed_fal_process.py: the timed fake fal, serving from a process of its own."""

    def __enter__(self) -> FakeProcess:
        script = Path(__file__).with_name("_timed_fal_process.py")
        self.process = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=common.ROOT
        )
        self.environ = json.loads(self.process.stdout.readline())
        self.url = self.environ["FAL_QUEUE_URL"]
        return self

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/bench/stats", timeout=10) as response:  # noqa: S310 (loopback)
            return json.loads(response.read())

    def cpu_seconds(self) -> float:
        return pipeline.tree_cpu_seconds(self.process.pid)

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", required=True, help="PostgreSQL server (a fresh database is made on it)"
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="vendor seconds per job (default 60)")
    parser.add_argument("--spread", type=float, default=0.0, help="create the jobs over this many seconds")
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds after the last create before lags count"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=0,
        help="stop sampling after this many seconds (0: spread + duration + 600)",
    )
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--queues", default=None, help="the worker's -Q (default: every queue the app routes to)"
    )
    parser.add_argument("--sample", type=float, default=0.25, help="sampling interval, seconds")
    parser.add_argument(
        "--name", default="inflight", help="names the throwaway database and media (default inflight)"
    )
    args = parser.parse_args()
    with FakeProcess() as fake:
        env, database_url, redis = pipeline.environment(args.name, args.database_url, fake)
        from django.conf import settings

        queues = args.queues or ",".join(settings.WORKER_QUEUES)
        worker = pipeline.start_worker(env, args.concurrency, args.name, queues=queues)
        try:
            return run(args, fake, worker, common.vendor_for(database_url), env["REDIS_URL"], queues)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            redis.terminate()
            from django.db import connections

            connections.close_all()
            common.drop_database(database_url)


def create_jobs(args, membership, project, ids: list[int], done: threading.Event) -> None:
    """job_create at a steady rate over args.spread seconds (its own thread and connection)."""
    from django.db import connection

    from generations import services

    try:
        start = time.monotonic()
        for n in range(args.jobs):
            if args.spread:
                time.sleep(max(0.0, start + n * args.spread / args.jobs - time.monotonic()))
            job = services.job_create(
                membership=membership,
                project=project,
                provider="fal",
                model=pipeline.MODEL,
                mode="t2v",
                prompt=f"in flight {n} #dur={args.duration:g}",
                params={"duration": 5, "resolution": "720p"},
            )
            ids.append(job.pk)
    finally:
        connection.close()
        done.set()


def run(args, fake, worker, vendor, redis_url, queues) -> int:
    import redis as redis_lib

    from generations import services
    from generations.models import Job

    broker = redis_lib.Redis.from_url(redis_url)
    user, membership = common.make_owner()
    project = common.make_project(membership, "In flight")
    pipeline.seed_history(
        project, user, shape_params={"duration": 5, "resolution": "720p"}, seconds=args.duration
    )
    time.sleep(3)
    cpu_before = pipeline.tree_cpu_seconds(worker.pid)
    main_cpu_before = pipeline.process_cpu_seconds(worker.pid)
    fake_cpu_before = fake.cpu_seconds()
    ids: list[int] = []
    created = threading.Event()
    creator = threading.Thread(
        target=create_jobs, args=(args, membership, project, ids, created), daemon=True
    )
    started = time.monotonic()
    creator.start()
    print(
        f"creating {args.jobs} jobs over {args.spread:g} s ({vendor}, prefork x{args.concurrency}, -Q {queues}); sampling...",
        flush=True,
    )
    last: dict[int, tuple[int, float | None]] = {}
    lags: list[float] = []  # steady state: every job created (and --settle s more)
    lags_all: list[float] = []  # from the first poll, the submit ramp included
    late_polls: list[tuple[float, int]] = []
    redrives = 0
    in_flight_max = 0
    unacked_max = 0
    waiting_max: dict[str, int] = {}
    counting_from = None
    next_reconcile = time.monotonic() + 20
    deadline = time.monotonic() + (args.timeout or args.spread + args.duration + 600)
    active = Job.objects.filter(project=project, status__in=services.ACTIVE_STATUSES)
    while time.monotonic() < deadline:
        now = time.time()
        if counting_from is None and created.is_set():
            counting_from = time.monotonic() + args.settle
        counting = counting_from is not None and time.monotonic() >= counting_from
        rows = list(active.values_list("pk", "poll_count", "poll_due_at"))
        if not rows and created.is_set():
            break
        in_flight_max = max(in_flight_max, sum(1 for _, count, due in rows if due is not None))
        for pk, count, due in rows:
            previous = last.get(pk)
            if previous is not None and count > previous[0] and previous[1] is not None:
                lag = max(0.0, now - previous[1])
                lags_all.append(lag)
                if counting:
                    lags.append(lag)
                    if lag > 1.0:
                        late_polls.append((round(lag, 2), pk))
            last[pk] = (count, due.timestamp() if due else None)
        unacked_max = max(unacked_max, broker.hlen("unacked"))
        for queue in queues.split(","):
            waiting_max[queue] = max(waiting_max.get(queue, 0), broker.llen(queue))
        if time.monotonic() >= next_reconcile:
            redrives += services.job_reconcile()["repolled"]
            next_reconcile = time.monotonic() + 20
        time.sleep(max(0.0, args.sample - (time.time() - now)))
    wall = time.monotonic() - started
    time.sleep(1)
    cpu = pipeline.tree_cpu_seconds(worker.pid) - cpu_before
    main_cpu = pipeline.process_cpu_seconds(worker.pid) - main_cpu_before
    fake_cpu = fake.cpu_seconds() - fake_cpu_before
    stats = fake.stats()
    done = Job.objects.filter(pk__in=ids, status="succeeded").count()
    polls = sum(Job.objects.filter(pk__in=ids).values_list("poll_count", flat=True))
    summary = {
        "jobs": args.jobs,
        "duration_s": args.duration,
        "spread_s": args.spread,
        "concurrency": args.concurrency,
        "queues": queues,
        "succeeded": done,
        "in_flight_max": in_flight_max,
        "poll_lag_samples": len(lags),
        "poll_lag_median_s": round(common.median(lags), 3) if lags else None,
        "poll_lag_p99_s": round(common.percentile(lags, 99), 3) if lags else None,
        "poll_lag_max_s": round(max(lags), 3) if lags else None,
        "polls_late_over_1s": len(late_polls),
        "poll_lag_all_samples": len(lags_all),
        "poll_lag_all_median_s": round(common.median(lags_all), 3) if lags_all else None,
        "poll_lag_all_p99_s": round(common.percentile(lags_all, 99), 3) if lags_all else None,
        "poll_lag_all_max_s": round(max(lags_all), 3) if lags_all else None,
        "reconciler_redrives": redrives,
        "broker_unacked_max": unacked_max,
        "broker_waiting_max": waiting_max,
        "polls": polls,
        "status_calls": stats["status_calls"],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 2),
        "worker_main_process_cpu_s": round(main_cpu, 2),  # consumer + timer + poll dispatcher thread
        "cpu_per_job_ms": round(cpu / max(1, done) * 1000, 1),
        "cpu_per_status_call_ms": round(cpu / max(1, stats["status_calls"]) * 1000, 2),
        "fake_vendor_cpu_s": round(fake_cpu, 2),
        "load_average": os.getloadavg(),
    }
    common.print_table(
        [
            "jobs",
            "ok",
            "in flight max",
            "lag median s",
            "lag p99 s",
            "lag max s",
            "re-drives",
            "unacked max",
            "polls",
            "CPU/job ms",
            "CPU/call ms",
        ],
        [
            [
                args.jobs,
                done,
                in_flight_max,
                summary["poll_lag_median_s"],
                summary["poll_lag_p99_s"],
                summary["poll_lag_max_s"],
                redrives,
                unacked_max,
                polls,
                summary["cpu_per_job_ms"],
                summary["cpu_per_status_call_ms"],
            ]
        ],
        title=f"{args.jobs} jobs of {args.duration:g} s in flight, {vendor}, prefork x{args.concurrency}",
    )
    print(f"(poll lag to within {args.sample:g} s sampling; CPU per call = all worker CPU / status calls)")
    print(
        json.dumps(
            {
                k: summary[k]
                for k in (
                    "broker_waiting_max",
                    "polls_late_over_1s",
                    "poll_lag_all_median_s",
                    "poll_lag_all_p99_s",
                    "poll_lag_all_max_s",
                    "wall_s",
                    "fake_vendor_cpu_s",
                    "load_average",
                )
            }
        )
    )
    common.write_json(f"{args.name}-{vendor}-{args.jobs}", summary)
    return 0 if done == args.jobs else 1


if __name__ == "__main__":
    sys.exit(main())
