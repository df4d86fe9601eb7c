"""URL fetching against a real HTTP server on 127.0.0.1: allowlist, internal addresses, size cap, sniffing,
retries, timeouts, redirects, concurrency and result order."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from shoplens.catalog.fetch import FetchPolicy, FetchResult, _is_public, fetch_all, fetch_many
from shoplens.imaging import decode_image
from tests.support.images import encode

MiB = 2**20
HUGE_TOTAL = 64 * MiB  # what /huge would send if nobody stopped reading


def png(i: int = 0) -> bytes:
    """A tiny PNG whose colour depends on i, so results can be told apart."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (i * 40 % 256, 100, 200)).save(buffer, "PNG")
    return buffer.getvalue()


# An iPhone-style HEIC whose ftyp box names only the structural brand first: the codec is in its compatible
# brands, past the first 12 bytes; and an MP4 movie's first bytes, the same container.
HEIC = encode(Image.new("RGB", (8, 8), (200, 30, 30)), "HEIF").replace(b"ftypheic", b"ftypmif1", 1)
MOVIE = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + bytes(200)


class Server(ThreadingHTTPServer):
    """A threaded server that records what it was asked and how many requests overlapped."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget the previous test's requests."""
        with self.lock:
            self.hits: list[str] = []
            self.counters: dict[str, int] = {}
            self.active = 0
            self.max_active = 0
            self.huge_sent = 0
            self.huge_done = threading.Event()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """Absolute URL of a path on this server."""
        return f"http://{host}:{self.server_address[1]}{path}"

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up early is what several tests do on purpose."""


class Handler(BaseHTTPRequestHandler):
    """Routes: /png, /heic, /movie, /html, /huge, /declared-huge, /flaky, /slow, /redirect, /loop, /probe; else 404."""

    server: Server

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """Answer one request according to its path and query."""
        state = self.server
        with state.lock:
            state.hits.append(self.path)
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        route = getattr(self, "route_" + parts.path.strip("/").replace("-", "_"), None)
        if route is None:
            self.reply(404, b"not found", "text/plain")
        else:
            route(query)

    def reply(self, status: int, body: bytes, content_type: str = "image/png", **headers: str) -> None:
        """Send a complete response with a Content-Length."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def route_png(self, query: dict[str, str]) -> None:
        self.reply(200, png(int(query.get("i", 0))))

    def route_heic(self, query: dict[str, str]) -> None:
        self.reply(200, HEIC, "application/octet-stream")

    def route_movie(self, query: dict[str, str]) -> None:
        self.reply(200, MOVIE, "image/heic")

    def route_html(self, query: dict[str, str]) -> None:
        self.reply(200, b"<!doctype html><html><body>not a picture</body></html>", "image/png")

    def route_huge(self, query: dict[str, str]) -> None:
        """A PNG signature then zeros, no Content-Length (HTTP/1.0: the body ends when the socket closes)."""
        state = self.server
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        chunk = png()[:8] + bytes(64 * 1024 - 8)
        try:
            for _ in range(HUGE_TOTAL // len(chunk)):
                self.wfile.write(chunk)
                state.huge_sent += len(chunk)
        except OSError:
            pass
        finally:
            state.huge_done.set()

    def route_declared_huge(self, query: dict[str, str]) -> None:
        """Announces 50 MiB, sends a few bytes, then stalls."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(50 * MiB))
        self.end_headers()
        self.wfile.write(png()[:16])
        self.wfile.flush()
        self.server.stop.wait(1.0)

    def route_flaky(self, query: dict[str, str]) -> None:
        """Fails `fail` times with `code` (and an optional Retry-After), then serves the PNG."""
        state = self.server
        with state.lock:
            count = state.counters[query["key"]] = state.counters.get(query["key"], 0) + 1
        if count <= int(query.get("fail", 2)):
            extra = {"Retry_After": query["retry_after"]} if "retry_after" in query else {}
            self.reply(int(query.get("code", 503)), b"busy", "text/plain", **extra)
        else:
            self.reply(200, png())

    def route_slow(self, query: dict[str, str]) -> None:
        self.server.stop.wait(1.5)
        self.reply(200, png())

    def route_redirect(self, query: dict[str, str]) -> None:
        self.send_response(302)
        self.send_header("Location", query["to"])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def route_loop(self, query: dict[str, str]) -> None:
        self.send_response(302)
        self.send_header("Location", "/loop")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def route_probe(self, query: dict[str, str]) -> None:
        """Records how many requests are in flight at once, holding each for a moment."""
        state = self.server
        with state.lock:
            state.active += 1
            state.max_active = max(state.max_active, state.active)
        try:
            state.stop.wait(0.25)
        finally:
            with state.lock:
                state.active -= 1
        self.reply(200, png(int(query["i"])))


@pytest.fixture(scope="module")
def running_server() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server(running_server: Server) -> Server:
    running_server.reset()
    return running_server


def local(**overrides: object) -> FetchPolicy:
    """A policy for the test server: 127.0.0.1 allowed, internal addresses allowed, quick retries."""
    settings: dict[str, object] = {
        "allowed_hosts": frozenset({"127.0.0.1"}),
        "allow_private": True,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "total_timeout": 10.0,
        "retries": 2,
        "backoff_s": 0.01,
    }
    settings.update(overrides)
    return FetchPolicy(**settings)  # type: ignore[arg-type]


def fetch_one(url: str, policy: FetchPolicy) -> FetchResult:
    (result,) = fetch_all([url], policy)
    return result


def test_png_fetched_from_allowed_host(server: Server) -> None:
    result = fetch_one(server.url("/png"), local())
    assert result.ok, result.error
    assert result.data == png()
    assert (result.attempts, result.status, result.error) == (1, 200, None)


def test_loopback_literal_refused_by_default_before_any_request(server: Server) -> None:
    result = fetch_one(server.url("/png"), local(allow_private=False))
    assert not result.ok and result.data is None
    assert "private/internal address" in result.error
    assert result.attempts == 0
    assert server.hits == []


def test_name_resolving_to_loopback_refused_before_any_request(server: Server) -> None:
    policy = local(allowed_hosts={"localhost"}, allow_private=False)
    result = fetch_one(server.url("/png", host="localhost"), policy)
    assert "resolves to a private/internal address" in result.error
    assert server.hits == []


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[fe80::1]",
        "[::ffff:127.0.0.1]",
        "[fd00::1]",
    ],
)
def test_internal_ip_literals_refused(host: str) -> None:
    result = fetch_one(f"http://{host}/latest/meta-data", FetchPolicy(allowed_hosts={host}, retries=0))
    assert result.error.startswith("private/internal address not allowed"), result.error


def test_host_outside_allowlist_refused_without_request(server: Server) -> None:
    result = fetch_one(server.url("/png"), local(allowed_hosts={"example.com", "*.127.0.0.1"}))
    assert result.error == "host not allowed: 127.0.0.1"
    nothing_allowed = fetch_one(server.url("/png"), local(allowed_hosts=frozenset()))
    assert nothing_allowed.error == "host not allowed: 127.0.0.1"
    assert server.hits == []


def test_allowlist_exact_names_and_subdomain_wildcards() -> None:
    policy = FetchPolicy(allowed_hosts={"*.cdn.example.com", ".shop.test", "Images.ORG.", "[::1]"})
    assert policy.allows_host("a.cdn.example.com") and policy.allows_host("x.y.cdn.example.com")
    assert policy.allows_host("img.shop.test") and policy.allows_host("images.org.")
    assert policy.allows_host("::1") and policy.allows_host("0:0::1")
    assert not policy.allows_host("cdn.example.com")  # the wildcard is for subdomains only
    assert not policy.allows_host("evilcdn.example.com") and not policy.allows_host("shop.test.evil.com")
    assert not policy.allows_host("images.org.evil.com")
    with pytest.raises(ValueError):
        FetchPolicy(allowed_hosts="example.com")  # type: ignore[arg-type]


def test_invalid_urls_become_error_results(server: Server) -> None:
    urls = ["not a url", "ftp://127.0.0.1/x.png", "http:///x.png", "", "http://[::1", "file:///etc/passwd"]
    results = fetch_all(urls, local())
    assert [r.url for r in results] == urls
    assert all(not r.ok and r.error and r.attempts == 0 for r in results)
    assert results[1].error.startswith("unsupported scheme: ftp")
    assert server.hits == []


def test_html_is_not_an_image_whatever_its_content_type(server: Server) -> None:
    result = fetch_one(server.url("/html"), local())
    assert result.error == "not an image (image/png)"
    assert result.attempts == 1


def test_heic_is_sniffed_past_its_structural_brand_and_a_movie_is_not_an_image(server: Server) -> None:
    result = fetch_one(server.url("/heic"), local())
    assert result.ok, result.error
    assert decode_image(result.data).getpixel((4, 4)) == pytest.approx((200, 30, 30), abs=8)
    assert fetch_one(server.url("/movie"), local()).error == "not an image (image/heic)"


def test_body_without_length_is_cut_off_at_the_cap(server: Server) -> None:
    result = fetch_one(server.url("/huge"), local(max_bytes=1 * MiB))
    assert result.error == f"too large: more than {MiB} bytes"
    assert result.attempts == 1  # oversize is not retried
    assert server.huge_done.wait(5)
    # The server stops once the client hangs up: what it wrote is the cap plus socket buffers, not 64 MiB.
    assert server.huge_sent < HUGE_TOTAL // 3


def test_declared_oversize_refused_from_headers(server: Server) -> None:
    started = time.monotonic()
    result = fetch_one(server.url("/declared-huge"), local(max_bytes=1 * MiB))
    assert result.error == f"too large: more than {MiB} bytes"
    assert time.monotonic() - started < 0.9  # did not wait for the stalled body


def test_transient_503_retried_until_success(server: Server) -> None:
    result = fetch_one(server.url("/flaky?key=a&fail=2&code=503"), local(retries=3))
    assert result.ok and result.data == png()
    assert result.attempts == 3
    assert len(server.hits) == 3


def test_retries_exhausted_report_last_status(server: Server) -> None:
    result = fetch_one(server.url("/flaky?key=b&fail=9&code=500"), local(retries=2))
    assert (result.error, result.attempts, result.status) == ("HTTP 500 after 3 attempts", 3, 500)


def test_retry_after_is_honoured_up_to_the_cap(server: Server) -> None:
    started = time.monotonic()
    result = fetch_one(server.url("/flaky?key=c&fail=1&code=429&retry_after=1"), local())
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started >= 0.9
    started = time.monotonic()
    capped = fetch_one(server.url("/flaky?key=d&fail=1&code=429&retry_after=3600"), local(max_backoff_s=0.05))
    assert capped.ok and capped.attempts == 2
    assert time.monotonic() - started < 2


def test_404_is_not_retried(server: Server) -> None:
    result = fetch_one(server.url("/missing.png"), local(retries=3))
    assert (result.error, result.attempts, result.status) == ("HTTP 404", 1, 404)
    assert len(server.hits) == 1


def test_slow_response_times_out_after_retries(server: Server) -> None:
    result = fetch_one(server.url("/slow"), local(read_timeout=0.3, retries=1))
    assert (result.error, result.attempts) == ("timed out after 2 attempts", 2)


def test_total_timeout_bounds_one_try(server: Server) -> None:
    result = fetch_one(server.url("/slow"), local(total_timeout=0.3, retries=0))
    assert result.error == "timed out after 1 attempt"


def test_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens once closed
    result = fetch_one(f"http://127.0.0.1:{port}/x.png", local(retries=1))
    assert result.error.startswith("connection failed") and result.error.endswith("after 2 attempts")


def test_redirect_to_disallowed_host_refused(server: Server) -> None:
    target = server.url("/png", host="localhost")
    result = fetch_one(server.url(f"/redirect?to={target}"), local())
    assert result.error == "redirect refused: host not allowed: localhost"
    assert (result.attempts, len(server.hits)) == (1, 1)  # the target was never asked


def test_redirect_to_another_scheme_refused(server: Server) -> None:
    result = fetch_one(server.url("/redirect?to=file:///etc/passwd"), local())
    assert result.error.startswith("redirect refused: unsupported scheme: file")


def test_allowed_redirects_followed_and_bounded(server: Server) -> None:
    followed = fetch_one(server.url("/redirect?to=/png"), local())
    assert followed.ok and followed.data == png() and followed.status == 200
    looping = fetch_one(server.url("/loop"), local(max_redirects=2))
    assert looping.error == "too many redirects (more than 2)"
    assert sum(hit == "/loop" for hit in server.hits) == 3


def test_concurrency_limit_order_and_progress_callback(server: Server) -> None:
    urls = [server.url(f"/probe?i={i}") for i in range(6)]
    seen: list[int] = []
    results = asyncio.run(fetch_many(urls, local(concurrency=2), on_result=lambda i, r: seen.append(i)))
    assert server.max_active == 2  # never more than the limit, and the limit was used
    assert [r.url for r in results] == urls
    assert [r.data for r in results] == [png(i) for i in range(6)]
    assert sorted(seen) == list(range(6))


def test_redirect_to_another_port_of_an_allowed_host_refused(server: Server) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        target = f"http://127.0.0.1:{other.getsockname()[1]}/png"
        result = fetch_one(server.url(f"/redirect?to={target}"), local())
    assert result.error.startswith("redirect refused: port changed to")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("2002:7f00:1::1", False),
        ("2002:a00:1::1", False),
        ("2002:808:808::1", True),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),
    ],
)
def test_ipv6_addresses_carrying_an_internal_ipv4_are_not_public(address: str, public: bool) -> None:
    assert _is_public(ipaddress.ip_address(address)) is public
