"""The safe downloader for vendor result URLs (shared/RELIABILITY.md section 4).

A result URL comes from a vendor's JSON, so it is untrusted input: it could point at the cloud
metadata service, at localhost, or at a name that resolves to a private address. `fetch()`:

- takes https only (http only with `allow_private`, which the tests' loopback fakes need);
- resolves the host itself and connects to the checked IP (TLS still verifies and sends SNI for the
  original name), then checks the peer address of the socket it actually got, so a DNS answer that
  changes between check and connect (rebinding) cannot slip through;
- follows at most `MAX_REDIRECTS` redirects by hand, each hop checked again from the start;
- has connect/read timeouts and an overall deadline, streams with a byte cap, and checks the magic
  bytes against the kind of file expected.

`fetch_to_file()` streams the body to a temporary file (memory stays flat whatever the size) and
hands back a `DownloadedFile` the caller stores from and then closes, which deletes the file;
on every refusal or error the partial file is deleted before the exception leaves. `fetch()` is
the same download read back into memory, for small results and the tests.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from providers.base import ErrorCode, ProviderError
from providers.http import USER_AGENT, parse_retry_after
from providers.media import ALLOWED_CONTENT_TYPES, kind_of, sniff_content_type

MAX_REDIRECTS = 3
DEFAULT_MAX_BYTES = 500 * 1024 * 1024
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_EXPIRED_STATUSES = (401, 403, 404, 410)
# What a sniffed content type may be for each expected kind: audio may come in an MP4/WebM box.
_ACCEPTED_KINDS = {
    "image": ("image",),
    "video": ("video",),
    "audio": ("audio", "video/mp4", "video/webm"),
}
# Legacy IPv4 spellings inet_aton accepts and URL parsers pass through as "names": 127.1,
# 0x7f000001, 2130706433, 0177.0.0.1.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


@dataclass(frozen=True)
class Downloaded:
    data: bytes
    content_type: str  # sniffed from the bytes, never the server's header
    final_url: str


@dataclass
class DownloadedFile:
    """A download on disk: use it as a context manager (or call close()) to delete the file."""

    path: str
    size: int
    sha256: str
    content_type: str  # sniffed from the first bytes, never the server's header
    final_url: str

    def open(self):
        return open(self.path, "rb")  # noqa: SIM115 - the caller closes it

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> DownloadedFile:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _Refused(Exception):
    """Raised inside the transport when an address is not allowed; turned into DOWNLOAD_REFUSED."""


def _resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (tests patch this to fake DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def address_refusal(address: str) -> str | None:
    """Why connecting to this IP address is not allowed, or None when it is a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"{ip} is an IPv4-mapped IPv6 address"
        if ip.sixtofour is not None or ip.teredo is not None:
            return f"{ip} embeds an IPv4 address (6to4/Teredo)"
        if ip in ipaddress.IPv6Network("64:ff9b::/96"):
            return f"{ip} is a NAT64 address"
    checks = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not globally routable", not ip.is_global),
    )
    for label, hit in checks:
        if hit:
            return f"{ip} is a {label} address" if label != "not globally routable" else f"{ip} is {label}"
    return None


def _literal_address(host: str) -> str | None:
    """The IP address a host string spells directly (including legacy IPv4 forms), else None."""
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return None


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks, and connects to the checked IP; then checks the socket's real peer."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = _resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        if not self._allow_private:
            # One bad answer refuses the host: a name mixing public and private answers is hostile.
            for address in addresses:
                reason = address_refusal(address)
                if reason:
                    raise _Refused(f"{host} resolves to a refused address: {reason}")
        last_error: Exception | None = None
        for address in dict.fromkeys(addresses):
            try:
                stream = self._backend.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            if not self._allow_private:
                sock = stream.get_extra_info("socket")
                peer = str(sock.getpeername()[0]) if sock is not None else ""
                reason = address_refusal(peer)
                if reason:
                    stream.close()
                    raise _Refused(f"connected to a refused address: {reason}")
            return stream
        assert last_error is not None
        raise last_error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise _Refused("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one loads the CA bundle, ~15-40 ms of CPU,
    which every download (two per download before) paid. A context is safe to share between
    connections and threads, and holds no connection state across a fork."""
    return httpx.create_ssl_context(trust_env=False)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport with the connection pool swapped for one using the guarded backend."""

    def __init__(self, *, allow_private: bool) -> None:
        # No proxy from the environment: we must see the real peer.
        super().__init__(verify=_ssl_context(), trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=4,
            max_keepalive_connections=0,
            retries=0,
            network_backend=_GuardedBackend(allow_private=allow_private),
        )


def _refused(message: str) -> ProviderError:
    return ProviderError(message, code=ErrorCode.DOWNLOAD_REFUSED, transient=False)


def _check_url(url: httpx.URL, *, allow_private: bool) -> None:
    if url.scheme == "https" or (url.scheme == "http" and allow_private):
        pass
    else:
        raise _refused(f"refusing to download from a {url.scheme or 'schemeless'} URL; only https is allowed")
    if not url.host:
        raise _refused("the download URL has no host")
    if url.userinfo:
        raise _refused("the download URL carries credentials")
    if not allow_private:
        literal = _literal_address(url.host)
        if literal is not None:
            reason = address_refusal(literal)
            if reason:
                raise _refused(f"refusing to download from {url.host}: {reason}")


def _status_error(response: httpx.Response, loggable: str) -> ProviderError:
    status = response.status_code
    message = f"download of {loggable} answered HTTP {status}"
    if status in _EXPIRED_STATUSES:
        return ProviderError(
            f"{message}: the result has expired or is gone", code=ErrorCode.RESULT_EXPIRED, http_status=status
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return ProviderError(
            message, code=ErrorCode.RATE_LIMITED, http_status=status, retry_after=retry_after
        )
    if status in (408, 504):
        return ProviderError(message, code=ErrorCode.TIMEOUT, http_status=status)
    if status >= 500:
        return ProviderError(message, code=ErrorCode.SERVER_ERROR, http_status=status)
    if status in _REDIRECT_STATUSES:
        return ProviderError(f"{message} without a Location", code=ErrorCode.BAD_RESPONSE, http_status=status)
    return ProviderError(message, code=ErrorCode.DOWNLOAD_REFUSED, http_status=status, transient=False)


def _check_kind(content_type: str | None, expected_kind: str | None, loggable: str) -> None:
    """Refuse bytes of a type we never store (RESULT_INVALID) or of another kind than expected."""
    if content_type not in ALLOWED_CONTENT_TYPES:
        found = content_type or "unrecognised bytes"
        raise ProviderError(
            f"{loggable} is {found}, not an image, video or audio file we accept",
            code=ErrorCode.RESULT_INVALID,
            transient=False,
        )
    if expected_kind is None:
        return
    accepted = _ACCEPTED_KINDS.get(expected_kind)
    if accepted is None:
        raise ValueError(f"unknown expected_kind {expected_kind!r}")
    if not (kind_of(content_type) in accepted or content_type in accepted):
        raise _refused(f"{loggable} should be {expected_kind} but its bytes are {content_type}")


def fetch(
    url: str,
    *,
    expected_kind: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_private: bool = False,
    timeout: float = 30.0,
    total_timeout: float | None = None,
) -> Downloaded:
    """`fetch_to_file()` read back into memory (the file is deleted): for small results."""
    with (
        fetch_to_file(
            url,
            expected_kind=expected_kind,
            max_bytes=max_bytes,
            allow_private=allow_private,
            timeout=timeout,
            total_timeout=total_timeout,
        ) as downloaded,
        downloaded.open() as handle,
    ):
        data = handle.read()
    return Downloaded(data=data, content_type=downloaded.content_type, final_url=downloaded.final_url)


def fetch_to_file(
    url: str,
    *,
    expected_kind: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_private: bool = False,
    timeout: float = 30.0,
    total_timeout: float | None = None,
    directory: str | None = None,
) -> DownloadedFile:
    """Download a vendor result URL to a temporary file, safely; raises ProviderError (module docstring).

    `timeout` bounds connecting and each read; `total_timeout` (default 10 x timeout) bounds the
    whole download, so a body trickling in just under the read timeout still ends. The file is in
    `directory` (default: the system temporary directory); close the result to delete it.
    """
    deadline = time.monotonic() + (total_timeout if total_timeout is not None else timeout * 10)
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise _refused(f"not a usable URL: {exc}") from exc
    timeouts = httpx.Timeout(timeout, connect=min(timeout, 10.0), pool=timeout)
    with httpx.Client(
        transport=_GuardedTransport(allow_private=allow_private),
        timeout=timeouts,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        trust_env=False,
    ) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            _check_url(current, allow_private=allow_private)
            loggable = str(current.copy_with(query=None, fragment=None))
            result = _get(
                client,
                current,
                loggable,
                expected_kind=expected_kind,
                max_bytes=max_bytes,
                deadline=deadline,
                directory=directory,
            )
            if isinstance(result, DownloadedFile):
                return result
            try:
                current = current.join(result)
            except (httpx.InvalidURL, ValueError) as exc:
                raise _refused(f"{loggable} redirected to an unusable URL") from exc
    raise ProviderError(
        f"download of {url.split('?', 1)[0]} redirected more than {MAX_REDIRECTS} times",
        code=ErrorCode.BAD_RESPONSE,
    )


def _get(
    client: httpx.Client,
    url: httpx.URL,
    loggable: str,
    *,
    expected_kind: str | None,
    max_bytes: int,
    deadline: float,
    directory: str | None,
) -> DownloadedFile | str:
    """One GET: the download (on disk), or the Location of a redirect to follow."""
    handle = None
    try:
        with client.stream("GET", url) as response:
            if response.status_code in _REDIRECT_STATUSES and response.headers.get("Location"):
                return response.headers["Location"]
            if response.status_code != 200:
                raise _status_error(response, loggable)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ProviderError(
                    f"{loggable} is {int(declared)} bytes; the limit is {max_bytes}", code=ErrorCode.TOO_LARGE
                )
            handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below or on error
                prefix="wanweb-download-", suffix=".part", dir=directory, delete=False
            )
            digest = hashlib.sha256()
            head = b""
            received = 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received > max_bytes:
                    raise ProviderError(
                        f"{loggable} is larger than the limit of {max_bytes} bytes", code=ErrorCode.TOO_LARGE
                    )
                if time.monotonic() > deadline:
                    raise ProviderError(f"download of {loggable} took too long", code=ErrorCode.TIMEOUT)
                if len(head) < 64:
                    head += chunk[: 64 - len(head)]
                    if len(head) >= 64:
                        # Refuse early, before streaming up to 500 MB of something else.
                        _check_kind(sniff_content_type(head), expected_kind, loggable)
                handle.write(chunk)
                digest.update(chunk)
            handle.close()
        if not received:
            raise ProviderError(f"{loggable} answered 200 with an empty body", code=ErrorCode.BAD_RESPONSE)
        content_type = sniff_content_type(head)
        _check_kind(content_type, expected_kind, loggable)
        assert content_type is not None  # _check_kind refused anything else
        return DownloadedFile(
            path=handle.name,
            size=received,
            sha256=digest.hexdigest(),
            content_type=content_type,
            final_url=str(url),
        )
    except BaseException as exc:
        if handle is not None:  # nothing half-written stays behind, whatever went wrong
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(handle.name)
        if isinstance(exc, _Refused):
            raise _refused(f"refusing to download {loggable}: {exc}") from None
        if isinstance(exc, httpx.TimeoutException):
            raise ProviderError(f"download of {loggable} timed out", code=ErrorCode.TIMEOUT) from exc
        if isinstance(exc, httpx.RemoteProtocolError | httpx.DecodingError):
            raise ProviderError(f"download of {loggable} was cut short", code=ErrorCode.BAD_RESPONSE) from exc
        if isinstance(exc, httpx.TransportError):
            raise ProviderError(
                f"download of {loggable} failed: {exc.__class__.__name__}", code=ErrorCode.CONNECTION
            ) from exc
        raise


@dataclass(frozen=True)
class Posted:
    status: int
    body_snippet: str


def check_target(url: str, *, allow_private: bool = False) -> None:
    """Refuse a URL we would not talk to (scheme, credentials, literal private address); ProviderError.

    Names are checked again at connect time by the guarded transport; this is the early, cheap check
    for forms and API requests.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise _refused(f"not a usable URL: {exc}") from exc
    _check_url(parsed, allow_private=allow_private)


def post(
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    allow_private: bool = False,
    timeout: float = 15.0,
    snippet_bytes: int = 300,
) -> Posted:
    """POST to a URL someone else chose (outgoing webhooks) with the same guard as `fetch`.

    No redirects are followed (a receiver that redirects has not received). Reads at most
    `snippet_bytes` of the answer. Network errors raise a transient ProviderError.
    """
    check_target(url, allow_private=allow_private)
    timeouts = httpx.Timeout(timeout, connect=min(timeout, 10.0), pool=timeout)
    with httpx.Client(
        transport=_GuardedTransport(allow_private=allow_private),
        timeout=timeouts,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
    ) as client:
        try:
            with client.stream("POST", url, content=content, headers=headers) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) >= snippet_bytes:
                        break
                return Posted(
                    status=response.status_code,
                    body_snippet=body[:snippet_bytes].decode("utf-8", "replace"),
                )
        except _Refused as exc:
            raise _refused(f"refusing to connect to {httpx.URL(url).host}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"POST to {url.split('?', 1)[0]} failed: {type(exc).__name__}",
                code=ErrorCode.CONNECTION,
                transient=True,
            ) from exc
