"""`make serve`: the production stack on one machine (docs/DEPLOY.md).

DEBUG off, `collectstatic` and `migrate` first, then gunicorn (gunicorn.conf.py), a Celery worker for
the default queue, one for the polls queue (it also dispatches due polls), one for the downloads
queue, and beat, under the supervisor (scripts/supervisor.py):
a dead child is restarted with a backoff, SIGINT/SIGTERM stop them all. Redis is found or started as
for `make run` (scripts/services.py). It never runs `manage.py demo`: create an operator with
`manage.py createsuperuser`. With SECRET_KEY unset it uses (and once generates) var/secret_key.

`--only web` runs just the web part (the smoke test does, tests/test_serve.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import HOST, PORT, celery_commands  # noqa: E402
from services import ROOT, ensure_redis, ensure_secret_key  # noqa: E402
from supervisor import Supervisor  # noqa: E402

PARTS = ("web", "worker", "polls", "downloads", "beat")


def web_command(python: str) -> list[str]:
    return [python, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"), "wanweb.wsgi:application"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    parts = [p.strip() for p in parser.parse_args(argv).only.split(",") if p.strip()]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")

    env = dict(os.environ, DEBUG="false")
    env.pop("WANWEB_DEV_STATIC", None)  # hashed, compressed files from collectstatic
    env.setdefault("DJANGO_SETTINGS_MODULE", "wanweb.settings")
    ensure_secret_key()
    (ROOT / "var").mkdir(exist_ok=True)
    python = sys.executable
    manage = [python, str(ROOT / "manage.py")]

    # migrate before any new worker runs (docs/DEPLOY.md "Upgrades"); neither needs Redis.
    subprocess.run([*manage, "collectstatic", "--no-input", "-v", "0"], check=True, env=env, cwd=ROOT)
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], check=True, env=env, cwd=ROOT)

    supervisor = Supervisor()
    if set(parts) - {"web"}:
        redis_url, redis_process = ensure_redis()
        env["REDIS_URL"] = redis_url
        if redis_process is not None:
            supervisor.adopt("redis", redis_process, stdout=subprocess.DEVNULL)

    commands = {"web": web_command(python), **celery_commands(python, split_downloads=True)}
    for name in PARTS:
        if name in parts:
            supervisor.add(name, commands[name], env=env, cwd=ROOT)

    def banner() -> None:
        if "web" in parts:
            bind = f"0.0.0.0:{env['PORT']}" if env.get("PORT") else f"{HOST}:{PORT}"
            print(f"wanweb (production: {', '.join(parts)}) listening on {bind}", flush=True)

    supervisor.install_signal_handlers()
    return supervisor.run(on_started=banner)


if __name__ == "__main__":
    sys.exit(main())
