"""Where a poll's CPU goes: services.job_poll in this process against the timed fake fal (a profile).

The fake fal runs in a process of its own (bench/_fake_vendor.py), so its server threads are not
counted. Submits `--jobs` fake-fal jobs that never finish within the run, then calls job_poll on
each `--rounds` times and measures this thread's CPU (`time.thread_time`) around each call only
(the token read that picks the call's arguments is outside). The Celery enqueue of the next poll
is replaced by a no-op, so kombu's publish and Celery's task overhead are not in these figures:
bench/job_cpu.py measures polls in a real worker. Prints CPU and SQL statements per poll, and the
top of a cProfile (CPU time) by cumulative time.

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
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    from job_cpu import _Vendor

    fake = _Vendor()
    _, database_url, redis = pipeline.environment("poll-cpu", args.database_url, fake)
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

    services.job_poll_task = _NoTask()
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
        for pk in ids:
            token, sequence = Job.objects.filter(pk=pk).values_list("poll_token", "poll_count").get()
            started = time.thread_time()
            with connection.execute_wrapper(count):
                services.job_poll(job_id=pk, token=token, sequence=sequence)
            spent += time.thread_time() - started
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
        f"CPU per job_poll: {per_poll:.2f} ms over {lookups} polls, {queries_per_poll:.2f} SQL statements each"
        " (this thread; the vendor in its own process; no Celery publish)"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    common.write_json(
        "poll-cpu", {"cpu_per_poll_ms": per_poll, "queries_per_poll": queries_per_poll, "polls": lookups}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
