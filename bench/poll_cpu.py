"""Where a poll's CPU goes: services.job_poll_batch in this process against the timed fake fal.

The fake fal runs in a process of its own (bench/_fake_vendor.py), so its server threads are not
counted. Submits `--jobs` fake-fal jobs that never finish within the run, then polls each
`--rounds` times in batches of `--batch` (what the dispatcher sends in one message; 1 is a lone
poll) and measures this process's CPU (`time.process_time`: the batch's vendor calls run on poll
threads) around each batch only (the token read that picks the polls is outside). No Celery
task or message is involved: bench/job_cpu.py measures polls in a real worker. Prints CPU and SQL
statements per poll, and the top of a cProfile (CPU time, this thread only: with --batch above 1
the vendor calls on the poll threads are missing from it) by cumulative time.

    .venv/bin/python bench/poll_cpu.py --database-url postgres://postgres@127.0.0.1:5432/x
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time

import _common as common
import _pipeline as pipeline


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL server (a fresh database is made on it)")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=20, help="polls per job_poll_batch call")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="cumulative", help="the profile's order: cumulative, tottime ...")
    parser.add_argument(
        "--name", default="poll-cpu", help="names the throwaway database: two runs at once need two names"
    )
    args = parser.parse_args()
    from job_cpu import _Vendor

    fake = _Vendor()
    _, database_url, redis = pipeline.environment(args.name, args.database_url, fake)
    try:
        return run(args, fake)
    finally:
        redis.terminate()
        fake.close()
        from django.db import connections

        connections.close_all()
        common.drop_database(database_url)


def run(args, fake) -> int:
    from generations import services
    from generations.models import Job

    class _NoTask:
        def apply_async(self, *a, **k):
            pass

        def delay(self, *a, **k):
            pass

    services.job_submit_task = _NoTask()
    user, membership = common.make_owner()
    project = common.make_project(membership, "Poll CPU")
    ids = []
    for n in range(args.jobs):
        job = services.job_create(
            membership=membership,
            project=project,
            provider="fal",
            model=pipeline.MODEL,
            mode="t2v",
            prompt=f"cpu {n} #dur=3600",
            params={"duration": 5, "resolution": "720p"},
        )
        services.job_submit(job_id=job.pk)
        ids.append(job.pk)

    from django.db import connection

    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    def poll_all() -> float:
        spent = 0.0
        for start in range(0, len(ids), args.batch):
            polls = list(
                Job.objects.filter(pk__in=ids[start : start + args.batch]).values_list(
                    "pk", "poll_token", "poll_count"
                )
            )
            started = time.process_time()
            with connection.execute_wrapper(count):
                services.job_poll_batch(polls=polls)
            spent += time.process_time() - started
        return spent

    poll_all()  # warm: imports, the pooled client's connection, the learned-duration cache
    lookups = len(ids) * args.rounds
    queries[0] = 0
    per_poll = sum(poll_all() for _ in range(args.rounds)) / lookups * 1000
    queries_per_poll = queries[0] / lookups
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    for _ in range(args.rounds):
        poll_all()
    profiler.disable()
    print(
        f"CPU per poll: {per_poll:.2f} ms over {lookups} polls in batches of {args.batch},"
        f" {queries_per_poll:.2f} SQL statements each (this process; the vendor in its own; no Celery)"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    common.write_json(
        "poll-cpu",
        {
            "cpu_per_poll_ms": per_poll,
            "queries_per_poll": queries_per_poll,
            "polls": lookups,
            "batch": args.batch,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
