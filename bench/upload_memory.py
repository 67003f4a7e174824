"""Peak memory of the web process for a 60-file x 20 MB upload (issue 10: it grew by 1.2 GB).

The POST goes through the real WSGI application (`wanweb.wsgi`, full middleware stack, the
upload handlers of settings.FILE_UPLOAD_HANDLERS) in this process, with a `wsgi.input` that
generates the multipart body on the fly, so the only memory the figures show is the app's.
Two scenarios:

  * `content-length`: production defaults. The body (1.2 GB) is over UPLOAD_MAX_REQUEST_BYTES:
    refused from its Content-Length, before a byte of it is read;
  * `count`: the request cap raised out of the way (UPLOAD_MAX_TOTAL_MB=5000), so the parse
    starts and stops at file 11 (UPLOAD_MAX_FILES); the rest is drained, never stored.

For each: bytes the app read from the body, the peak RSS of this process during the request
minus the RSS before it (VmHWM reset through /proc/self/clear_refs), the form error shown, and
whether a job was created. PASS when the growth stays under TARGET_MB and no job exists.

    .venv/bin/python bench/upload_memory.py
    .venv/bin/python bench/upload_memory.py --files 60 --mb 20 --scenarios count
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

NAME = "upload-memory"
MB = 1024 * 1024
TARGET_MB = 64
BOUNDARY = "wanwebBenchBoundary7f3a"


class GeneratedBody(io.RawIOBase):
    """A multipart/form-data body made on the fly: form fields, then `files` parts of `size` bytes."""

    def __init__(self, fields: dict[str, str], *, field_name: str, files: int, size: int) -> None:
        self.parts: list[bytes | tuple[int]] = []
        for name, value in fields.items():
            self.parts.append(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        head = b"\x89PNG\r\n\x1a\n"
        for index in range(files):
            self.parts.append(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field_name}"; '
                f'filename="frame-{index}.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
                + head
            )
            self.parts.append((size - len(head),))  # zeros, generated as they are read
            self.parts.append(b"\r\n")
        self.parts.append(f"--{BOUNDARY}--\r\n".encode())
        self.length = sum(p[0] if isinstance(p, tuple) else len(p) for p in self.parts)
        self.read_bytes = 0
        self._current = b""
        self._zeros_left = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._current and not self._zeros_left:
            if not self.parts:
                return 0
            part = self.parts.pop(0)
            if isinstance(part, tuple):
                self._zeros_left = part[0]
            else:
                self._current = part
        if self._current:
            n = min(len(buffer), len(self._current))
            buffer[:n] = self._current[:n]
            self._current = self._current[n:]
        else:
            n = min(len(buffer), self._zeros_left, MB)
            buffer[:n] = bytes(n)
            self._zeros_left -= n
        self.read_bytes += n
        return n


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM (Linux >= 4.0)
        return True
    except OSError:
        return False


def peak() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def run(scenario: str, *, files: int, size_mb: int) -> dict:
    from django.conf import settings
    from django.test import Client
    from django.urls import reverse

    from generations.models import Job
    from wanweb.wsgi import application

    if scenario == "count":
        settings.UPLOAD_MAX_TOTAL_BYTES = 5000 * MB
        settings.UPLOAD_MAX_REQUEST_BYTES = 5001 * MB
    user, membership = common.make_owner(username=f"bench-{scenario}", team_name=f"Bench {scenario}")
    project = common.make_project(membership, f"Uploads {scenario}")
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    fields = {"provider": "simulator", "mode": "i2v", "model": "wan-sim", "prompt": "animate it"}
    body = GeneratedBody(fields, field_name="input_image", files=files, size=size_mb * MB)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": reverse("generations:job-create", args=[project.public_id]),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BufferedReader(body, buffer_size=64 * 1024),
        "wsgi.errors": sys.stderr,
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
        "CONTENT_LENGTH": str(body.length),
        "HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={session}; csrftoken=benchcsrftokenbenchcsrftoken1234",
        "HTTP_X_CSRFTOKEN": "benchcsrftokenbenchcsrftoken1234",
        "HTTP_HX_REQUEST": "true",
    }
    statuses = []
    before = rss()
    exact = reset_peak()
    started = time.monotonic()
    chunks = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
    html = b"".join(chunks).decode(errors="replace")
    seconds = time.monotonic() - started
    grew = peak() - before
    shown = [m.strip() for m in re.findall(r"(?:invalid-feedback|alert-danger)[^>]*>([^<]+)<", html)]
    limits = [m for m in shown if "request" in m or "files" in m]
    return {
        "scenario": scenario,
        "status": statuses[0] if statuses else "?",
        "body_mb": round(body.length / MB, 1),
        "read_mb": round(body.read_bytes / MB, 1),
        "peak_growth_mb": round(grew / MB, 1),
        "peak_exact": exact,
        "seconds": round(seconds, 2),
        "error": (limits or [""])[0],
        "job_created": Job.objects.filter(project=project).exists(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--mb", type=int, default=20, help="size of each file (default 20)")
    parser.add_argument("--scenarios", default="content-length,count")
    args = parser.parse_args()

    database_url = common.isolated_database_url(None, NAME)
    common.bench_environ(database_url, NAME)
    common.django_setup()
    common.migrate()
    rows, results = [], []
    for scenario in args.scenarios.split(","):
        result = run(scenario, files=args.files, size_mb=args.mb)
        results.append(result)
        ok = result["peak_growth_mb"] < TARGET_MB and not result["job_created"] and result["error"]
        rows.append(
            [
                scenario,
                result["status"],
                result["body_mb"],
                result["read_mb"],
                result["peak_growth_mb"],
                result["seconds"],
                result["error"][:70],
                "PASS" if ok else "FAIL",
            ]
        )
    common.print_table(
        [
            "scenario",
            "status",
            "body MB",
            "read MB",
            "peak RSS growth MB",
            "s",
            "form error",
            f"<{TARGET_MB} MB",
        ],
        rows,
        title=f"{args.files} files x {args.mb} MB in one POST to job-create",
    )
    common.write_json(NAME, {"machine": common.machine(), "results": results})
    return 0 if all(r[-1] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
