from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpcore
import httpx
import pytest
import respx
from PIL import Image

from providers import download
from providers.base import ErrorCode, ProviderError
from providers.download import address_refusal, fetch
from tests.fakes.server import FakeServer


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = png_bytes()


class RawServer:
    """A loopback TCP server whose handler writes whatever bytes it likes (endless or stalled bodies)."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)  # the request head; its content does not matter here
            self.handler(conn)
        except OSError:
            pass  # the client hung up, which is what a refusing downloader does
        finally:
            conn.close()

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Fail loudly if anything opens a TCP connection."""
    attempts: list[tuple[str, int]] = []

    def refuse(self: object, host: str, port: int, *args: object, **kwargs: object) -> None:
        attempts.append((host, port))
        raise AssertionError(f"a connection to {host}:{port} was attempted")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", refuse)
    yield attempts
    assert attempts == []


def assert_refused(excinfo: pytest.ExceptionInfo[ProviderError]) -> None:
    assert excinfo.value.code == ErrorCode.DOWNLOAD_REFUSED
    assert excinfo.value.permanent


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/iam/",
        "https://127.1/result.png",
        "https://0x7f000001/result.png",
        "https://2130706433/result.png",
        "https://0177.0.0.1/result.png",
        "https://[::ffff:127.0.0.1]/result.png",
        "https://[::ffff:a9fe:a9fe]/result.png",
        "https://[::1]/result.png",
        "https://0.0.0.0/result.png",
        "https://10.1.2.3/result.png",
        "https://192.168.0.10/result.png",
        "https://172.16.5.5/result.png",
        "https://100.64.0.1/result.png",
        "https://224.0.0.1/result.png",
        "https://240.0.0.1/result.png",
        "https://[fe80::1]/result.png",
        "https://[fd00::1]/result.png",
    ],
)
def test_it_refuses_internal_addresses_without_connecting(url: str, no_connections: list) -> None:
    with pytest.raises(ProviderError) as excinfo:
        fetch(url, expected_kind="image")
    assert_refused(excinfo)


def test_it_refuses_legacy_ipv4_spellings_even_when_the_url_check_misses_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Disable the literal check so the connect-time check (real resolver, inet_aton rules) is what refuses.
    monkeypatch.setattr(download, "_literal_address", lambda host: None)
    for host in ("127.1", "0x7f000001", "2130706433"):
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"https://{host}/result.png")
        assert_refused(excinfo)


def test_it_refuses_a_name_that_resolves_to_a_private_address(
    monkeypatch: pytest.MonkeyPatch, no_connections: list
) -> None:
    monkeypatch.setattr(download, "_resolve", lambda host, port: ["10.0.0.7"])
    with pytest.raises(ProviderError) as excinfo:
        fetch("https://results.vendor.example/out.png", expected_kind="image")
    assert_refused(excinfo)
    assert "10.0.0.7" in excinfo.value.message


def test_it_refuses_a_name_with_any_private_answer_among_public_ones(
    monkeypatch: pytest.MonkeyPatch, no_connections: list
) -> None:
    monkeypatch.setattr(download, "_resolve", lambda host, port: ["93.184.216.34", "127.0.0.1"])
    with pytest.raises(ProviderError) as excinfo:
        fetch("https://results.vendor.example/out.png")
    assert_refused(excinfo)


def test_it_checks_the_address_it_actually_connected_to(monkeypatch: pytest.MonkeyPatch) -> None:
    # DNS says public, but the socket ends up on loopback (rebinding, a hostile resolver): refused.
    with FakeServer() as server:
        server.route("GET", "/out.png", lambda req: (200, PNG, {"Content-Type": "image/png"}))
        port = int(server.url.rsplit(":", 1)[1])
        monkeypatch.setattr(download, "_resolve", lambda host, port: ["93.184.216.34"])
        real_connect = httpcore.SyncBackend.connect_tcp

        def connect_to_loopback(
            self: httpcore.SyncBackend, host: str, _port: int, *args: object, **kwargs: object
        ):
            assert host == "93.184.216.34"  # the checked address is what the backend is asked to dial
            return real_connect(self, "127.0.0.1", port, *args, **kwargs)

        monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_to_loopback)
        with pytest.raises(ProviderError) as excinfo:
            fetch("https://results.vendor.example/out.png")
        assert_refused(excinfo)
        assert "127.0.0.1" in excinfo.value.message
        assert server.requests == []


def test_it_refuses_a_redirect_to_an_internal_address() -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get("https://results.vendor.example/out.png").mock(
            return_value=httpx.Response(
                302, headers={"Location": "https://169.254.169.254/latest/meta-data/"}
            )
        )
        metadata = mock.get(host="169.254.169.254").mock(return_value=httpx.Response(200, content=PNG))
        with pytest.raises(ProviderError) as excinfo:
            fetch("https://results.vendor.example/out.png", expected_kind="image")
    assert_refused(excinfo)
    assert not metadata.called


def test_it_refuses_a_redirect_to_a_name_that_resolves_internally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "_resolve", lambda host, port: ["192.168.1.20"])
    with respx.mock(assert_all_called=False) as mock:
        mock.get("https://results.vendor.example/out.png").mock(
            return_value=httpx.Response(302, headers={"Location": "https://intranet.example/secret.png"})
        )
        # The second hop goes through the real (guarded) transport, which resolves and refuses.
        mock.get(host="intranet.example").pass_through()
        with pytest.raises(ProviderError) as excinfo:
            fetch("https://results.vendor.example/out.png", expected_kind="image")
    assert_refused(excinfo)


def test_it_refuses_a_redirect_to_plain_http() -> None:
    with respx.mock() as mock:
        mock.get("https://results.vendor.example/out.png").mock(
            return_value=httpx.Response(301, headers={"Location": "http://results.vendor.example/out.png"})
        )
        with pytest.raises(ProviderError) as excinfo:
            fetch("https://results.vendor.example/out.png")
    assert_refused(excinfo)


@pytest.mark.parametrize(
    "url", ["http://results.vendor.example/out.png", "ftp://x.example/a", "file:///etc/passwd", "not a url"]
)
def test_it_refuses_anything_but_https(url: str, no_connections: list) -> None:
    with pytest.raises(ProviderError) as excinfo:
        fetch(url)
    assert_refused(excinfo)


def test_it_downloads_from_a_loopback_fake_when_private_addresses_are_allowed() -> None:
    with FakeServer() as server:
        server.route("GET", "/out.png", lambda req: (200, PNG, {"Content-Type": "text/html"}))
        result = fetch(f"{server.url}/out.png?sig=abc", expected_kind="image", allow_private=True)
    assert result.data == PNG
    assert result.content_type == "image/png"  # sniffed, not the server's header
    assert result.final_url == f"{server.url}/out.png?sig=abc"


def test_it_follows_up_to_three_redirects_and_reports_the_final_url() -> None:
    with FakeServer() as server:
        for hop in range(3):
            server.route("GET", f"/hop{hop}", lambda req, hop=hop: (302, b"", {"Location": f"/hop{hop + 1}"}))
        server.route("GET", "/hop3", lambda req: (200, PNG))
        result = fetch(f"{server.url}/hop0", expected_kind="image", allow_private=True)
    assert result.data == PNG
    assert result.final_url == f"{server.url}/hop3"


def test_it_stops_a_redirect_loop() -> None:
    with FakeServer() as server:
        server.route("GET", "/loop", lambda req: (302, b"", {"Location": "/loop"}))
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"{server.url}/loop", allow_private=True)
        assert len(server.requests) == 4  # the first request plus three redirects, then it gives up
    assert excinfo.value.code == ErrorCode.BAD_RESPONSE


def test_it_stops_an_endless_chunked_body_at_the_byte_cap() -> None:
    def endless(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = PNG + b"\0" * (65536 - len(PNG))
        while True:
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    with RawServer(endless) as server:
        started = time.monotonic()
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"{server.url}/out.png", expected_kind="image", allow_private=True, max_bytes=1024 * 1024)
    assert excinfo.value.code == ErrorCode.TOO_LARGE
    assert excinfo.value.permanent
    assert time.monotonic() - started < 5


def test_it_refuses_a_declared_length_over_the_cap_before_reading() -> None:
    with FakeServer() as server:
        server.route("GET", "/big", lambda req: (200, PNG * 100))
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"{server.url}/big", allow_private=True, max_bytes=1000)
    assert excinfo.value.code == ErrorCode.TOO_LARGE


def test_it_refuses_bytes_that_are_not_the_expected_kind() -> None:
    with FakeServer() as server:
        server.route("GET", "/out.mp4", lambda req: (200, "<html><body>Login</body></html>" * 10))
        server.route("GET", "/out.png", lambda req: (200, PNG))
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"{server.url}/out.mp4", expected_kind="video", allow_private=True)
        # Bytes of a type we never store at all (HTML): the result is invalid, whatever was expected.
        assert excinfo.value.code == ErrorCode.RESULT_INVALID and excinfo.value.permanent
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"{server.url}/out.mp4", allow_private=True)
        assert excinfo.value.code == ErrorCode.RESULT_INVALID
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"{server.url}/out.png", expected_kind="video", allow_private=True)
        assert_refused(excinfo)


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_it_reports_gone_results_as_expired(status: int) -> None:
    with FakeServer() as server:
        server.route("GET", "/out.png", lambda req: (status, "<Error>AccessDenied</Error>"))
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"{server.url}/out.png", allow_private=True)
    assert excinfo.value.code == ErrorCode.RESULT_EXPIRED
    assert excinfo.value.permanent
    assert excinfo.value.http_status == status


def test_it_reports_server_errors_as_transient() -> None:
    with FakeServer() as server:
        server.route("GET", "/out.png", lambda req: (503, "busy"))
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"{server.url}/out.png", allow_private=True)
    assert excinfo.value.code == ErrorCode.SERVER_ERROR
    assert excinfo.value.transient


def test_it_times_out_a_stalled_body() -> None:
    release = threading.Event()

    def stall(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + PNG)
        release.wait(5)

    with RawServer(stall) as server:
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"{server.url}/out.png", allow_private=True, timeout=0.3)
        release.set()
    assert excinfo.value.code == ErrorCode.TIMEOUT
    assert excinfo.value.transient


def test_it_gives_up_on_a_body_that_trickles_past_the_overall_deadline() -> None:
    def trickle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + PNG)
        for _ in range(200):
            time.sleep(0.02)
            conn.sendall(b"\0")

    with RawServer(trickle) as server:
        started = time.monotonic()
        with pytest.raises(ProviderError) as excinfo:
            fetch(f"{server.url}/out.png", allow_private=True, timeout=1.0, total_timeout=0.3)
    assert excinfo.value.code == ErrorCode.TIMEOUT
    assert time.monotonic() - started < 2


def test_it_reports_a_truncated_body_as_a_bad_response() -> None:
    def truncated(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + PNG)

    with RawServer(truncated) as server, pytest.raises(ProviderError) as excinfo:
        fetch(f"{server.url}/out.png", allow_private=True)
    assert excinfo.value.code == ErrorCode.BAD_RESPONSE
    assert excinfo.value.transient


def test_it_reports_a_refused_connection_as_transient() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ProviderError) as excinfo:
        fetch(f"http://127.0.0.1:{port}/out.png", allow_private=True)
    assert excinfo.value.code == ErrorCode.CONNECTION
    assert excinfo.value.transient


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("::ffff:8.8.8.8", False),  # mapped forms are refused outright, public or not
        ("2002:7f00:1::1", False),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::7f00:1", False),
        ("ff02::1", False),
        ("::", False),
    ],
)
def test_address_refusal_allows_only_public_unicast(address: str, allowed: bool) -> None:
    assert (address_refusal(address) is None) is allowed


def test_downloads_share_one_tls_context_per_process() -> None:
    # Building a verifying context loads the CA bundle (~15-40 ms of CPU): once, not per download.
    first = download._GuardedTransport(allow_private=False)
    second = download._GuardedTransport(allow_private=True)
    assert first._pool._ssl_context is second._pool._ssl_context is download._ssl_context()
    assert download._ssl_context().verify_mode.name == "CERT_REQUIRED"
