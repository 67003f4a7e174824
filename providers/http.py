"""The only place that builds httpx clients for vendor calls, and the call log.

Every vendor request goes through `send()`, which turns transport failures and unusable answers
into ProviderError and records one `CallRecord` per HTTP call. The app wraps a task in
`recording()` to store those records as the job's vendor-call log.

Vendor clients are kept per process (`pooled_client`): one keep-alive `httpx.Client` per
(vendor, base URL, credential), created on first use, dropped in a forked child (a Celery prefork
worker) and closed at exit (`close_pool`). Building a client costs ~28 ms of CPU (its TLS
context); a status GET on a kept-alive one ~1.7 ms.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from providers.base import ErrorCode, ProviderError
from providers.redact import redact

USER_AGENT = "wanweb/0.1 (+https://github.com/wanweb)"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
MAX_RETRY_AFTER = 120.0  # seconds: a vendor asking for longer is polled again by the reconciler


@dataclass
class CallRecord:
    method: str
    url: str  # without the query string, which may carry webhook URLs or tokens
    status: int | None
    latency_ms: int
    error: str = ""


_calls: contextvars.ContextVar[list[CallRecord] | None] = contextvars.ContextVar(
    "provider_calls", default=None
)


@contextlib.contextmanager
def recording() -> Iterator[list[CallRecord]]:
    """Collect a CallRecord for every vendor HTTP call made inside the block."""
    calls: list[CallRecord] = []
    token = _calls.set(calls)
    try:
        yield calls
    finally:
        _calls.reset(token)


def _record(record: CallRecord) -> None:
    calls = _calls.get()
    if calls is not None:
        calls.append(record)


def build_client(*, timeout: httpx.Timeout = DEFAULT_TIMEOUT, **kwargs: Any) -> httpx.Client:
    """An httpx client with our timeouts and user agent; redirects are never followed for API calls."""
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    return httpx.Client(timeout=timeout, headers=headers, follow_redirects=False, **kwargs)


POOL_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20, keepalive_expiry=30.0)

_pool: dict[tuple[str, str, str], httpx.Client] = {}
_pool_pid = os.getpid()
_pool_lock = threading.Lock()


def credential_hash(credential: str) -> str:
    """What the pool is keyed by: a digest, so the key itself is never a dict key, a repr or a log line."""
    return hashlib.sha256(credential.encode("utf-8", "replace")).hexdigest()[:32]


def pooled_client(vendor: str, base_url: str, credential: str = "") -> httpx.Client:
    """This process's kept-alive client for (vendor, base URL, credential); created on first use.

    A client is never shared across credentials (teams with their own keys get their own pools).
    The key is not put on the client: callers send it per request, so any other host the client
    reaches (storage uploads, JWKS) never sees it.
    """
    global _pool_pid
    key = (vendor, base_url, credential_hash(credential))
    with _pool_lock:
        if _pool_pid != os.getpid():
            # Forked (register_at_fork also covers this): the parent's sockets are not ours to use.
            _pool.clear()
            _pool_pid = os.getpid()
        client = _pool.get(key)
        if client is None or client.is_closed:
            client = _pool[key] = build_client(limits=POOL_LIMITS)
        return client


def pool_size() -> int:
    """How many clients this process keeps (tests, diagnostics)."""
    with _pool_lock:
        return len(_pool) if _pool_pid == os.getpid() else 0


def close_pool() -> None:
    """Close every kept client of this process (worker shutdown, exit, tests)."""
    with _pool_lock:
        clients = list(_pool.values()) if _pool_pid == os.getpid() else []
        _pool.clear()
    for client in clients:
        with contextlib.suppress(Exception):
            client.close()


def _forget_pool_after_fork() -> None:
    # Drop, do not close: closing would shut down TLS sessions the parent still uses.
    global _pool_pid, _pool_lock
    _pool.clear()
    _pool_pid = os.getpid()
    _pool_lock = threading.Lock()  # the parent may have held it while forking


os.register_at_fork(after_in_child=_forget_pool_after_fork)
atexit.register(close_pool)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or HTTP date), capped; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def send(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Make one vendor call; raise ProviderError for transport failures, record it either way.

    HTTP error statuses are returned, not raised: each vendor module knows what its codes mean.
    """
    started = time.monotonic()
    loggable_url = url.split("?", 1)[0]
    try:
        response = client.request(method, url, **kwargs)
        # Read the body here so a truncated or stalled body is a transport error, not a parse error.
        response.read()
    except httpx.TimeoutException as exc:
        _record(CallRecord(method, loggable_url, None, _ms(started), f"timeout: {exc}"))
        raise ProviderError(f"{method} {loggable_url} timed out", code=ErrorCode.TIMEOUT) from exc
    except (httpx.RemoteProtocolError, httpx.DecodingError) as exc:
        _record(CallRecord(method, loggable_url, None, _ms(started), f"bad body: {exc}"))
        raise ProviderError(
            f"{method} {loggable_url}: incomplete response", code=ErrorCode.BAD_RESPONSE
        ) from exc
    except httpx.TransportError as exc:
        _record(CallRecord(method, loggable_url, None, _ms(started), f"transport: {exc}"))
        raise ProviderError(
            f"{method} {loggable_url}: {exc.__class__.__name__}", code=ErrorCode.CONNECTION
        ) from exc
    error = ""
    if response.status_code >= 400:
        # Some vendors quote the key they were sent in a 401; we know which credential we sent.
        error = redact(response.text[:2000], sent_credentials(kwargs.get("headers")), limit=200)
    _record(CallRecord(method, loggable_url, response.status_code, _ms(started), error))
    return response


_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")


def sent_credentials(headers: Mapping[str, str] | None) -> list[str]:
    """The secrets among request headers: `Bearer <key>` / `Key <key>` values and the bare keys."""
    found = []
    for name, value in (headers or {}).items():
        if name.lower() in _CREDENTIAL_HEADERS and value:
            found.append(value)
            found.append(value.split(" ", 1)[-1])
    return found


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or ProviderError(bad_response) for HTML, empty or malformed bodies."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        snippet = response.text[:80].replace("\n", " ")
        raise ProviderError(
            f"expected JSON from {response.request.url.host}, got {snippet!r}",
            code=ErrorCode.BAD_RESPONSE,
            http_status=response.status_code,
        ) from exc


def json_object(response: httpx.Response, *, vendor: str) -> dict[str, Any]:
    """The decoded JSON of an answer that must be an object; ProviderError(bad_response) otherwise."""
    data = json_body(response)
    if not isinstance(data, dict):
        raise ProviderError(
            f"{vendor} answered {type(data).__name__}, not an object",
            code=ErrorCode.BAD_RESPONSE,
            http_status=response.status_code,
        )
    return data


def as_bool(value: Any) -> bool:
    """A boolean from a param that may still be a string ("true", "1", "on")."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def error_json(response: httpx.Response) -> Any:
    """The decoded body of an error answer, or None when it is not JSON (an HTML gateway page,
    an empty body): then the HTTP status alone decides."""
    try:
        return response.json()
    except ValueError:
        return None


class BearerClient:
    """What the vendors that take `Authorization: Bearer <key>` share: construction and the call.

    Subclasses set `default_base_url` and keep their own knowledge (paths, bodies, error shapes).
    """

    default_base_url = ""
    name = ""

    def __init__(self, *, api_key: str, base_url: str = "", environ: Mapping[str, str] | None = None) -> None:
        self.api_key = api_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.environ = environ or {}

    def _send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One call to `base_url + path` with the key; HTTP error statuses are returned, not raised."""
        if timeout:
            kwargs["timeout"] = timeout
        return send(
            pooled_client(self.name, self.base_url, self.api_key),
            method,
            self.base_url + path,
            headers={"Authorization": f"Bearer {self.api_key}", **(headers or {})},
            **kwargs,
        )


def error_for_status(
    response: httpx.Response, *, vendor_code: str | None = None, message: str = ""
) -> ProviderError:
    """The generic mapping of an HTTP error status; vendor modules refine it with what their bodies say."""
    status = response.status_code
    message = message or f"HTTP {status} from {response.request.url.host}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        code = ErrorCode.RATE_LIMITED
    elif status in (401, 403):
        code = ErrorCode.AUTH
    elif status == 404:
        code = ErrorCode.NOT_FOUND
    elif status in (408, 504):
        code = ErrorCode.TIMEOUT
    elif status >= 500:
        code = ErrorCode.SERVER_ERROR
    elif 300 <= status < 400:
        code = ErrorCode.BAD_RESPONSE  # we never follow redirects on API calls
    else:
        code = ErrorCode.INVALID_REQUEST
    return ProviderError(
        message, code=code, vendor_code=vendor_code, http_status=status, retry_after=retry_after
    )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
