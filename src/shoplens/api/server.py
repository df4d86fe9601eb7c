"""Run the app under uvicorn with JSON logs and a graceful SIGTERM: not ready, drain in-flight requests, exit 0."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from shoplens.api.app import create_app
from shoplens.api.problems import PROBLEM_JSON, problem_body
from shoplens.api.service import Lifecycle
from shoplens.api.workers import Worker, bind, supervise
from shoplens.config import Settings
from shoplens.malloc import pin_thresholds

log = logging.getLogger(__name__)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `fields` passed in `extra`."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "info") -> None:
    """Send every log record (ours and uvicorn's) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class GracefulServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT: mark the app as shutting down, wait for in-flight requests, then stop."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.drain_timeout_s = drain_timeout_s
        self.draining_since: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal starts draining (and ends with exit status 0); a second one is uvicorn's own."""
        if self.draining_since is None and sig in (signal.SIGTERM, signal.SIGINT):
            self.lifecycle.shutting_down = True
            self.draining_since = time.monotonic()
            return
        super().handle_exit(sig, frame)

    def receiving(self) -> int:
        """Connections on which a request has begun to arrive (its headers are not complete yet)."""
        return sum(getattr(c, "receiving_request", False) for c in self.server_state.connections)

    async def on_tick(self, counter: int) -> bool:
        """Exit once draining has no request left in flight, nor one arriving (or has taken drain_timeout_s).

        A request that has begun to arrive is answered too (503 shutting_down, once its headers are in;
        header_timeout_s bounds the wait) rather than cut off: its client could not tell whether it was acted on.
        """
        if self.draining_since is not None and not self.should_exit:
            waited = time.monotonic() - self.draining_since
            if (self.lifecycle.inflight == 0 and self.receiving() == 0) or waited > self.drain_timeout_s:
                log.info("drained: stopping", extra={"fields": {"waited_s": round(waited, 2)}})
                self.should_exit = True
        return await super().on_tick(counter)


_Base: Any = AutoHTTPProtocol  # httptools' protocol where installed, else h11's


MAX_HEAD_BYTES = 64 * 1024  # a request line and headers larger than this get 431


def _too_large_head() -> bytes:
    """The raw 431 answer to a request whose head is over MAX_HEAD_BYTES (no request id: it never began)."""
    detail = f"the request line and headers are larger than {MAX_HEAD_BYTES:,} bytes"
    body = problem_body(431, detail, "", "request_header_fields_too_large")
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        f"content-type: {PROBLEM_JSON}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def _unreadable_request() -> bytes:
    """The raw 400 answer to bytes the HTTP parser cannot read as a request (no request id: none began)."""
    detail = "the bytes sent are not an HTTP/1.1 request (request line, header or chunk framing)"
    body = problem_body(400, detail, "", "bad_request")
    head = (
        "HTTP/1.1 400 Bad Request\r\n"
        f"content-type: {PROBLEM_JSON}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class ConnectionProtocol(_Base):
    """uvicorn's HTTP protocol, closing a connection that has not sent a request's headers within
    `header_timeout_s` or sends more than MAX_HEAD_BYTES of them (431), answering unreadable bytes with a
    problem JSON (400), and telling a draining server whether a request is on its way (`receiving_request`).

    uvicorn times out only idle keep-alive connections; one that sends nothing, or its headers a byte at a
    time, would otherwise stay open for good; and its httptools parser takes headers of any size. The clock
    starts when the connection opens and again after each response; the body's own time limit is the app's
    (BodyLimitMiddleware).
    """

    header_timeout_s = 10.0
    receiving_request = False  # bytes of a request whose headers are not complete yet have arrived
    _head_bytes = 0  # bytes of the request head being received
    _tail = b""  # the last bytes of it, where a blank line may begin that the next read ends
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        """Start the headers clock."""
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        """Refuse a request head past the cap, else feed the parser; note whether a head is still incomplete."""
        if self._between_requests():  # these bytes begin or continue a head: count them up to its blank line
            self._head_bytes += head_length(self._tail, data)
            self._tail = (self._tail + data)[-3:]
            if (
                self._head_bytes > MAX_HEAD_BYTES
            ):  # counted before the parser sees it: a whole head in one read too
                if not self.transport.is_closing():
                    self.transport.write(_too_large_head())
                    self.transport.close()
                return
        super().data_received(data)
        self.receiving_request = self._between_requests()
        if not self.receiving_request:
            self._head_bytes, self._tail = 0, b""

    def send_400_response(self, msg: str) -> None:
        """Answer bytes the parser refused with a problem JSON, as every other error (uvicorn's is plain text)."""
        if not self.transport.is_closing():
            self.transport.write(_unreadable_request())
            self.transport.close()

    def on_response_complete(self) -> None:
        """Restart the headers clock for the next request on this connection."""
        super().on_response_complete()
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the headers clock."""
        if self._header_timer is not None:
            self._header_timer.cancel()
        self.receiving_request = False
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_overdue)

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if self._between_requests() and not self.transport.is_closing():
            self.transport.close()


def head_length(before: bytes, data: bytes) -> int:
    """How many bytes of `data` belong to a request head whose bytes so far end with `before` (its last 3): all of
    them, or those up to the blank line (CRLF CRLF, or a bare LF LF) that ends it."""
    seen = before + data
    ends = [i + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (i := seen.find(mark)) >= 0]
    return len(data) if not ends else max(0, min(ends) - len(before))


def with_header_timeout(seconds: float) -> type[asyncio.Protocol]:
    """ConnectionProtocol with this headers timeout."""
    return type("ConnectionProtocol", (ConnectionProtocol,), {"header_timeout_s": seconds})


def uvicorn_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for the app: JSON logs, connection limits and timeouts from settings."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": int(settings.drain_timeout_s) or None,
        "lifespan": "on",
        "log_level": settings.log_level,
        "http": with_header_timeout(settings.header_timeout_s),
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "limit_concurrency": settings.max_connections,
        # with h11; ConnectionProtocol caps heads at MAX_HEAD_BYTES
        "h11_max_incomplete_event_size": 16 * 1024,
    }
    return uvicorn.Config(app, **{**options, **overrides})


def serve(settings: Settings, worker: Worker | None = None) -> int:
    """Serve until SIGTERM/SIGINT; the exit status (0 after a graceful stop, 1 if the server never started).

    With settings.workers > 1 this process supervises that many workers (api/workers.py), each of which comes back
    here with its `worker`: the shared socket and admission counts.
    """
    configure_logging(settings.log_level)
    pin_thresholds(settings.malloc_mmap_threshold_kib)  # before the model and the catalogue are loaded
    if worker is None and settings.workers > 1:
        return supervise(settings, serve)
    sock = worker.sock if worker else bind(settings)  # a port in use: refused before the model is loaded
    app = create_app(settings, worker=worker)
    config = uvicorn_config(app, settings)
    server = GracefulServer(config, app.state.service.lifecycle, settings.drain_timeout_s)
    server.run(sockets=[sock])
    return 0 if server.started else 1
