"""The compare page's SQL query count at 2, 12 and 48 cells (a measurement, not a test).

Target (issue 15): the page, its live refresh and the run's public share page run the same number
of queries whatever the number of cells. Runs are made through generations.runs.run_create on the simulator (the submit
tasks are not sent: no worker is needed), then every job is marked succeeded with a stored output.

    .venv/bin/python bench/compare_queries.py                       # throwaway SQLite under bench/out/
    .venv/bin/python bench/compare_queries.py --database-url postgres://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

SHAPES = {
    2: (2, []),
    12: (6, ["a", "b"]),
    48: (8, ["a", "b", "c", "d", "e", "f"]),
}  # cells: (seeds, variants)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="PostgreSQL server to use; default: SQLite under bench/out/")
    parser.add_argument("--runs", type=int, default=20, help="timed requests per page (default 20)")
    args = parser.parse_args()
    database_url = common.isolated_database_url(args.database_url, "compare")
    vendor = common.vendor_for(database_url)
    common.bench_environ(database_url, f"compare-{vendor}")
    common.django_setup()
    try:
        return run(vendor, args.runs)
    finally:
        from django.db import connections

        connections.close_all()
        common.drop_database(database_url)


def run(vendor: str, runs_per_page: int) -> int:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from generations import runs, services, sharing
    from generations.assets import asset_save_output
    from generations.models import Job, JobStatus

    print(f"Database: {vendor}; migrating...", flush=True)
    common.migrate()
    user, membership = common.make_owner()
    project = common.make_project(membership, "Compare")
    services.job_submit_task = type("NoBroker", (), {"delay": staticmethod(lambda *a: None)})
    png = common.small_png()
    client = Client(HTTP_HOST="127.0.0.1")  # an ALLOWED_HOSTS default, not "testserver"
    client.force_login(user)
    results = {}
    for cells, (seeds, variants) in SHAPES.items():
        run = runs.run_create(
            membership=membership,
            project=project,
            mode="t2i",
            targets=[runs.Target("simulator", "wan-sim")],
            prompt="a lighthouse",
            params={},
            seeds=list(range(1, seeds + 1)),
            variants=variants,
        )
        now = timezone.now()
        for job in Job.objects.filter(run=run):
            asset_save_output(job=job, index=0, data=png, content_type="image/png")
        Job.objects.filter(run=run).update(
            status=JobStatus.SUCCEEDED, submitted_at=now, finished_at=now, updated_at=now
        )
        since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().replace("+", "%2B")
        _link, token = sharing.share_link_create(actor=membership, run=run)
        pages = {
            "compare page": run.detail_url,
            "refresh (all changed)": f"{run.detail_url}changes/?since={since}",
            "public share page": f"/s/{token}/",
        }
        for name, url in pages.items():
            client.get(url)
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url)
            assert response.status_code == 200, f"{url}: {response.status_code}"
            queries = len(captured.captured_queries)  # now: the next request clears the query log
            times = []
            for _ in range(runs_per_page):
                start = time.perf_counter()
                client.get(url)
                times.append((time.perf_counter() - start) * 1000)
            results.setdefault(name, {})[cells] = {
                "queries": queries,
                "median_ms": round(common.median(times), 2),
            }
    sizes = list(SHAPES)
    headers = ["page"] + [h for s in sizes for h in (f"queries@{s}", f"median ms@{s}")]
    rows = [
        [name] + [v for s in sizes for v in (r[s]["queries"], r[s]["median_ms"])]
        for name, r in results.items()
    ]
    common.print_table(headers, rows, title=f"Compare page on {vendor} ({runs_per_page} timed runs)")
    checks = [
        (
            f"{name}: same queries at {sizes[0]}, {sizes[1]} and {sizes[-1]} cells",
            len({r[s]["queries"] for s in sizes}) == 1,
            " / ".join(str(r[s]["queries"]) for s in sizes),
        )
        for name, r in results.items()
    ]
    common.print_table(
        ["target", "result", "value"],
        [[c, "PASS" if ok else "FAIL", v] for c, ok, v in checks],
        title="Targets",
    )
    common.write_json(
        f"compare-{vendor}",
        {"vendor": vendor, "results": {k: {str(s): v for s, v in r.items()} for k, r in results.items()}},
    )
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
