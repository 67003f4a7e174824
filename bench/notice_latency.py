"""How soon after a vendor finishes does the app notice, and with how many polls? (a measurement)

A real Celery worker (prefork) on a private Redis polls a timed fake fal on loopback
(bench/_pipeline.py) for jobs of `--durations` seconds, submitted through services.job_create.
Before the run the schedule is given a learned history (20 successes of each duration, +-0.3 s),
the case the issue's targets are about ("jobs whose duration matches the learned distribution").

  notice lag = the "vendor finished; copying outputs" event - (fake submit time + duration)
  polls      = Job.poll_count
  CPU        = user+system seconds of the worker and its pool processes over the run (/proc),
               per job and per vendor status call (submit, polls, result, store included)

    .venv/bin/python bench/notice_latency.py --database-url postgres://postgres@127.0.0.1:5432/x
    .venv/bin/python bench/notice_latency.py --jobs 5 --durations 30,120

Targets (issue 13): median lag <= 1.0 s, p90 <= 2 s, <= 20 polls for a 120 s job; CPU per poll
<= 5 ms, per job <= 60 ms. Webhooks are not exercised here (no public https address).
"""

from __future__ import annotations

import argparse
import sys
import time

import _pipeline as pipeline
from _common import median, percentile, print_table, write_json


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL server (a fresh database is made on it)")
    parser.add_argument("--jobs", type=int, default=10, help="jobs per duration (default 10)")
    parser.add_argument("--durations", default="30,120", help="vendor seconds per job (default 30,120)")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which jobs are submitted")
    parser.add_argument("--no-history", action="store_true", help="no learned history: the prior paces polls")
    args = parser.parse_args()
    durations = [float(d) for d in args.durations.split(",")]

    import _common as common

    with pipeline.TimedFal() as fake:
        env, database_url, redis = pipeline.environment("notice-latency", args.database_url, fake)
        worker = pipeline.start_worker(env, args.concurrency, "notice-latency")
        try:
            return run(args, durations, fake, worker, common.vendor_for(database_url))
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            redis.terminate()
            from django.db import connections

            connections.close_all()
            common.drop_database(database_url)


def shape_for(duration: float) -> dict:
    # One output length per vendor duration, so each has its own learned distribution.
    return {"duration": 5 if duration <= 60 else 15, "resolution": "720p"}


def warm_up(services, membership, project, Job, concurrency: int) -> None:
    """A few short jobs first, so every pool process has imported what a job needs (not measured)."""
    ids = [
        services.job_create(
            membership=membership,
            project=project,
            provider="fal",
            model=pipeline.MODEL,
            mode="t2v",
            prompt=f"warm-up {n} #dur=1",
            params={"duration": 10, "resolution": "1080p"},
        ).pk
        for n in range(concurrency * 3)
    ]
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and Job.objects.filter(pk__in=ids, status__in=services.ACTIVE_STATUSES).exists()
    ):
        time.sleep(0.3)
    time.sleep(1)


def run(args, durations, fake, worker, vendor) -> int:
    import _common as common

    from generations import services
    from generations.models import Job, JobEvent

    user, membership = common.make_owner()
    project = common.make_project(membership, "Notice latency")
    if not args.no_history:
        for duration in durations:
            pipeline.seed_history(project, user, shape_params=shape_for(duration), seconds=duration)
    time.sleep(3)  # the worker's start is not measured
    warm_up(services, membership, project, Job, args.concurrency)
    fake.status_calls = 0
    cpu_before = pipeline.tree_cpu_seconds(worker.pid)
    jobs = []
    for duration in durations:
        for n in range(args.jobs):
            job = services.job_create(
                membership=membership,
                project=project,
                provider="fal",
                model=pipeline.MODEL,
                mode="t2v",
                prompt=f"probe {n} #dur={duration:g}",
                params=shape_for(duration),
            )
            jobs.append((job.pk, duration))
            # Staggered by --spread: jobs that all finish in the same instant would queue their
            # polls behind each other's downloads on a 2-process worker (see docs/BENCHMARKS.md).
            time.sleep(args.spread / max(1, args.jobs * len(durations)))
    ids = [pk for pk, _ in jobs]
    deadline = time.monotonic() + max(durations) + 120
    while (
        time.monotonic() < deadline
        and Job.objects.filter(pk__in=ids, status__in=services.ACTIVE_STATUSES).exists()
    ):
        time.sleep(0.5)
    time.sleep(1)
    cpu = pipeline.tree_cpu_seconds(worker.pid) - cpu_before

    rows: dict[float, list[dict]] = {d: [] for d in durations}
    failures = 0
    for job in Job.objects.filter(pk__in=ids):
        duration = dict(jobs)[job.pk]
        claimed = (
            JobEvent.objects.filter(job=job, message__startswith="The vendor finished")
            .values_list("created_at", flat=True)
            .first()
        )
        if job.status != "succeeded" or claimed is None or job.vendor_job_id not in fake.submitted_at:
            failures += 1
            continue
        finished = fake.submitted_at[job.vendor_job_id] + duration
        rows[duration].append({"lag_s": claimed.timestamp() - finished, "polls": job.poll_count})

    table, summary = [], {}
    for duration, found in rows.items():
        if not found:
            continue
        lags = [r["lag_s"] for r in found]
        polls = [r["polls"] for r in found]
        summary[f"{duration:g}"] = s = {
            "jobs": len(found),
            "lag_median_s": round(median(lags), 3),
            "lag_p90_s": round(percentile(lags, 90), 3),
            "lag_max_s": round(max(lags), 3),
            "polls_median": median(polls),
            "polls_max": max(polls),
        }
        table.append(
            [
                f"{duration:g}",
                s["jobs"],
                s["lag_median_s"],
                s["lag_p90_s"],
                s["lag_max_s"],
                s["polls_median"],
                s["polls_max"],
            ]
        )
    done = sum(len(v) for v in rows.values())
    status_calls = fake.status_calls
    history = "no history (prior)" if args.no_history else "learned history"
    print_table(
        ["vendor s", "jobs", "lag median s", "p90 s", "max s", "polls median", "polls max"],
        table,
        title=f"Notice lag, timed fake fal, {vendor}, prefork x{args.concurrency}, {history}",
    )
    cpu_job = cpu / max(1, done) * 1000
    cpu_call = cpu / max(1, status_calls) * 1000
    print(f"\nworker CPU {cpu:.2f} s for {done} jobs and {status_calls} status calls:")
    print(f"  CPU per job {cpu_job:.1f} ms (submit + polls + result + store, incl. the MP4 poster frame)")
    print(
        f"  CPU per status call {cpu_call:.2f} ms (the whole job's CPU divided by its polls: an upper bound)"
    )
    if failures:
        print(f"{failures} job(s) did not succeed")
    write_json(
        f"notice-latency-{vendor}",
        {
            "summary": summary,
            "cpu_s": cpu,
            "status_calls": status_calls,
            "cpu_per_job_ms": cpu_job,
            "cpu_per_call_ms": cpu_call,
            "failures": failures,
        },
    )
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
