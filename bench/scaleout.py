"""Scale-out, proven: the production stack on one machine, a worker SIGKILLed mid-run, then the books.

Starts, against its own PostgreSQL database and Redis (queue names and every broker key prefixed
per run, so nobody else's workers or tasks are touched):

- gunicorn, one master with `--workers 2`, serving wanweb.wsgi (whitenoise for static files), with
  the repo's gunicorn.conf.py for everything the command line does not set (worker class, threads);
- three Celery worker processes (prefork, 2 children each): `default-a` and `default-b` on the
  `polls` and `default` queues (polls and the poll dispatcher; submits, the reconciler), `downloads` on the `downloads` queue (copying
  vendor output URLs into storage, CELERY_TASK_ROUTES);
- celery beat (the reconciler every 60 s);
- a fake fal.ai on loopback (tests/fakes/fal.py) whose results are URLs, so the downloads queue
  works; with `--s3`, `moto_server` on a free port as the S3 API (django-storages, S3_BUCKET).

It logs in through the login form with several HTTP clients at once and POSTs the generation
form N times (half simulator text-to-image with inline PNG results, half fal text-to-video with
URL results), SIGKILLs worker process groups mid-run (`--kill`; each is started again a few
seconds later, as a supervisor would), waits for every job to finish and then checks, from the
database and the storage:

- every POST made exactly one job; every job finished, with exactly one event of its final
  status and one "submitted" event; the fake vendor saw one submit per fal job;
- every quota hold was settled (success) or refunded (failure) exactly once: one reserve and one
  settle-or-refund ledger entry per job, wallets with nothing left reserved and spent = settled;
- one output per job (no duplicates), every file and thumbnail row present in storage with its
  size, and no file in storage that no row names (no orphans);
- files served through gunicorn: local files streamed, S3 files as a 302 to a signed URL that
  serves the bytes while the unsigned URL is refused; the streamed zip of outputs has every file
  with the right CRC and a manifest.

It prints figures (wall time, jobs/s, latency, task deliveries and re-drives) and writes
bench/out/scaleout[-s3].json. Exit status 0 when every check passes, 1 otherwise, 2 on a setup
problem (no PostgreSQL, no Redis).

    .venv/bin/python bench/scaleout.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/scaleout.py --jobs 20 --s3
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

ROOT = common.ROOT
PY = sys.executable
FINAL = ("succeeded", "failed", "canceled")
# Worker name -> its queues. The polls queue rides with default here (each such worker also runs
# the poll dispatcher, generations/dispatch.py), so killing default-b also kills one dispatcher.
WORKERS = {"default-a": "polls,default", "default-b": "polls,default", "downloads": "downloads"}


def worker_queues(run: str, worker: str) -> str:
    return ",".join(f"bench-{run}-{queue}" for queue in WORKERS[worker].split(","))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs to create (default 200)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server (its own database wanweb_bench_scaleout_<run> is created and dropped)",
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--s3", action="store_true", help="store files in S3: moto_server on loopback")
    parser.add_argument(
        "--kill",
        default="default-b,downloads",
        help="worker(s) to SIGKILL mid-run, comma-separated, of: " + ", ".join(WORKERS) + " (or 'none')",
    )
    parser.add_argument(
        "--restart-after", type=float, default=3.0, help="seconds before a killed worker is back"
    )
    parser.add_argument("--clients", type=int, default=4, help="HTTP clients posting the form at once")
    parser.add_argument("--sim-delay", type=float, default=3.0, help="seconds a simulator job runs")
    parser.add_argument("--visibility-timeout", type=int, default=20, help="Redis visibility timeout (s)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting for jobs after this")
    parser.add_argument("--keep", action="store_true", help="keep the database, media and logs")
    return parser.parse_args(argv)


# -- processes ----------------------------------------------------------------------------------


class Stack:
    """The child processes, each in its own process group, with its log under `log_dir`."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.kills: list[dict] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str, queue: str) -> None:
        self.start(
            name,
            [
                PY,
                "-m",
                "celery",
                "-A",
                "wanweb",
                "worker",
                "-Q",
                queue,
                "-P",
                "prefork",
                "-c",
                "2",
                "-n",
                f"{name}-{uuid.uuid4().hex[:4]}@%h",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
        )

    def kill(self, name: str, *, restart_after: float, queue: str) -> None:
        """SIGKILL the worker's whole process group (master and pool): nothing acks or restores."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        self.kills.append({"worker": name, "at": time.time()})
        print(f"  SIGKILLed worker {name} (pid {proc.pid}); back in {restart_after:g} s", flush=True)
        timer = threading.Timer(restart_after, self.start_worker, args=(name, queue))
        timer.daemon = True
        timer.start()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for_log(self, name: str, text: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log(name):
                return
            proc = self.procs[name]
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")
            time.sleep(0.2)
        raise SystemExit(f"{name} did not say {text!r} within {timeout} s:\n{self.log(name)[-3000:]}")


def start_moto(log_dir: Path) -> tuple[subprocess.Popen, str]:
    port = common.free_port()
    moto = shutil.which("moto_server", path=str(Path(PY).parent)) or shutil.which("moto_server")
    if not moto:
        raise SystemExit("moto_server not found: pip install -e '.[dev]' (moto[server])")
    with open(log_dir / "moto.log", "ab") as log:
        proc = subprocess.Popen(
            [moto, "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    common.wait_for_port(port, timeout=60)
    return proc, f"http://127.0.0.1:{port}"


# -- the front door -----------------------------------------------------------------------------


def form_data(provider: str, mode: str, sim_delay: float) -> dict[str, str]:
    """What a browser posts for this provider and mode: the model's defaults, as the form shows them."""
    from providers import catalog

    spec = catalog.default_model(provider, mode)
    data = {"provider": provider, "mode": mode, "model": spec.model_id}
    for field in spec.fields:
        if field.default is None or field.type == "bool" and not field.default:
            continue
        data[field.name] = "on" if field.default is True else str(field.default)
    if provider == "simulator":
        data.update({"size": "256x256", "sim_delay": str(sim_delay), "sim_fault": "none"})
    return data


class FrontDoor:
    """One logged-in browser: a session cookie and the CSRF token, over real HTTP to gunicorn."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        import httpx

        # A new connection per request, as browsers behind a load balancer mostly arrive: with
        # keep-alive, each client stayed on the gunicorn worker that accepted it first, and since
        # workers import the URLconf before their first request (gunicorn.conf.py), one worker
        # could accept all four before the other woke, failing "both workers served requests".
        self.client = httpx.Client(
            base_url=base_url,
            timeout=60.0,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self.client.get("/login/").raise_for_status()
        response = self.client.post(
            "/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": self.csrf},
            headers={"Referer": f"{base_url}/login/"},
        )
        if response.status_code != 302:
            raise SystemExit(f"login through the form failed: HTTP {response.status_code}")

    @property
    def csrf(self) -> str:
        return self.client.cookies.get("csrftoken", "")

    def post(self, path: str, data: dict) -> object:
        return self.client.post(
            path,
            data={**data, "csrfmiddlewaretoken": self.csrf},
            headers={"Referer": str(self.client.base_url)},
        )


def create_jobs(args, base_url, username, project, created: list, errors: list) -> None:
    """POST the generation form args.jobs times from args.clients logged-in clients at once."""
    from django.urls import reverse

    path = reverse("generations:job-create", args=[project.public_id])
    kinds = [form_data("simulator", "t2i", args.sim_delay), form_data("fal", "t2v", args.sim_delay)]
    counter = iter(range(args.jobs))
    lock = threading.Lock()

    def client_loop() -> None:
        door = FrontDoor(base_url, username, common.PASSWORD)
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            token = uuid.uuid4().hex
            data = {**kinds[n % 2], "prompt": f"{common.PROMPTS[n % len(common.PROMPTS)]} (#{n})"}
            data["submit_token"] = token
            response = door.post(path, data)
            if response.status_code == 302:
                created.append(token)
            else:
                errors.append(f"job {n}: HTTP {response.status_code} {response.text[:300]!r}")

    threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- checks -------------------------------------------------------------------------------------


class Checks:
    def __init__(self) -> None:
        self.results: list[tuple[str, bool, str]] = []

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        self.results.append((name, bool(ok), detail))

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.results)

    def print(self) -> None:
        print("\nChecks")
        for name, ok, detail in self.results:
            print(f"  {'PASS' if ok else 'FAIL'}  {name}" + (f": {detail}" if detail else ""))


def walk_storage(storage, top: str) -> dict[str, int]:
    """Every file under `top` in the storage (local or S3) with its size."""
    found: dict[str, int] = {}
    pending = [top]
    while pending:
        directory = pending.pop()
        try:
            dirs, files = storage.listdir(directory)
        except FileNotFoundError:
            continue
        pending += [f"{directory}/{d}" for d in dirs]
        for name in files:
            found[f"{directory}/{name}"] = storage.size(f"{directory}/{name}")
    return found


def _off(ids: list) -> str:
    return f"off for jobs {ids[:10]}" if ids else ""


def check_books(checks: Checks, *, tokens: list[str], fal_submits: int) -> dict:
    from django.core.files.storage import default_storage
    from django.db.models import Count, Q, Sum

    from generations.models import Asset, Job, JobEvent
    from wanweb.quotas.models import Hold, LedgerEntry, Wallet

    jobs = list(Job.objects.all())
    by_status = Counter(job.status for job in jobs)
    checks.add(
        "one job per accepted POST",
        len(jobs) == len(tokens) and set(Job.objects.values_list("submit_token", flat=True)) == set(tokens),
        f"{len(tokens)} POSTs answered 302, {len(jobs)} jobs",
    )
    checks.add("every job finished", all(job.status in FINAL for job in jobs), dict(by_status).__repr__())
    failed = [
        f"{job.public_id}: {job.error_code} {job.error_message[:120]}"
        for job in jobs
        if job.status != "succeeded"
    ]
    checks.add("every job succeeded", not failed, "; ".join(failed[:5]))

    events = Counter(JobEvent.objects.values_list("job_id", "status"))
    wrong_final = [job.pk for job in jobs if events[(job.pk, job.status)] != 1]
    wrong_submit = [job.pk for job in jobs if events[(job.pk, "submitted")] != 1]
    checks.add("one event of the final status per job", not wrong_final, _off(wrong_final))
    checks.add("one 'submitted' event per job", not wrong_submit, _off(wrong_submit))
    fal_jobs = sum(1 for job in jobs if job.provider == "fal")
    vendor_ids = [job.vendor_job_id for job in jobs]
    checks.add(
        "the vendor saw one submit per fal job",
        fal_submits == fal_jobs and len(set(vendor_ids)) == len(vendor_ids),
        f"{fal_submits} submits for {fal_jobs} fal jobs",
    )

    holds = {hold.job_id: hold for hold in Hold.objects.all()}
    ledger = Counter(LedgerEntry.objects.filter(job__isnull=False).values_list("job_id", "kind"))
    bad_holds = []
    for job in jobs:
        hold = holds.get(job.pk)
        want = "settled" if job.status == "succeeded" else "refunded"
        closing = "settle" if want == "settled" else "refund"
        other = "refund" if closing == "settle" else "settle"
        if (
            hold is None
            or hold.status != want
            or hold.closed_at is None
            or ledger[(job.pk, "reserve")] != 1
            or ledger[(job.pk, closing)] != 1
            or ledger[(job.pk, other)] != 0
        ):
            bad_holds.append(job.pk)
    checks.add("every hold settled or refunded exactly once", not bad_holds, _off(bad_holds))
    wallets = Wallet.objects.aggregate(reserved=Sum("reserved"), spent=Sum("spent"), n=Count("pk"))
    settled = LedgerEntry.objects.filter(kind="settle").aggregate(total=Sum("amount"))["total"] or 0
    checks.add(
        "wallets: nothing left reserved, spent = settled (team + member wallet)",
        wallets["reserved"] == 0 and wallets["spent"] == 2 * settled,
        f"reserved {wallets['reserved']}, spent {wallets['spent']}, settled {settled} x 2",
    )

    outputs = Counter(Asset.objects.filter(role="output").values_list("job_id", flat=True))
    wrong_outputs = [job.pk for job in jobs if job.status == "succeeded" and outputs[job.pk] != 1]
    checks.add("one output per succeeded job (no duplicates)", not wrong_outputs, _off(wrong_outputs))
    stored = walk_storage(default_storage, "jobs")
    named: dict[str, int | None] = {}
    for asset in Asset.objects.all():
        named[asset.file.name] = asset.size_bytes
        if asset.thumbnail:
            named[asset.thumbnail.name] = None
    missing = [name for name in named if name not in stored]
    wrong_size = [
        name for name, size in named.items() if size is not None and stored.get(name) not in (None, size)
    ]
    orphans = [name for name in stored if name not in named]
    checks.add(
        "every file row is in storage with its size",
        not missing and not wrong_size,
        f"missing {missing[:3]}, wrong size {wrong_size[:3]}" if missing or wrong_size else "",
    )
    checks.add("no orphan files in storage", not orphans, f"{len(orphans)}: {orphans[:3]}" if orphans else "")
    return {
        "jobs": len(jobs),
        "by_status": dict(by_status),
        "files_in_storage": len(stored),
        "bytes_in_storage": sum(stored.values()),
        "outputs": sum(outputs.values()),
        "unfinished": Job.objects.exclude(status__in=FINAL).count(),
        "jobs_with_vendor_calls": Job.objects.filter(~Q(vendor_calls=None)).distinct().count(),
    }


def check_serving(checks: Checks, *, door: FrontDoor, s3: bool, sample: int = 20) -> dict:
    """Fetch outputs through the access-checked views, then a streamed zip of them."""
    import httpx
    from django.urls import reverse

    from generations.models import Asset

    assets = list(Asset.objects.filter(role="output").select_related("job").order_by("created_at")[:sample])
    if not assets:
        checks.add("files served", False, "no outputs to fetch")
        return {}
    bad = []
    unsigned_refused = 0
    for asset in assets:
        response = door.client.get(reverse("generations:asset-file", args=[asset.public_id]))
        if s3:
            location = response.headers.get("location", "")
            if (
                response.status_code != 302
                or "Signature=" not in location
                and "X-Amz-Signature=" not in location
            ):
                bad.append(f"{asset.public_id}: HTTP {response.status_code} {location[:80]}")
                continue
            fetched = httpx.get(location, timeout=30)
            body = fetched.content
            if httpx.get(location.split("?", 1)[0], timeout=30).status_code == 403:
                unsigned_refused += 1
            if fetched.headers.get("content-type") != asset.content_type:
                bad.append(f"{asset.public_id}: signed URL served {fetched.headers.get('content-type')}")
        else:
            body = response.content if response.status_code == 200 else b""
            if response.status_code != 200:
                bad.append(f"{asset.public_id}: HTTP {response.status_code}")
                continue
        if hashlib.sha256(body).hexdigest() != asset.sha256:
            bad.append(f"{asset.public_id}: bytes differ from the stored sha256")
    how = "302 to a signed URL on the S3 endpoint" if s3 else "streamed by the app"
    checks.add(f"{len(assets)} outputs served ({how}) with their bytes", not bad, "; ".join(bad[:3]))
    if s3:
        checks.add(
            "the bucket refuses unsigned URLs",
            unsigned_refused == len(assets),
            f"{unsigned_refused}/{len(assets)} refused",
        )

    all_ids = [str(a.public_id) for a in Asset.objects.filter(role="output").order_by("created_at")[:500]]
    started = time.monotonic()
    with door.client.stream(
        "POST",
        reverse("generations:bulk-download"),
        data={"ids": all_ids, "label": "scaleout", "csrfmiddlewaretoken": door.csrf},
        headers={"Referer": str(door.client.base_url)},
    ) as response:
        chunks = [chunk for chunk in response.iter_bytes()]
        status, transfer = response.status_code, response.headers.get("transfer-encoding", "")
    zip_seconds = time.monotonic() - started
    data = b"".join(chunks)
    problems = []
    if status != 200:
        problems.append(f"HTTP {status}")
    else:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                bad_member = archive.testzip()
                names = archive.namelist()
                manifest = json.loads(archive.read("manifest.json"))
            if bad_member:
                problems.append(f"bad CRC in {bad_member}")
            if manifest["count"] != len(all_ids) or manifest["missing"] or len(names) != len(all_ids) + 1:
                problems.append(
                    f"{manifest['count']} of {len(all_ids)} in the manifest, missing {manifest['missing'][:2]}"
                )
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            problems.append(f"not a good zip: {exc}")
    checks.add(
        f"streamed zip of {len(all_ids)} outputs: every file, right CRCs, a manifest",
        not problems,
        "; ".join(problems)
        or f"{len(data) / 1e6:.1f} MB in {len(chunks)} chunks ({transfer or 'no transfer-encoding'})",
    )
    return {"zip_bytes": len(data), "zip_chunks": len(chunks), "zip_seconds": round(zip_seconds, 2)}


def web_figures(log_dir: Path) -> dict:
    """From gunicorn's access log: requests per web worker, and the form POST's time."""
    per_worker: Counter = Counter()
    post_ms: list[float] = []
    path = log_dir / "access.log"
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        found = re.match(r'<(\d+)> (\d+) "(\w+) (\S+) [^"]*" (\d+)', line)
        if not found:
            continue
        pid, _status, method, url, ms = found.groups()
        per_worker[pid] += 1
        if method == "POST" and url.endswith("/jobs/"):
            post_ms.append(float(ms))
    return {
        "requests_per_worker": sorted(per_worker.values(), reverse=True),
        "form_post_ms_median": common.median(post_ms),
        "form_post_ms_p95": common.percentile(post_ms, 95),
    }


def deliveries(stack: Stack) -> dict:
    """Task deliveries from the worker logs: how many, and how many were second (or later) tries."""
    received = Counter()
    for name in WORKERS:
        for task, task_id in re.findall(
            r"Task generations\.tasks\.(\w+)\[([0-9a-f-]+)\] received", stack.log(name)
        ):
            received[(task, task_id)] += 1
    by_task = Counter(task for task, _ in received)
    redriven = Counter(task for (task, _), n in received.items() for _ in range(n - 1))
    reconcile = re.findall(
        r"job_reconcile_task\[[0-9a-f-]+\] succeeded in [\d.]+s: (\{.*?\})",
        "".join(stack.log(n) for n in WORKERS),
    )
    redrives = Counter()
    for counts in reconcile:
        redrives.update({k: v for k, v in ast.literal_eval(counts).items() if v})
    return {
        "tasks": dict(by_task),
        "reconciler": {"runs": len(reconcile), **redrives},
        "deliveries": sum(received.values()),
        "redelivered": dict(redriven),
        "reconcile_runs": reconcile,
    }


# -- main ---------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    kills = [] if args.kill in ("", "none") else [k.strip() for k in args.kill.split(",")]
    unknown = [k for k in kills if k not in WORKERS]
    if unknown:
        raise SystemExit(f"--kill: unknown worker(s) {unknown}; choose from {list(WORKERS)}")
    if not args.database_url.startswith("postgres"):
        print("bench/scaleout.py needs PostgreSQL (--database-url postgres://...)", file=sys.stderr)
        return 2
    run = uuid.uuid4().hex[:8]
    name = f"scaleout_{run}"
    label = "scaleout-s3" if args.s3 else "scaleout"
    log_dir = common.OUT / f"{name}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        database_url = common.isolated_database_url(args.database_url, name)
    except Exception as exc:  # noqa: BLE001
        print(f"cannot create a database on {args.database_url}: {exc}", file=sys.stderr)
        return 2
    import redis

    try:
        redis.Redis.from_url(args.redis_url).ping()
    except redis.RedisError as exc:
        print(f"no Redis at {args.redis_url}: {exc}", file=sys.stderr)
        return 2

    from tests.fakes.fal import FakeFal

    port = common.free_port()
    base_url = f"http://127.0.0.1:{port}"
    key_prefix = f"wanweb-bench-{run}:"
    moto = None
    fake = FakeFal().__enter__()
    stack = None
    passed = False
    env: dict[str, str] = {}
    try:
        extra = {
            "SECRET_KEY": f"bench-{uuid.uuid4().hex}",
            "REDIS_URL": args.redis_url,
            "CELERY_QUEUE_PREFIX": f"bench-{run}-",
            "CELERY_BROKER_KEY_PREFIX": key_prefix,
            "CELERY_VISIBILITY_TIMEOUT": str(args.visibility_timeout),
            "CELERY_UNACKED_RESTORE_SECONDS": "2",
            "ALLOW_PRIVATE_URLS": "true",  # the fake vendor's result files are on loopback
            "PUBLIC_BASE_URL": base_url,
            "STATIC_ROOT": str(common.OUT / f"{name}-static"),
            "LOG_LEVEL": "WARNING",
            **fake.environ,
        }
        if args.s3:
            moto, endpoint = start_moto(log_dir)
            extra.update(
                {
                    "S3_BUCKET": f"wanweb-bench-{run}",
                    "S3_ENDPOINT_URL": endpoint,
                    "S3_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's fake credentials
                }
            )
            import boto3

            boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            ).create_bucket(Bucket=extra["S3_BUCKET"])
        env = {**os.environ, **common.bench_environ(database_url, name, **extra)}
        common.django_setup()
        common.migrate()
        user, membership = common.make_owner(username=f"bench-{run}")
        project = common.make_project(membership, "Scale-out")

        stack = Stack(env, log_dir)
        stack.start(
            "gunicorn",
            [
                PY,
                "-m",
                "gunicorn",
                "wanweb.wsgi:application",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                "--access-logfile",
                str(log_dir / "access.log"),
                "--access-logformat",
                '%(p)s %(s)s "%(r)s" %(M)s',  # worker pid, status, request line, milliseconds
            ],
        )
        for worker in WORKERS:
            stack.start_worker(worker, worker_queues(run, worker))
        stack.start(
            "beat",
            [
                PY,
                "-m",
                "celery",
                "-A",
                "wanweb",
                "beat",
                "-s",
                str(log_dir / "beat-schedule"),
                "--loglevel",
                "INFO",
            ],
        )
        common.wait_for_port(port, timeout=60)
        for worker in WORKERS:
            stack.wait_for_log(worker, "ready.")
        print(
            f"stack up: gunicorn x2 on {base_url}, workers {', '.join(WORKERS)}, beat"
            + (f", S3 {extra['S3_ENDPOINT_URL']}" if args.s3 else ", local files"),
            flush=True,
        )

        from generations.models import Job

        created: list[str] = []
        errors: list[str] = []
        started = time.monotonic()
        creator = threading.Thread(
            target=create_jobs, args=(args, base_url, user.username, project, created, errors)
        )
        creator.start()
        to_kill = list(kills)
        deadline = started + args.timeout
        created_seconds = None
        while time.monotonic() < deadline:
            total = Job.objects.count()
            finished = Job.objects.filter(status__in=FINAL).count()
            queued = Job.objects.filter(status="queued").count()
            if created_seconds is None and not creator.is_alive():
                created_seconds = time.monotonic() - started
            # Kill while work is in flight: default-b once submits have caught up (or late in the
            # run regardless), downloads while outputs are being copied.
            if to_kill and total:
                share = finished / args.jobs
                worker = to_kill[0]
                due = (
                    (share >= 0.25 and queued == 0) or share >= 0.5
                    if worker.startswith("default")
                    else Job.objects.filter(status="running").exclude(result=[]).exists() and share >= 0.2
                )
                if due:
                    stack.kill(worker, restart_after=args.restart_after, queue=worker_queues(run, worker))
                    to_kill.pop(0)
            if not creator.is_alive() and finished >= len(created) and finished == total:
                break
            time.sleep(0.5)
        creator.join()
        wall = time.monotonic() - started
        checks = Checks()
        checks.add("every POST of the form was accepted", not errors, "; ".join(errors[:3]))
        checks.add(
            "the workers were killed as asked", not to_kill, f"not killed: {to_kill}" if to_kill else ""
        )
        fal_submits = len(fake.server.requests_to("POST", r"/wan/.+"))
        books = check_books(checks, tokens=created, fal_submits=fal_submits)
        door = FrontDoor(base_url, user.username, common.PASSWORD)
        serving = check_serving(checks, door=door, s3=args.s3)
        figures = deliveries(stack)
        web = web_figures(log_dir)
        checks.add(
            "both gunicorn workers served requests",
            len(web["requests_per_worker"]) == 2,
            f"requests per worker {web['requests_per_worker']}",
        )

        latencies = [
            (job.finished_at - job.created_at).total_seconds()
            for job in Job.objects.exclude(finished_at=None)
        ]
        finished_jobs = books["by_status"].get("succeeded", 0) + books["by_status"].get("failed", 0)
        print()
        common.print_table(
            ["figure", "value"],
            [
                ["jobs (POSTed through the form)", len(created)],
                ["storage", "S3 (moto_server)" if args.s3 else "local files"],
                ["wall time, first POST to last job finished (s)", f"{wall:.1f}"],
                ["form POSTs done after (s)", f"{created_seconds or wall:.1f}"],
                ["jobs/s (finished / wall time)", f"{finished_jobs / wall:.2f}"],
                [
                    "job latency median / p95 / max (s)",
                    f"{common.median(latencies):.1f} / {common.percentile(latencies, 95):.1f} / {max(latencies, default=0):.1f}",
                ],
                ["requests per gunicorn worker", " / ".join(map(str, web["requests_per_worker"]))],
                [
                    "form POST median / p95 (ms)",
                    f"{web['form_post_ms_median']:.0f} / {web['form_post_ms_p95']:.0f}",
                ],
                ["workers SIGKILLed", ", ".join(k["worker"] for k in stack.kills) or "none"],
                ["task deliveries", figures["deliveries"]],
                ["re-drives (second or later delivery of a task)", sum(figures["redelivered"].values())],
                ["re-drives by task", json.dumps(figures["redelivered"]) or "{}"],
                ["reconciler: runs, jobs it re-drove", json.dumps(figures["reconciler"])],
                ["files in storage", books["files_in_storage"]],
                [
                    "zip (MB / s)",
                    f"{serving.get('zip_bytes', 0) / 1e6:.1f} / {serving.get('zip_seconds', 0)}",
                ],
            ],
            title=f"Scale-out run {run} ({'S3' if args.s3 else 'local'}, PostgreSQL)",
        )
        checks.print()
        common.write_json(
            label,
            {
                "args": vars(args),
                "run": run,
                "wall_seconds": round(wall, 2),
                "jobs_per_second": round(finished_jobs / wall, 3),
                "latency": {
                    "median": common.median(latencies),
                    "p95": common.percentile(latencies, 95),
                    "max": max(latencies, default=0),
                },
                "kills": stack.kills,
                "books": books,
                "serving": serving,
                "deliveries": figures,
                "web": web,
                "checks": [{"check": n, "ok": ok, "detail": d} for n, ok, d in checks.results],
            },
        )
        print("\nRESULT:", "PASS" if checks.ok else "FAIL", flush=True)
        passed = checks.ok
        return 0 if checks.ok else 1
    finally:
        if stack is not None:
            stack.stop()
        fake.__exit__(None, None, None)
        if moto is not None:
            os.killpg(moto.pid, signal.SIGTERM)
            moto.wait(timeout=10)
        from django.db import connections

        connections.close_all()
        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(match=f"{key_prefix}*"))
        if keys:
            client.delete(*keys)
        if not args.keep and passed:
            common.drop_database(database_url)
            for path in (
                log_dir,
                common.OUT / f"media-{name}",
                common.OUT / f"{name}-static",
                common.OUT / f"simulator-state-{name}",
            ):
                shutil.rmtree(path, ignore_errors=True)
        else:
            print(f"kept: database {database_url}, logs {log_dir}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
