"""Gallery cost at 10 and 10,000 jobs: SQL queries and render time (a measurement, not a test).

Targets (the issue's "done means"):
  * the gallery runs the same number of SQL queries with 10,000 jobs as with 10;
  * it renders in under 3x the time of the project list page.

Measured with Django's test Client (force_login, the full middleware stack, no network):
  project-detail       the project page (form + first gallery page + poller)
  gallery-page (deep)  the "load more" fragment with a `before` cursor deep in the list
  gallery-changes      the refresh request when nothing changed (204)
  project-list         the team's project list, the yardstick for "3x"

    .venv/bin/python bench/gallery.py                       # throwaway SQLite under bench/out/
    .venv/bin/python bench/gallery.py --database-url postgres://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

# The project list page shows this many projects (a team with a modest history).
OTHER_PROJECTS = 20
ACTIVE = 3  # active jobs on top of the project's history (ETA and queue position are measured)


def measure(client, pages: dict[str, str], runs: int, warmup: int = 3) -> dict[str, dict]:
    """Per page: query count (one captured request) and median/p90 wall time of `runs` GETs.

    The timed requests are interleaved (page A, B, C, D, A, B, ...) so that noise from other work
    on the machine lands on every page alike and the ratios between pages stay fair.
    """
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    results = {}
    for name, url in pages.items():
        for _ in range(warmup):
            client.get(url)
        # Each request clears the query log (request_started): start from an empty one, or the
        # captured slice [before:after] comes out empty.
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code in (200, 204), f"{url} answered {response.status_code}"
        queries = captured.captured_queries
        slowest = max(queries, key=lambda q: float(q["time"]))
        results[name] = {
            "url": url,
            "status": response.status_code,
            "bytes": len(response.content),
            "queries": len(queries),
            "sql": [q["sql"] for q in queries],
            "sql_ms": round(sum(float(q["time"]) for q in queries) * 1000, 2),
            "slowest_query_ms": round(float(slowest["time"]) * 1000, 2),
            "slowest_query": slowest["sql"][:200],
            "times": [],
        }
    for _ in range(runs):
        for name, url in pages.items():
            start = time.perf_counter()
            client.get(url)
            results[name]["times"].append((time.perf_counter() - start) * 1000)
    for result in results.values():
        times = result.pop("times")
        result.update(
            median_ms=round(common.median(times), 2), p90_ms=round(common.percentile(times, 90), 2), runs=runs
        )
    return results


def explain(sql_list: list[str], vendor: str, repeat: int = 20) -> list[dict]:
    """The database's plan and median run time of each gallery/job query (index use at 10,000 rows)."""
    from django.db import connection

    plans = []
    with connection.cursor() as cursor:
        for sql in sql_list:
            if not sql.lstrip().upper().startswith("SELECT") or "generations_" not in sql:
                continue
            prefix = "EXPLAIN QUERY PLAN " if vendor == "sqlite" else "EXPLAIN "
            cursor.execute(prefix + sql)
            plan = [" ".join(str(c) for c in row) for row in cursor.fetchall()]
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                cursor.execute(sql)
                cursor.fetchall()
                times.append((time.perf_counter() - start) * 1000)
            plans.append({"sql": sql[:300], "plan": plan, "median_ms": round(common.median(times), 3)})
    return plans


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to use (a fresh wanweb_bench_gallery database is created on it "
        "and dropped afterwards); default: a throwaway SQLite file under bench/out/",
    )
    parser.add_argument("--runs", type=int, default=60, help="timed requests per page (default 60)")
    parser.add_argument(
        "--sizes", default="10,10000", help="job counts to measure, ascending (default 10,10000)"
    )
    parser.add_argument(
        "--no-analyze", action="store_true", help="PostgreSQL: skip ANALYZE after loading (cold statistics)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    database_url = common.isolated_database_url(args.database_url, "gallery")
    vendor = common.vendor_for(database_url)
    common.bench_environ(database_url, f"gallery-{vendor}")
    common.django_setup()
    try:
        return run(vendor, sizes, args.runs, analyze=not args.no_analyze)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            common.drop_database(database_url)


def run(vendor: str, sizes: list[int], runs: int, analyze: bool = True) -> int:
    from django.test import Client
    from django.urls import reverse

    print(f"Database: {vendor}; migrating...", flush=True)
    common.migrate()
    user, membership = common.make_owner()
    for n in range(OTHER_PROJECTS - 1):
        common.make_project(membership, f"Campaign {n + 1}")
    project = common.make_project(membership, "The big one")

    client = Client(HTTP_HOST="127.0.0.1")  # an ALLOWED_HOSTS default, not "testserver"
    client.force_login(user)
    detail_url = reverse("generations:project-detail", args=[project.public_id])
    list_url = reverse("generations:project-list")
    page_url = reverse("generations:gallery-page", args=[project.public_id])
    changes_url = reverse("generations:gallery-changes", args=[project.public_id])

    from generations.models import Job

    results: dict[int, dict] = {}
    made: list = []
    # Recent history (the last job a minute ago), so the ETA's "recent successes" really are.
    start = datetime.now(UTC) - timedelta(minutes=sizes[-1] + 1)
    # Two running jobs and one queued one always on top of the page: the ETA and queue-position
    # queries run on every project page and must not grow with the history either.
    active = common.bulk_jobs(
        project=project, user=user, count=ACTIVE, start=start, status="running", with_outputs=False
    )
    Job.objects.filter(pk=active[0].pk).update(status="queued")
    for size in sizes:
        t0 = time.perf_counter()
        made += common.bulk_jobs(
            project=project,
            user=user,
            count=size - len(made),
            start=start + timedelta(minutes=len(made)),
        )
        for n, job in enumerate(active):
            Job.objects.filter(pk=job.pk).update(
                created_at=datetime.now(UTC) + timedelta(seconds=n), finished_at=None, progress=40
            )
        if vendor == "postgresql" and analyze:
            # Fresh bulk-loaded rows have no planner statistics until autovacuum's autoanalyze
            # runs (within about a minute in production); without them PostgreSQL guesses
            # "17 rows" and sorts the whole project. --no-analyze measures that cold state.
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"{size:>6} jobs: created in {time.perf_counter() - t0:.1f} s; measuring...", flush=True)
        # Cursors (newest first): the second page ("load more" once), and 90% of the way down
        # (half way for small projects). Keyset cost can differ between the two.
        anchor = made[len(made) // 10] if size >= 100 else made[len(made) // 2]
        second = made[-24] if size > 24 else made[len(made) // 2]
        since = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        pages = {
            "project-detail": f"{detail_url}",
            "gallery-page (2nd)": f"{page_url}?before={second.public_id}",
            "gallery-page (deep)": f"{page_url}?before={anchor.public_id}",
            "gallery-changes (204)": f"{changes_url}?since={since.replace('+', '%2B')}",
            "project-list": list_url,
        }
        results[size] = measure(client, pages, runs)
        results[size]["plans"] = explain(results[size]["project-detail"]["sql"], vendor)
        results[size]["plans_deep"] = explain(results[size]["gallery-page (deep)"]["sql"], vendor)
        results[size]["plans_2nd"] = explain(results[size]["gallery-page (2nd)"]["sql"], vendor)

    # The table: one row per page, a column pair per size.
    names = [
        "project-detail",
        "gallery-page (2nd)",
        "gallery-page (deep)",
        "gallery-changes (204)",
        "project-list",
    ]
    headers = ["page"] + [h for s in sizes for h in (f"queries@{s}", f"median ms@{s}", f"p90 ms@{s}")]
    rows = [
        [name]
        + [
            v
            for s in sizes
            for v in (results[s][name]["queries"], results[s][name]["median_ms"], results[s][name]["p90_ms"])
        ]
        for name in names
    ]
    common.print_table(headers, rows, title=f"Gallery on {vendor} ({runs} timed runs per cell)")
    common.print_table(
        ["size", "page", "query ms (median)", "plan", "query"],
        [
            [s, page, p["median_ms"], " | ".join(p["plan"])[:90], p["sql"][7:70]]
            for s in sizes
            for page, key in (("detail", "plans"), ("2nd", "plans_2nd"), ("deep", "plans_deep"))
            for p in results[s][key]
        ],
        title="The job/project queries, re-run alone (query plans)",
    )

    small, big = sizes[0], sizes[-1]
    checks = []
    for name in ("project-detail", "gallery-page (2nd)", "gallery-page (deep)", "gallery-changes (204)"):
        a, b = results[small][name]["queries"], results[big][name]["queries"]
        checks.append((f"{name}: same queries at {small} and {big} jobs", a == b, f"{a} vs {b}"))
    for name in ("project-detail", "gallery-page (2nd)", "gallery-page (deep)"):
        ratio = results[big][name]["median_ms"] / results[big]["project-list"]["median_ms"]
        checks.append((f"{name} at {big} jobs < 3x project-list", ratio < 3, f"{ratio:.2f}x"))
    common.print_table(
        ["target", "result", "value"],
        [[c, "PASS" if ok else "FAIL", v] for c, ok, v in checks],
        title="Targets",
    )
    common.write_json(
        f"gallery-{vendor}" + ("" if analyze or vendor == "sqlite" else "-cold"),
        {
            "vendor": vendor,
            "runs": runs,
            "analyzed": analyze,
            "other_projects": OTHER_PROJECTS,
            "results": {str(k): v for k, v in results.items()},
            "checks": [{"target": c, "pass": ok, "value": v} for c, ok, v in checks],
        },
    )
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
