"""A tiny HTTP server on loopback for faking vendor APIs in tests (test code, not product code).

    with FakeServer() as server:
        server.route("POST", "/v1/things", lambda req: (200, {"id": "1"}))
        client = VendorClient(base_url=server.url, ...)

A handler gets a `FakeRequest` and returns `(status, body)` or `(status, body, headers)`;
a dict or list body is sent as JSON, bytes or str as they are. Every request is kept in
`server.requests` so tests can assert on exactly what the client sent.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    match: re.Match[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[FakeRequest], tuple]


class FakeServer:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[FakeRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path_regex: str, handler: Handler) -> None:
        """Answer `method` on paths matching `path_regex` (anchored at both ends)."""
        self.routes.append((method.upper(), re.compile(f"^{path_regex}$"), handler))

    def __enter__(self) -> FakeServer:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = FakeRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                server.requests.append(request)
                for method, pattern, handler in server.routes:
                    match = pattern.match(parts.path)
                    if method == self.command and match:
                        request.match = match
                        result = handler(request)
                        break
                else:
                    result = (404, {"detail": f"no fake route for {self.command} {parts.path}"})
                status, payload, *rest = result
                headers = dict(rest[0]) if rest else {}
                if isinstance(payload, (dict, list)):
                    data = json.dumps(payload).encode()
                    headers.setdefault("Content-Type", "application/json")
                elif isinstance(payload, str):
                    data = payload.encode()
                    headers.setdefault("Content-Type", "text/plain; charset=utf-8")
                else:
                    data = payload or b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=lambda: self._httpd.serve_forever(poll_interval=0.05), daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    def requests_to(self, method: str, path_regex: str) -> list[FakeRequest]:
        pattern = re.compile(f"^{path_regex}$")
        return [r for r in self.requests if r.method == method.upper() and pattern.match(r.path)]
