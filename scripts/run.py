"""`make run`: migrate, create the demo login if missing, then run web, Celery worker and beat (and Redis
if needed) under the supervisor (scripts/supervisor.py): a dead worker or beat is restarted, Ctrl-C
stops everything.

DEBUG stays off unless asked (`DEBUG=true make run`): people see the app's own error pages, and
static files come straight from static/ through whitenoise (WANWEB_DEV_STATIC), no collectstatic.
With SECRET_KEY unset, a random key is generated once into var/secret_key, and with
FIELD_ENCRYPTION_KEYS unset a Fernet key into var/field_encryption_key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from services import ROOT, ensure_field_encryption_key, ensure_redis, ensure_secret_key  # noqa: E402
from supervisor import Supervisor  # noqa: E402

HOST = os.environ.get("WANWEB_HOST", "127.0.0.1")
PORT = os.environ.get("WANWEB_PORT", "8000")


def celery_commands(python: str, *, split_downloads: bool) -> dict[str, list[str]]:
    """Worker(s) and beat. Production gives polls and downloads their own workers (polls are due
    to the second; downloads are big files from slow hosts). A worker on the polls queue also runs
    the poll dispatcher (generations/dispatch.py); one on several queues takes them in -Q order."""
    celery = [python, "-m", "celery", "-A", "wanweb"]
    beat = [*celery, "beat", "-l", "info", "--schedule", str(ROOT / "var" / "celerybeat-schedule")]
    if not split_downloads:
        return {
            "worker": [
                *celery,
                "worker",
                "-Q",
                "polls,downloads,default",
                "--concurrency",
                "2",
                "-l",
                "info",
            ],
            "beat": beat,
        }
    return {
        "worker": [*celery, "worker", "-Q", "default", "-n", "default@%h", "-l", "info"],
        "polls": [*celery, "worker", "-Q", "polls", "-n", "polls@%h", "--concurrency", "2", "-l", "info"],
        "downloads": [*celery, "worker", "-Q", "downloads", "-n", "downloads@%h", "--concurrency", "2"]
        + ["-l", "info"],
        "beat": beat,
    }


def main() -> int:
    env = dict(os.environ)
    env.setdefault("WANWEB_DEV_STATIC", "true")  # static files from static/, edits show on reload
    ensure_secret_key()
    ensure_field_encryption_key()  # the demo can store teams' vendor keys at once
    (ROOT / "var").mkdir(exist_ok=True)
    redis_url, redis_process = ensure_redis()
    env["REDIS_URL"] = redis_url
    python = sys.executable
    manage = [python, str(ROOT / "manage.py")]

    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], check=True, env=env, cwd=ROOT)
    demo = subprocess.run(
        [*manage, "demo"], check=True, env=env, cwd=ROOT, capture_output=True, text=True
    ).stdout

    supervisor = Supervisor()
    if redis_process is not None:
        supervisor.adopt("redis", redis_process, stdout=subprocess.DEVNULL)
    for name, command in celery_commands(python, split_downloads=False).items():
        supervisor.add(name, command, env=env, cwd=ROOT)
    supervisor.add("web", [*manage, "runserver", "--noreload", f"{HOST}:{PORT}"], env=env, cwd=ROOT)

    def banner() -> None:
        debug = env.get("DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
        print("\n" + "=" * 60)
        print(f"wanweb is running at http://{HOST}:{PORT}/  (DEBUG {'on' if debug else 'off'})")
        print("Log in with the demo account:")
        print(demo.strip())
        print(f"Redis: {redis_url}  ·  Press Ctrl-C to stop everything.")
        print("=" * 60 + "\n", flush=True)

    supervisor.install_signal_handlers()
    return supervisor.run(on_started=banner)


if __name__ == "__main__":
    sys.exit(main())
