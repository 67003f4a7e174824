"""The poll dispatcher's own cost with N jobs in flight (generations/dispatch.py), on PostgreSQL.

Makes `--jobs` running jobs whose next polls fall evenly over the next 30 s (the schedule's
widest gap), plus `--finished` finished jobs, in a throwaway database; then times idle ticks
(nothing due), and ticks that claim what came due since the last (sending to a list, not the
broker), and prints the plan of the due query.

    .venv/bin/python bench/dispatch_cost.py --database-url postgres://postgres@127.0.0.1:5432/x
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta

import _common as common


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--finished", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to tick")
    parser.add_argument("--name", default="dispatch_cost")
    args = parser.parse_args()
    database_url = common.isolated_database_url(args.database_url, args.name)
    common.bench_environ(database_url, args.name)
    common.django_setup()
    common.migrate()
    try:
        return run(args)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_database(database_url)


def run(args) -> int:
    from django.db import connection
    from django.utils import timezone

    from generations import dispatch
    from generations.models import Job

    user, membership = common.make_owner()
    project = common.make_project(membership, "Dispatch cost")
    now = timezone.now()
    rows = [
        Job(
            team=project.team,
            project=project,
            created_by=user,
            provider="fal",
            model="wan/v2.6/text-to-video",
            mode="t2v",
            prompt="in flight",
            status="running",
            vendor_job_id=f"v-{n}",
            poll_token="chain",
            poll_due_at=now + timedelta(seconds=30 * n / args.jobs),
        )
        for n in range(args.jobs)
    ] + [
        Job(
            team=project.team,
            project=project,
            created_by=user,
            provider="fal",
            model="wan/v2.6/text-to-video",
            mode="t2v",
            prompt="done",
            status="succeeded",
            poll_due_at=now - timedelta(hours=1),
        )
        for n in range(args.finished)
    ]
    Job.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE generations_job")

    idle = []
    for _ in range(50):
        start = time.perf_counter()
        dispatch.polls_dispatch_due(now=now - timedelta(seconds=1), send=lambda claimed: None)
        idle.append((time.perf_counter() - start) * 1000)

    busy, claimed_total = [], 0
    started = time.monotonic()
    cpu_before = time.process_time()
    while time.monotonic() - started < args.seconds:
        sent: list = []
        start = time.perf_counter()
        dispatch.polls_dispatch_due(send=sent.extend)
        busy.append((time.perf_counter() - start) * 1000)
        claimed_total += len(sent)
        time.sleep(dispatch.TICK)
    cpu = time.process_time() - cpu_before

    sql, params = dispatch.due_polls(timezone.now()).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql + " LIMIT 1", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    common.print_table(
        [
            "in flight",
            "finished rows",
            "idle tick ms (median / p99)",
            "busy tick ms (median / p99)",
            "ticks",
            "claimed",
            "bench CPU %",
        ],
        [
            [
                args.jobs,
                args.finished,
                f"{common.median(idle):.2f} / {common.percentile(idle, 99):.2f}",
                f"{common.median(busy):.2f} / {common.percentile(busy, 99):.2f}",
                len(busy),
                claimed_total,
                f"{100 * cpu / args.seconds:.1f}",
            ]
        ],
        title="poll dispatcher, one process, PostgreSQL",
    )
    print(plan)
    common.write_json(
        f"{args.name}-{args.jobs}", {"idle_ms": idle, "busy_ms": busy, "claimed": claimed_total, "cpu_s": cpu}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
