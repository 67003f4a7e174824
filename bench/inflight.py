"""Many jobs in flight on one worker: are polls on time, and does the reconciler stay idle? (a measurement)

`--jobs` fake-fal jobs (bench/_pipeline.py) of `--duration` vendor seconds are submitted at once
to one prefork worker (`--concurrency`, default 4) on PostgreSQL, with a learned history of that
duration. While they run, this process:

  - samples every active job's (poll_count, poll_due_at) every `--sample` seconds in one query;
    a poll's lag is when its claim was first seen (poll_count went up) minus the due time the
    previous poll recorded, so lags are measured to within one sampling interval;
  - runs services.job_reconcile() every 20 s, as the beat would every 60 s (more often, so a
    silent chain is caught sooner), and counts its re-drives.

Worker CPU (user+system of the worker and its pool, /proc) is divided by jobs and by status calls.

    .venv/bin/python bench/inflight.py --database-url postgres://postgres@127.0.0.1:5432/x --jobs 200

Targets (issue 13): 5,000 in flight, poll lag p99 <= 1 s, 0 reconciler re-drives.
"""

from __future__ import annotations

import argparse
import sys
import time

import _common as common
import _pipeline as pipeline


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", required=True, help="PostgreSQL server (a fresh database is made on it)"
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="vendor seconds per job (default 60)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sample", type=float, default=0.25, help="sampling interval, seconds")
    args = parser.parse_args()
    with pipeline.TimedFal() as fake:
        env, database_url, redis = pipeline.environment("inflight", args.database_url, fake)
        worker = pipeline.start_worker(env, args.concurrency, "inflight")
        try:
            return run(args, fake, worker, common.vendor_for(database_url))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            redis.terminate()
            from django.db import connections

            connections.close_all()
            common.drop_database(database_url)


def run(args, fake, worker, vendor) -> int:
    from generations import services
    from generations.models import Job

    user, membership = common.make_owner()
    project = common.make_project(membership, "In flight")
    shape = {"duration": 5, "resolution": "720p"}
    pipeline.seed_history(project, user, shape_params=shape, seconds=args.duration)
    time.sleep(3)
    cpu_before = pipeline.tree_cpu_seconds(worker.pid)
    fake.status_calls = 0
    ids = [
        services.job_create(
            membership=membership,
            project=project,
            provider="fal",
            model=pipeline.MODEL,
            mode="t2v",
            prompt=f"in flight {n} #dur={args.duration:g}",
            params=shape,
        ).pk
        for n in range(args.jobs)
    ]
    print(f"{len(ids)} jobs submitted ({vendor}, prefork x{args.concurrency}); sampling...", flush=True)
    last: dict[int, tuple[int, float | None]] = {}
    lags: list[float] = []
    redrives = 0
    next_reconcile = time.monotonic() + 20
    deadline = time.monotonic() + args.duration + 300
    while time.monotonic() < deadline:
        now = time.time()
        rows = list(
            Job.objects.filter(pk__in=ids, status__in=services.ACTIVE_STATUSES).values_list(
                "pk", "poll_count", "poll_due_at"
            )
        )
        if not rows:
            break
        for pk, count, due in rows:
            previous = last.get(pk)
            if previous is not None and count > previous[0] and previous[1] is not None:
                lags.append(max(0.0, now - previous[1]))
            last[pk] = (count, due.timestamp() if due else None)
        if time.monotonic() >= next_reconcile:
            redrives += services.job_reconcile()["repolled"]
            next_reconcile = time.monotonic() + 20
        time.sleep(args.sample)
    time.sleep(1)
    cpu = pipeline.tree_cpu_seconds(worker.pid) - cpu_before
    done = Job.objects.filter(pk__in=ids, status="succeeded").count()
    polls = sum(Job.objects.filter(pk__in=ids).values_list("poll_count", flat=True))
    summary = {
        "jobs": args.jobs,
        "succeeded": done,
        "poll_lag_samples": len(lags),
        "poll_lag_median_s": round(common.median(lags), 3) if lags else None,
        "poll_lag_p99_s": round(common.percentile(lags, 99), 3) if lags else None,
        "poll_lag_max_s": round(max(lags), 3) if lags else None,
        "reconciler_redrives": redrives,
        "polls": polls,
        "status_calls": fake.status_calls,
        "cpu_s": round(cpu, 2),
        "cpu_per_job_ms": round(cpu / max(1, done) * 1000, 1),
        "cpu_per_status_call_ms": round(cpu / max(1, fake.status_calls) * 1000, 2),
    }
    common.print_table(
        [
            "jobs",
            "ok",
            "lag median s",
            "lag p99 s",
            "lag max s",
            "re-drives",
            "polls",
            "CPU/job ms",
            "CPU/call ms",
        ],
        [
            [
                args.jobs,
                done,
                summary["poll_lag_median_s"],
                summary["poll_lag_p99_s"],
                summary["poll_lag_max_s"],
                redrives,
                polls,
                summary["cpu_per_job_ms"],
                summary["cpu_per_status_call_ms"],
            ]
        ],
        title=f"{args.jobs} jobs of {args.duration:g} s in flight, {vendor}, prefork x{args.concurrency}",
    )
    print(f"(poll lag to within {args.sample:g} s sampling; CPU per call = all worker CPU / status calls)")
    common.write_json(f"inflight-{vendor}-{args.jobs}", summary)
    return 0 if done == args.jobs else 1


if __name__ == "__main__":
    sys.exit(main())
