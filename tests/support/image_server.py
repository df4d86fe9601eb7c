"""An image server on 127.0.0.1 for the URL fetcher's tests: each route misbehaves in its own way (sizes,
stalls, retries, redirects, content that is not what its type says), and the server records what it was asked."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from tests.support.images import encode

MiB = 2**20
HUGE_TOTAL = 64 * MiB  # what /huge would send if nobody stopped reading


def png(i: int = 0) -> bytes:
    """A tiny PNG whose colour depends on i, so results can be told apart."""
    return encode(Image.new("RGB", (8, 8), (i * 40 % 256, 100, 200)), "PNG")


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
