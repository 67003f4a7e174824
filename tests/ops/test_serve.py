"""`make serve`'s web part, for real: scripts/serve.py runs collectstatic, migrate and gunicorn with
DEBUG off on a free port (SQLite), and serves the login page and a hashed static file, without
creating the demo login."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_serve_web_part_serves_pages_and_static_files_without_debug(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WANWEB_DEV"))}
    env.update(
        DEBUG="true",  # serve.py must turn it off itself
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
        MEDIA_ROOT=str(tmp_path / "media"),
        SECRET_KEY="smoke-" + "k3y-" * 15,
        FIELD_ENCRYPTION_KEYS="Yn_G-iTgBdFVgd5zAQneyf_FK-8TYm1u_8Jvj2BRnGA=",  # serve generates none
        WANWEB_HOST="127.0.0.1",
        WANWEB_PORT=str(port),
        WEB_CONCURRENCY="1",
    )
    env.pop("PORT", None)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "serve.py"), "--only", "web"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        response = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/login/", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert response is not None, log.read_text()
        assert response.status_code == 200
        assert response.headers["server"].startswith("gunicorn")
        assert "Permissions-Policy" in response.headers
        # DEBUG off: collectstatic's hashed names, served by whitenoise inside gunicorn.
        css = re.search(r'href="(/static/vendor/bootstrap/bootstrap\.min\.[0-9a-f]{12}\.css)"', response.text)
        assert css, response.text
        static = httpx.get(f"http://127.0.0.1:{port}{css.group(1)}", timeout=5)
        assert static.status_code == 200
        assert static.headers["content-type"].startswith("text/css")
        assert "max-age=315360000" in static.headers["cache-control"]  # whitenoise: immutable file
        # DEBUG really is off: an unknown URL gets the app's 404 page, not Django's technical one.
        missing = httpx.get(f"http://127.0.0.1:{port}/no-such-page/", timeout=5)
        assert missing.status_code == 404 and "URLconf" not in missing.text
        # Tokens in paths (share links, vendor input URLs) never reach the access log: one
        # without a digit, which the shape-based redaction alone would let through.
        share_token, input_token = "AbcdefGhijkLmnopQrstuVwxyzAbcdefGhijkLmnopQ", "signedInputTokenXyZ"
        httpx.get(
            f"http://127.0.0.1:{port}/s/{share_token}/",
            headers={"Referer": f"http://127.0.0.1:{port}/inputs/{input_token}/"},
            timeout=5,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/login/", timeout=2)
    served = log.read_text()
    assert '"GET /s/[redacted]/ HTTP/1.1" 404' in served, served  # the access line is there...
    assert share_token not in served and input_token not in served  # ...without either token
    assert "/inputs/[redacted]/" in served
    # It migrated, and (unlike `make run`) it never created the demo superuser.
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("select count(*) from django_migrations").fetchone()[0] > 0
        assert db.execute("select count(*) from auth_user").fetchone()[0] == 0
