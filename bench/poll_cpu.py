"""Where a poll's CPU goes: services.job_poll in this process against the timed fake fal (a profile).

Submits `--jobs` fake-fal jobs that never finish within the run, then calls job_poll on each
`--rounds` times (the Celery enqueue of the next poll is replaced by a no-op, so task overhead is
not in these figures: bench/inflight.py measures the worker as a whole). Prints CPU per poll
(process time) and the top of a cProfile by cumulative time.

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
    with pipeline.TimedFal() as fake:
        _, database_url, redis = pipeline.environment("poll-cpu", args.database_url, fake)
        try:
            return run(args, fake)
        finally:
            redis.terminate()
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

    def poll_all():
        for pk in ids:
            job = Job.objects.only("poll_token", "poll_count").get(pk=pk)
            services.job_poll(job_id=pk, token=job.poll_token, sequence=job.poll_count)

    poll_all()  # warm: imports, the pooled client's connection, the learned-duration cache
    lookups = len(ids) * args.rounds  # each round also reads the token (one query, not part of a poll)
    started = time.process_time()
    for _ in range(args.rounds):
        poll_all()
    per_poll = (time.process_time() - started) / lookups * 1000
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.rounds):
        poll_all()
    profiler.disable()
    print(
        f"CPU per job_poll: {per_poll:.2f} ms over {lookups} polls (incl. one token read each; this process,"
        " the fake vendor's threads included)"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    common.write_json("poll-cpu", {"cpu_per_poll_ms": per_poll, "polls": lookups})
    return 0


if __name__ == "__main__":
    sys.exit(main())
