"""Gallery refresh requests per interval in a real browser (a measurement, not a test).

Targets (the issues' "done means"): with 50 jobs running, an open gallery makes ONE request per
interval (2 s); with none running, at most one per 15 s (the idle check that lets jobs started
elsewhere appear), and none while the tab is hidden.

A real server (`manage.py runserver --noreload`, its own SQLite file, DEBUG=true) and a real
headless Chromium (Playwright, /usr/bin/chromium), logged in through a session cookie, open a
project page and every request to `/gallery/changes/` is recorded for `--seconds`. Scenarios:

  idle        a project with finished jobs only (0 active), observed for at least 46 s
  hidden      the same, with the tab hidden (document.hidden faked before the page's scripts run)
  running     50 running jobs that never change (created directly in the database; no worker)
  progress    50 running jobs, of which a few report new progress every few seconds (200s with
              changed cards and a re-armed poller: checks that re-arming never doubles the poller)

Then the size and time of one "nothing changed" answer (204), measured from the browser (Resource
Timing and Playwright's sizes) and with plain HTTP requests from this process.

    .venv/bin/python bench/refresh.py
    .venv/bin/python bench/refresh.py --seconds 30 --scenarios running
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

INTERVAL = 2.0  # the poller's hx-trigger="every 2s"
IDLE_INTERVAL = 15.0  # the idle poller's hx-trigger="every 15s"
IDLE_SECONDS = 46.0  # long enough for three idle checks
HIDDEN_TAB = """
Object.defineProperty(Document.prototype, "hidden", {configurable: true, get() { return true; }});
Object.defineProperty(Document.prototype, "visibilityState", {configurable: true, get() { return "hidden"; }});
"""
RUNNING = 50
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def make_data():
    """A user and three projects: finished-only, 50 frozen running jobs, 50 running jobs with progress."""
    from generations.models import Job

    user, membership = common.make_owner()
    start = datetime.now(UTC) - timedelta(days=2)
    projects = {}
    for name in ("idle", "running", "progress"):
        project = common.make_project(membership, f"Refresh {name}")
        common.bulk_jobs(project=project, user=user, count=40, start=start)  # history: finished jobs
        if name != "idle":
            # Running jobs last touched a minute ago: the page's `since` is after them, so a
            # refresh finds nothing changed until someone updates a row.
            touched = datetime.now(UTC) - timedelta(minutes=1)
            jobs = common.bulk_jobs(
                project=project,
                user=user,
                count=RUNNING,
                start=touched - timedelta(minutes=RUNNING),
                status="running",
                with_outputs=False,
            )
            Job.objects.filter(pk__in=[j.pk for j in jobs]).update(
                progress=40, finished_at=None, updated_at=touched, vendor_status="running"
            )
        projects[name] = project
    return user, projects


def session_cookie(user) -> str:
    """A logged-in session stored in the shared database, for the browser and urllib."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def start_server(port: int, env: dict[str, str]) -> subprocess.Popen:
    log = (common.OUT / "refresh-server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=common.ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    common.wait_for_port(port)
    return process


def progress_updater(project, stop: threading.Event, every: float = 3.0, batch: int = 5) -> None:
    """Move `batch` running jobs' progress forward every `every` seconds, as a poll worker would."""
    from django.db import close_old_connections
    from django.db.models import F
    from django.utils import timezone

    from generations.models import Job

    ids = list(Job.objects.filter(project=project, status="running").values_list("pk", flat=True))
    n = 0
    while not stop.wait(every):
        chosen = ids[n % len(ids) : n % len(ids) + batch]
        n += batch
        Job.objects.filter(pk__in=chosen).update(progress=F("progress") + 1, updated_at=timezone.now())
    close_old_connections()


def observe(
    browser, base: str, cookie: str, project, seconds: float, updater: bool, hidden: bool = False
) -> dict:
    """Open the project page and record every /gallery/changes/ request for `seconds`."""
    from django.conf import settings

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])
    page = context.new_page()
    if hidden:
        page.add_init_script(HIDDEN_TAB)
    seen: list[dict] = []
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Timed when the request leaves (a response's time adds its server time, which varies with
    # load); the status is filled in when its response arrives.
    def on_request(request):
        if "/gallery/changes/" in request.url:
            seen.append({"t": time.monotonic(), "status": "no answer", "request": request})

    def on_response(response):
        for item in seen:
            if item["request"] is response.request:
                item["status"] = response.status

    page.on("request", on_request)
    page.on("response", on_response)
    stop = threading.Event()
    thread = threading.Thread(target=progress_updater, args=(project, stop), daemon=True) if updater else None
    page.goto(f"{base}/projects/{project.public_id}/", wait_until="load")
    opened = time.monotonic()
    polling = page.get_attribute("#gallery-poller", "data-polling")
    if thread:
        thread.start()
    page.wait_for_timeout(seconds * 1000)
    stop.set()
    if thread:
        thread.join()
    pollers = page.locator("[hx-trigger='every 2s']").count()
    context.close()

    # Requests per 2-s interval since the page loaded (the last, partial interval is dropped).
    buckets = [0] * int(seconds // INTERVAL)
    for item in seen:
        index = int((item["t"] - opened) // INTERVAL)
        if 0 <= index < len(buckets):
            buckets[index] += 1
    statuses: dict[str, int] = {}
    for item in seen:
        statuses[str(item["status"])] = statuses.get(str(item["status"]), 0) + 1
    times = [item["t"] - opened for item in seen]
    return {
        "first_at_s": round(times[0], 2) if times else None,
        "gaps_s": [round(b - a, 2) for a, b in zip(times, times[1:], strict=False)],
        "seconds": seconds,
        "page_says_polling": polling,
        "requests": len(seen),
        "per_interval": buckets,
        "mean_per_interval": round(sum(buckets) / len(buckets), 2) if buckets else 0,
        "max_per_interval": max(buckets) if buckets else 0,
        "statuses": statuses,
        "pollers_in_dom_at_end": pollers,
        "js_errors": errors,
    }


def measure_204(browser, base: str, cookie: str, project, samples: int) -> dict:
    """Size and time of a "nothing changed" answer: from the browser, and over plain HTTP."""
    from django.conf import settings

    since = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+", "%2B")
    url = f"{base}/projects/{project.public_id}/gallery/changes/?since={since}"

    # 1. In Chromium: fetch() from the page (same cookies, HX-Request like htmx), Resource Timing
    #    for request->first byte, Playwright's sizes for bytes on the wire.
    context = browser.new_context()
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}])
    page = context.new_page()
    page.goto(f"{base}/healthz")
    with page.expect_response(lambda r: "/gallery/changes/" in r.url) as info:
        page.evaluate("url => fetch(url, {headers: {'HX-Request': 'true'}})", url)
    response = info.value
    sizes = response.request.sizes()
    ttfb = page.evaluate(
        """async ([url, n]) => {
            const out = [];
            for (let i = 0; i < n; i++) {
                const u = new URL(url + '&i=' + i, location.href).href;
                const r = await fetch(u, {headers: {'HX-Request': 'true'}});
                await r.text();  // the entry is recorded once the (empty) body is done
                await new Promise(done => setTimeout(done, 0));
                const e = performance.getEntriesByName(u).pop();
                out.push(e.responseStart - e.requestStart);
            }
            return out;
        }""",
        [url, samples],
    )
    context.close()

    # 2. Plain HTTP from this process: whole round trip on loopback (keep-alive off: runserver).
    round_trips = []
    for i in range(samples):
        request = urllib.request.Request(
            f"{url}&j={i}",
            headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}", "HX-Request": "true"},
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request) as answer:  # noqa: S310 - loopback
            answer.read()
            status = answer.status
        round_trips.append((time.perf_counter() - start) * 1000)
    return {
        "status": response.status,
        "samples": samples,
        "response_body_bytes": sizes["responseBodySize"],
        "response_headers_bytes": sizes["responseHeadersSize"],
        "request_headers_bytes": sizes["requestHeadersSize"],
        "browser_ttfb_median_ms": round(common.median(ttfb), 2),
        "browser_ttfb_p95_ms": round(common.percentile(ttfb, 95), 2),
        "http_round_trip_median_ms": round(common.median(round_trips), 2),
        "http_round_trip_p95_ms": round(common.percentile(round_trips, 95), 2),
        "http_status": status,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="observation per scenario (default 20)")
    parser.add_argument(
        "--scenarios",
        default="idle,hidden,running,progress",
        help="comma-separated: idle, hidden, running, progress",
    )
    parser.add_argument("--samples", type=int, default=50, help="204 answers to time (default 50)")
    args = parser.parse_args()

    database_url = common.isolated_database_url(None, "refresh")
    port = common.free_port()
    base = f"http://127.0.0.1:{port}"
    env = common.bench_environ(
        database_url, "refresh", PUBLIC_BASE_URL=base, DJANGO_ALLOW_ASYNC_UNSAFE="true"
    )
    common.django_setup()
    common.migrate()
    user, projects = make_data()
    cookie = session_cookie(user)

    from playwright.sync_api import sync_playwright

    server = start_server(port, env)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            results = {}
            for name in args.scenarios.split(","):
                seconds = max(args.seconds, IDLE_SECONDS) if name in ("idle", "hidden") else args.seconds
                print(f"observing '{name}' for {seconds:.0f} s...", flush=True)
                results[name] = observe(
                    browser,
                    base,
                    cookie,
                    projects["idle" if name == "hidden" else name],
                    seconds,
                    updater=name == "progress",
                    hidden=name == "hidden",
                )
            print("timing 204 answers...", flush=True)
            answer_204 = measure_204(browser, base, cookie, projects["running"], args.samples)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

    labels = {
        "idle": "0 active",
        "hidden": "0 active, tab hidden",
        "running": f"{RUNNING} running",
        "progress": f"{RUNNING} running + progress",
    }
    rows, idle_rows, checks = [], [], []
    for name, r in results.items():
        if name in ("idle", "hidden"):
            # At most one check per 15 s, and (visible) no fewer than the interval allows.
            expected = 0 if name == "hidden" else int(r["seconds"] // IDLE_INTERVAL)
            gaps_ok = all(gap >= IDLE_INTERVAL - 0.5 for gap in r["gaps_s"])
            first_ok = r["first_at_s"] is None or r["first_at_s"] >= IDLE_INTERVAL - 0.5
            ok = gaps_ok and first_ok and expected - 1 <= r["requests"] <= expected
            checks.append({"scenario": name, "target": f"<= 1 per {IDLE_INTERVAL:.0f} s", "pass": ok})
            idle_rows.append(
                [
                    labels[name],
                    r["page_says_polling"],
                    f"{r['seconds']:.0f}",
                    r["requests"],
                    r["first_at_s"] if r["first_at_s"] is not None else "-",
                    " ".join(str(g) for g in r["gaps_s"]) or "-",
                    ",".join(f"{k}x{v}" for k, v in r["statuses"].items()) or "-",
                    expected,
                    "PASS" if ok else "FAIL",
                ]
            )
            continue
        # One request per 2 s: a second poller would show as gaps well under 2 s, a stopped one as
        # missing requests. (Counting per fixed 2-s bucket is not the test: a poller whose phase
        # sits on a bucket edge reads "0 2 0 2" under load while it is perfectly regular.)
        target = 1
        ok = bool(r["gaps_s"]) and min(r["gaps_s"]) >= INTERVAL - 0.5
        ok = ok and r["requests"] >= int(r["seconds"] // INTERVAL) - 2
        checks.append({"scenario": name, "target_per_interval": target, "pass": ok})
        rows.append(
            [
                labels[name],
                r["page_says_polling"],
                r["requests"],
                r["mean_per_interval"],
                r["max_per_interval"],
                " ".join(str(b) for b in r["per_interval"]),
                f"{min(r['gaps_s'], default=0)}/{max(r['gaps_s'], default=0)}",
                ",".join(f"{k}x{v}" for k, v in r["statuses"].items()) or "-",
                target,
                "PASS" if ok else "FAIL",
            ]
        )
    if rows:
        common.print_table(
            [
                "jobs",
                "polling",
                "requests",
                "mean/2s",
                "max/2s",
                "per 2-s interval",
                "min/max gap s",
                "statuses",
                "target",
                "result",
            ],
            rows,
            title=f"/gallery/changes/ requests in {args.seconds:.0f} s with the gallery open in Chromium",
        )
    if idle_rows:
        common.print_table(
            [
                "jobs",
                "polling",
                "seconds",
                "requests",
                "first at s",
                "gaps s",
                "statuses",
                "expected",
                "result",
            ],
            idle_rows,
            title="Idle checks (nothing running): at most one per 15 s, none while the tab is hidden",
        )
    a = answer_204
    common.print_table(
        ["measure", "value"],
        [
            ["status", a["status"]],
            ["response body bytes", a["response_body_bytes"]],
            ["response header bytes", a["response_headers_bytes"]],
            ["request header bytes", a["request_headers_bytes"]],
            ["browser request->first byte, median ms", a["browser_ttfb_median_ms"]],
            ["browser request->first byte, p95 ms", a["browser_ttfb_p95_ms"]],
            ["urllib round trip, median ms", a["http_round_trip_median_ms"]],
            ["urllib round trip, p95 ms", a["http_round_trip_p95_ms"]],
        ],
        title=f'One "nothing changed" answer ({a["samples"]} samples, {RUNNING} running jobs, runserver)',
    )
    common.write_json(
        "refresh",
        {"interval_s": INTERVAL, "scenarios": results, "checks": checks, "answer_204": answer_204},
    )
    return 0 if all(c["pass"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
