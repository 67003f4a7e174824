"""A file server on loopback whose first downloads trickle (test code, not product code).

    with TrickleServer() as files:
        url = files.add("out.png", data, "image/png", slow_gets=1, slow_seconds=40)
        ...                                  # a worker starts downloading url
        files.slow_started.wait(10)          # the first GET has its headers and first bytes
        os.killpg(worker_pgid, SIGKILL)      # kill the worker mid-download
        # the next GET of url is answered at once

The first `slow_gets` GETs of a file send the headers (with the full Content-Length) and the first
bytes at once, then the rest a few bytes at a time spread over `slow_seconds`, so a client is
provably mid-download for that long. A file added with `status` answers that status instead (an
expired result URL: 403 or 404). Every GET is kept in `gets`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

FIRST_BYTES = 64  # enough for the downloader's magic-byte check, so it keeps reading


@dataclass
class _File:
    data: bytes
    content_type: str
    status: int = 200
    slow_gets: int = 0
    slow_seconds: float = 0.0
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    served: int = 0


class TrickleServer:
    def __init__(self) -> None:
        self.files: dict[str, _File] = {}
        self.gets: list[str] = []  # paths, in order
        self.slow_started = threading.Event()  # set when a trickling GET has sent its first bytes
        self.stop = threading.Event()  # set on exit: trickling handlers give up
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(
        self,
        path: str,
        data: bytes = b"",
        content_type: str = "application/octet-stream",
        *,
        status: int = 200,
        slow_gets: int = 0,
        slow_seconds: float = 30.0,
        faults: list[tuple[int, dict[str, str]]] = (),
    ) -> str:
        """Serve `data` at /files/<path>; the first GETs answer `faults` ((status, headers)) in order."""
        self.files[path] = _File(data, content_type, status, slow_gets, slow_seconds, list(faults))
        return f"{self.url}/files/{path}"

    def gets_of(self, path: str) -> int:
        return sum(1 for p in self.gets if p == f"/files/{path}")

    def __enter__(self) -> TrickleServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                with server._lock:
                    server.gets.append(path)
                    found = server.files.get(path.removeprefix("/files/"))
                    fault = found.faults.pop(0) if found is not None and found.faults else None
                    if found is not None and fault is None:
                        found.served += 1
                        slow = found.served <= found.slow_gets
                if fault is not None or found is None or found.status != 200:
                    status, headers = fault or (404 if found is None else found.status, {})
                    body = b'{"detail": "File not found or expired"}'
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", found.content_type)
                self.send_header("Content-Length", str(len(found.data)))
                self.end_headers()
                if not slow:
                    self.wfile.write(found.data)
                    return
                self._trickle(found)

            def _trickle(self, found: _File) -> None:
                data = found.data
                try:
                    self.wfile.write(data[:FIRST_BYTES])
                    self.wfile.flush()
                    server.slow_started.set()
                    rest = data[FIRST_BYTES:]
                    pieces = max(1, min(len(rest), int(found.slow_seconds * 4)))
                    size = max(1, -(-len(rest) // pieces))
                    pause = found.slow_seconds / pieces
                    for start in range(0, len(rest), size):
                        if server.stop.wait(pause):
                            return
                        self.wfile.write(rest[start : start + size])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client died mid-download: that is the point

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=lambda: self._httpd.serve_forever(poll_interval=0.05), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self.stop.set()
        time.sleep(0.05)
        self._httpd.shutdown()
        self._httpd.server_close()
