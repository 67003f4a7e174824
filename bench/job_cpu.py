"""Worker CPU per job and per phase (submit, each poll, store), the vendor in another process.

A real Celery worker (`celery -A _cpu_worker`: the wanweb app plus per-task accounting, see
bench/_cpu_worker.py; prefork, `-Q default,downloads`) on a private Redis runs `--jobs` fal jobs
against the timed fake fal (bench/_pipeline.py), which runs in a process of its own
(bench/_fake_vendor.py) so its server threads are not charged to the worker. Each job takes
`--duration` vendor seconds and has a learned history of that length, as in notice_latency.py.
Jobs are created in this process (the web side, not measured). A few warm-up jobs run first.

Printed per phase: tasks, CPU per task (process CPU between Celery's task_prerun and task_postrun,
median and mean; a batch of polls counts as that many polls, each an equal share of its CPU), the part of it decoding media in-process (poster frame, thumbnail, probe), child
process CPU, SQL statements and commits per task; then per job: submit + polls + store with and
without media decoding, and the whole worker tree's CPU (/proc, main process and pool, idle
baseline subtracted) divided by the jobs, which adds Celery's receive/ack/prefetch around tasks.

    .venv/bin/python bench/job_cpu.py --database-url postgres://postgres@127.0.0.1:5432/x
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _common as common
import _pipeline as pipeline

POLL_TARGET_MS = 5.0
JOB_TARGET_MS = 60.0


class _Vendor:
    """The fake fal's process; `environ` points the app at it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("_fake_vendor.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.environ = json.loads(self.process.stdout.readline())
        self.pid = self.process.pid

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL server (a fresh database is made on it)")
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--duration", type=float, default=8.0, help="vendor seconds per job")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--spread", type=float, default=8.0, help="seconds over which jobs are submitted")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile each task kind into bench/out/job-cpu-prof/"
    )
    parser.add_argument(
        "--name", default="job-cpu", help="names the throwaway database: two runs at once need two names"
    )
    args = parser.parse_args()
    vendor = _Vendor()
    log = common.OUT / "job-cpu-tasks.jsonl"
    common.OUT.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    env, database_url, redis = pipeline.environment(args.name, args.database_url, vendor)
    env["CPU_LOG"] = str(log)
    if args.profile:
        profiles = common.OUT / "job-cpu-prof"
        profiles.mkdir(exist_ok=True)
        for old in profiles.glob("*.prof"):
            old.unlink()
        env["CPU_PROFILE"] = str(profiles)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), str(common.ROOT)])
    worker = _start_worker(env, args.concurrency)
    try:
        return run(args, worker, log, database_url)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        redis.terminate()
        vendor.close()
        from django.db import connections

        connections.close_all()
        common.drop_database(database_url)


def _start_worker(env: dict[str, str], concurrency: int) -> subprocess.Popen:
    out = (common.OUT / "job-cpu-worker.log").open("w")
    celery = str(Path(sys.executable).with_name("celery"))
    return subprocess.Popen(
        [celery, "-A", "_cpu_worker", "worker", "-Q", "polls,downloads,default", "--pool", "prefork"]
        + ["--concurrency", str(concurrency), "--loglevel", "WARNING"]
        + ["--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=common.ROOT,
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def _wait_done(Job, services, ids, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (
        time.monotonic() < deadline
        and Job.objects.filter(pk__in=ids, status__in=services.ACTIVE_STATUSES).exists()
    ):
        time.sleep(0.3)
    time.sleep(1.5)  # the last task's record is written after its commit


def run(args, worker, log: Path, database_url: str) -> int:
    from generations import services
    from generations.models import Job

    user, membership = common.make_owner()
    project = common.make_project(membership, "Job CPU")
    params = {"duration": 5, "resolution": "720p"}
    pipeline.seed_history(project, user, shape_params=params, seconds=args.duration)
    # The warm-up jobs are of another shape with a history of their own: as the newest successes
    # of the measured shape, their 1 s would have joined its learned durations and stretched the
    # dense polling window from ~1 s to the finish (14 polls for an 8 s job instead of ~7).
    warm_params = {"duration": 10, "resolution": "1080p"}  # as notice_latency.py's warm-up
    pipeline.seed_history(project, user, shape_params=warm_params, seconds=1)

    def create(n: int, label: str, duration: float, shape: dict = params) -> int:
        return services.job_create(
            membership=membership,
            project=project,
            provider="fal",
            model=pipeline.MODEL,
            mode="t2v",
            prompt=f"{label} {n} #dur={duration:g}",
            params=shape,
        ).pk

    time.sleep(3)  # the worker's start is not measured
    warm = [create(n, "warm-up", 1, warm_params) for n in range(args.concurrency * 3)]
    _wait_done(Job, services, warm, 60)
    time.sleep(2)
    idle_from, idle_cpu = time.monotonic(), pipeline.tree_cpu_seconds(worker.pid)
    time.sleep(5)
    idle_rate = (pipeline.tree_cpu_seconds(worker.pid) - idle_cpu) / (time.monotonic() - idle_from)

    started, cpu_before = time.monotonic(), pipeline.tree_cpu_seconds(worker.pid)
    ids = []
    for n in range(args.jobs):
        ids.append(create(n, "probe", args.duration))
        time.sleep(args.spread / max(1, args.jobs))
    _wait_done(Job, services, ids, args.duration + args.spread + 120)
    tree_ms = (
        pipeline.tree_cpu_seconds(worker.pid) - cpu_before - idle_rate * (time.monotonic() - started)
    ) * 1000

    succeeded = Job.objects.filter(pk__in=ids, status="succeeded").count()
    wanted = set(ids)
    records, batches = [], []
    for r in map(json.loads, log.read_text().splitlines()):
        if r["task"] == "job_poll_batch_task":
            # A batch of polls: each of its polls is charged an equal share of the batch's work.
            polls = [job for job in r["jobs"] if job in wanted]
            if polls:
                batches.append(len(r["jobs"]))
            share = {
                key: r[key] / len(r["jobs"])
                for key in ("cpu_ms", "media_ms", "children_ms", "queries", "commits")
            }
            records += [{**r, **share, "task": "job_poll_task", "job": job} for job in polls]
        elif r["job"] in wanted:
            records.append(r)
    phases = {"job_submit_task": "submit", "job_poll_task": "poll", "job_store_outputs_task": "store"}
    table, summary = [], {}
    for task, phase in phases.items():
        found = [r for r in records if r["task"] == task]
        if not found:
            continue

        def mean(key, rows=found):
            return statistics.fmean(r[key] for r in rows)

        summary[phase] = s = {
            "tasks": len(found),
            "cpu_median_ms": round(statistics.median(r["cpu_ms"] for r in found), 2),
            "cpu_mean_ms": round(mean("cpu_ms"), 2),
            "media_mean_ms": round(mean("media_ms"), 2),
            "children_mean_ms": round(mean("children_ms"), 2),
            "queries_mean": round(mean("queries"), 2),
            "commits_mean": round(mean("commits"), 2),
        }
        table.append([phase, *map(str, s.values())])

    per_job = {}
    for r in records:
        if r["task"] in phases:
            total = per_job.setdefault(r["job"], {"cpu": 0.0, "media": 0.0, "children": 0.0, "polls": 0})
            total["cpu"] += r["cpu_ms"]
            total["media"] += r["media_ms"]
            total["children"] += r["children_ms"]
            total["polls"] += r["task"] == "job_poll_task"
    job_cpu = statistics.median(t["cpu"] for t in per_job.values())
    job_cpu_no_media = statistics.median(t["cpu"] - t["media"] for t in per_job.values())
    polls = statistics.median(t["polls"] for t in per_job.values())
    poll_ms = summary.get("poll", {}).get("cpu_mean_ms", float("nan"))

    print(
        f"\n{succeeded}/{args.jobs} jobs succeeded, {common.vendor_for(database_url)}, "
        f"{args.duration:g} s vendor jobs, prefork x{args.concurrency}, vendor in its own process"
    )
    common.print_table(
        ["phase", "tasks", "CPU median ms", "CPU mean ms", "media ms", "children ms", "SQL", "commits"], table
    )
    if batches:
        print(
            f"polls ran in {len(batches)} batch tasks of {statistics.fmean(batches):.1f} polls on average"
            " (the poll row: each poll's equal share of its batch)"
        )
    print(
        f"\nper job (median): {job_cpu:.1f} ms in tasks, {job_cpu_no_media:.1f} ms without media decoding,"
        f" {polls:g} polls; whole worker tree: {tree_ms / max(1, len(ids)):.1f} ms/job"
        f" (idle baseline {idle_rate * 1000:.1f} ms/s subtracted)"
    )
    poll_ok = poll_ms <= POLL_TARGET_MS
    job_ok = job_cpu_no_media <= JOB_TARGET_MS
    print(f"CPU per poll <= {POLL_TARGET_MS:g} ms: {'PASS' if poll_ok else 'FAIL'} ({poll_ms:.2f} ms mean)")
    print(
        f"CPU per job excl. media <= {JOB_TARGET_MS:g} ms: {'PASS' if job_ok else 'FAIL'} ({job_cpu_no_media:.1f} ms)"
    )
    common.write_json(
        "job-cpu",
        {
            "phases": summary,
            "job_cpu_ms": job_cpu,
            "job_cpu_no_media_ms": job_cpu_no_media,
            "polls_per_job": polls,
            "tree_ms_per_job": tree_ms / max(1, len(ids)),
            "succeeded": succeeded,
        },
    )
    if args.profile:
        import pstats

        for phase in ("job_submit_task", "job_poll_task", "job_poll_batch_task", "job_store_outputs_task"):
            files = [str(p) for p in (common.OUT / "job-cpu-prof").glob(f"{phase}-*.prof")]
            if files:
                print(f"\n--- profile of {phase} (cumulative, all pool processes) ---")
                pstats.Stats(*files).sort_stats("cumulative").print_stats(35)
    return 0 if (poll_ok and job_ok and succeeded == args.jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
