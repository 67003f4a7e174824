"""Shared helpers for the bench scripts: an isolated database, Django setup, data, stats, output.

Every script runs against its own throwaway database (a SQLite file under bench/out/, or a fresh
PostgreSQL database created next to the one `--database-url` names) and its own MEDIA_ROOT, so
nothing here touches db.sqlite3, media/ or another engineer's test database.
"""

from __future__ import annotations

import json
import os
import platform
import random
import socket
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PASSWORD = "bench-password-not-secret"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# -- databases --------------------------------------------------------------------------------------


def isolated_database_url(database_url: str | None, name: str) -> str:
    """A URL for a brand-new empty database named after the bench (SQLite file or PostgreSQL db)."""
    OUT.mkdir(parents=True, exist_ok=True)
    if not database_url or database_url.startswith("sqlite"):
        path = OUT / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    # PostgreSQL: create wanweb_bench_<name> on the same server and use that instead.
    import psycopg

    parts = urlsplit(database_url)
    db_name = f"wanweb_bench_{name}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    return urlunsplit(parts._replace(path=f"/{db_name}"))


def drop_database(database_url: str) -> None:
    """Drop a PostgreSQL database made by isolated_database_url (SQLite files stay for inspection)."""
    if database_url.startswith("sqlite"):
        return
    import psycopg

    parts = urlsplit(database_url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def bench_environ(database_url: str, name: str, **extra: str) -> dict[str, str]:
    """Environment for this process and its children: production settings plus the overrides."""
    media = OUT / f"media-{name}"
    media.mkdir(parents=True, exist_ok=True)
    env = {
        "DJANGO_SETTINGS_MODULE": "wanweb.settings",
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media),
        # Production settings (DEBUG off: templates render without debug bookkeeping); static files
        # are collected once into bench/out so the manifest storage can resolve {% static %}.
        "DEBUG": "false",
        "STATIC_ROOT": str(OUT / "static"),
        "LOG_LEVEL": "WARNING",
        "SIMULATOR_STATE_DIR": str(OUT / f"simulator-state-{name}"),
        **extra,
    }
    os.environ.update(env)
    return env


def django_setup() -> None:
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    if os.environ.get("DEBUG") == "false":
        call_command("collectstatic", verbosity=0, interactive=False)


def vendor_for(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


# -- data -------------------------------------------------------------------------------------------


def make_owner(username: str = "bench", team_name: str = "Bench team"):
    """A user who owns a team; returns (user, membership)."""
    from django.contrib.auth import get_user_model

    from wanweb.accounts.models import Membership, Role, Team

    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    team = Team.objects.create(name=team_name, slug=team_name.lower().replace(" ", "-"))
    membership = Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return user, membership


def make_project(membership, name: str):
    from generations import services

    return services.project_create(membership=membership, name=name, description=f"Benchmark: {name}")


def small_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (40, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


PROMPTS = [
    "A slow dolly shot through a neon-lit night market in the rain, reflections on wet cobblestones",
    "Macro shot of dew drops sliding down a green leaf at sunrise, shallow depth of field",
    "An astronaut walking across red dunes, dust trailing behind, cinematic wide angle",
    "A paper boat drifting down a gutter stream after a storm, children laughing in the distance",
    "Aerial view of a coastal village at golden hour, waves rolling in, seagulls circling",
]


def bulk_jobs(*, project, user, count: int, start: datetime, status: str = "succeeded", with_outputs=True):
    """bulk_create `count` realistic jobs (and one output Asset per succeeded job) in `project`.

    created_at rises one minute per job from `start`; outputs all point at one small real PNG.
    Returns the created jobs, oldest first.
    """
    from django.core.files.storage import default_storage

    from generations.models import Asset, Job

    rng = random.Random(count)
    png = small_png()
    name = "jobs/bench/output.png"
    if not default_storage.exists(name):
        from django.core.files.base import ContentFile

        default_storage.save(name, ContentFile(png))
    jobs = []
    for i in range(count):
        created = start + timedelta(minutes=i)
        video = i % 3 != 0
        final_status = status
        if status == "succeeded" and i % 25 == 7:
            final_status = "failed"  # a few failures, as in real life
        params = (
            {"duration": 5, "resolution": "720p", "aspect_ratio": "16:9", "prompt_extend": True}
            if video
            else {"size": "1024*1024", "num_outputs": 1, "prompt_extend": False}
        )
        params["seed"] = rng.randrange(2**31)
        params["negative_prompt"] = "blurry, low quality, watermark"
        jobs.append(
            Job(
                team_id=project.team_id,
                project=project,
                created_by=user,
                provider="simulator",
                model="wan2.2-t2v-plus" if video else "wan2.2-t2i-plus",
                mode="t2v" if video else "t2i",
                prompt=f"{PROMPTS[i % len(PROMPTS)]} (take {i})",
                params=params,
                status=final_status,
                progress=100 if final_status == "succeeded" else None,
                vendor_job_id=f"sim-bench-{project.pk}-{i}-{rng.getrandbits(32):08x}",
                vendor_status=final_status,
                seed=params["seed"],
                cost_estimate="0.2500" if video else "0.0200",
                cost_final=("0.2500" if video else "0.0200") if final_status == "succeeded" else None,
                error_code="vendor_failed" if final_status == "failed" else "",
                error_message="The simulated model crashed" if final_status == "failed" else "",
                created_at=created,
                submitted_at=created + timedelta(seconds=1),
                started_at=created + timedelta(seconds=2),
                finished_at=created + timedelta(seconds=30)
                if final_status in ("succeeded", "failed")
                else None,
                updated_at=created + timedelta(seconds=30),
            )
        )
    jobs = Job.objects.bulk_create(jobs, batch_size=500)
    if with_outputs:
        assets = [
            Asset(
                job=job,
                role="output",
                index=0,
                kind="video" if job.mode == "t2v" else "image",
                file=name,  # every output points at the one small real file
                content_type="image/png",
                size_bytes=len(png),
                sha256="0" * 64,
                width=64,
                height=36,
                duration=5.0 if job.mode == "t2v" else None,
                created_at=job.finished_at or job.created_at,
            )
            for job in jobs
            if job.status == "succeeded"
        ]
        Asset.objects.bulk_create(assets, batch_size=500)
    return jobs


# -- measuring and reporting ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(headers: list[str], rows: list[list], title: str | None = None) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if title:
        print(f"\n{title}")
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.rjust(w) if n and i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def machine() -> dict:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_json(name: str, data: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, default=str))
    print(f"\nwrote {path.relative_to(ROOT)}")
    return path
