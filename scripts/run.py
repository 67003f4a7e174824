"""`make run`: migrate, create the demo login, then run web, Celery worker and beat (and Redis if needed).

Stops every child cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from services import ROOT, ensure_redis  # noqa: E402

HOST = os.environ.get("WANWEB_HOST", "127.0.0.1")
PORT = os.environ.get("WANWEB_PORT", "8000")


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")  # a local studio: readable errors, static files from the app
    redis_url, redis_process = ensure_redis()
    env["REDIS_URL"] = redis_url
    python = sys.executable
    manage = [python, str(ROOT / "manage.py")]

    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], check=True, env=env, cwd=ROOT)
    demo = subprocess.run(
        [*manage, "demo"], check=True, env=env, cwd=ROOT, capture_output=True, text=True
    ).stdout

    children: list[tuple[str, subprocess.Popen]] = []
    if redis_process is not None:
        children.append(("redis", redis_process))
    celery = [python, "-m", "celery", "-A", "wanweb"]
    commands = {
        "worker": [*celery, "worker", "-Q", "default,downloads", "--concurrency", "2", "-l", "info"],
        "beat": [*celery, "beat", "-l", "info", "--schedule", str(ROOT / ".celerybeat-schedule")],
        "web": [*manage, "runserver", "--noreload", f"{HOST}:{PORT}"],
    }
    for name, command in commands.items():
        # Own process group: Ctrl-C reaches us once, and we stop the children in order.
        children.append((name, subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)))

    time.sleep(2)
    print("\n" + "=" * 60)
    print(f"wanweb is running at http://{HOST}:{PORT}/")
    print("Log in with the demo account:")
    print(demo.strip())
    print(f"Redis: {redis_url}  ·  Press Ctrl-C to stop everything.")
    print("=" * 60 + "\n", flush=True)

    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    try:
        while not stopping:
            for name, child in children:
                if child.poll() is not None:
                    print(f"{name} exited with status {child.returncode}; stopping the rest.", flush=True)
                    stopping, exit_code = True, 1
                    break
            time.sleep(0.5)
    finally:
        print("Stopping...", flush=True)
        for _name, child in reversed(children):
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 15
        for _name, child in reversed(children):
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        print("Stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
