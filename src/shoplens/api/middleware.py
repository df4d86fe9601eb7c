"""ASGI middleware: request ids, logs, metrics, shutdown refusal; body size limit; admission; a fast lane."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoplens.api.metrics import Metrics
from shoplens.api.service import Lifecycle, Ticket

REQUEST_ID_HEADER = "x-request-id"
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PROBES = frozenset({"/livez", "/readyz", "/metrics"})
CHEAP_TO_DRAIN = 64 * 1024  # an unread body this small may be drained to keep the connection alive
_ID_PREFIX = os.urandom(8).hex()  # generated request ids: this process's random prefix and a counter
_ID_COUNTER = itertools.count()
access_log = logging.getLogger("shoplens.access")
log = logging.getLogger(__name__)


def new_request_id() -> str:
    """A request id unique to this process's life: 32 hex digits (random prefix, then a counter)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


class BodyTooLargeError(HTTPException):
    """The request body is over the limit (raised while it is being read)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"request body is larger than the limit of {limit:,} bytes", {"Connection": "close"}
        )


async def send_json(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with {"detail": ...} straight from ASGI."""
    body = json.dumps({"detail": detail}).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    """One request header, decoded (latin-1, as HTTP has it)."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class BodyLimitMiddleware:
    """413 for bodies over max_bytes: from Content-Length before reading, else as soon as the stream passes it.

    A response sent before a large (or chunked) body was read to its end closes the connection, so the
    server never drains the rest of an unwanted upload to keep the connection alive.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_json(send, 400, "invalid Content-Length header", [(b"connection", b"close")])
                return
            if int(declared) > self.max_bytes:
                await send_json(
                    send, 413, BodyTooLargeError(self.max_bytes).detail, [(b"connection", b"close")]
                )
                return
        received = 0
        started = False
        chunked = _header(scope, b"transfer-encoding") is not None
        body_done = (
            not chunked and int(declared or 0) <= CHEAP_TO_DRAIN
        )  # the server may read the rest itself

        async def limited_receive() -> Message:
            nonlocal received, body_done
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
                body_done = body_done or not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not body_done:
                    message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError as e:
            if started:
                raise
            await send_json(send, 413, str(e.detail), [(b"connection", b"close")])


class AdmissionMiddleware:
    """Requests to the guarded paths take an admission slot (`Lifecycle.admit`) or get 503 + Retry-After at once.

    Refusing here, before routing, dependencies and the body, keeps a refusal far cheaper than an answer, so an
    overloaded service spends its CPU on the requests it admitted. Catalogue model calls take the same slots
    (`Service.run_model`).
    """

    def __init__(self, app: ASGIApp, lifecycle: Lifecycle, paths: frozenset[str]) -> None:
        self.app = app
        self.lifecycle = lifecycle
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        lifecycle = self.lifecycle
        if not lifecycle.admit():
            await send_json(send, 503, "the service is busy; retry shortly", [(b"retry-after", b"1")])
            return
        lifecycle.preparing += 1
        ticket = Ticket(lifecycle)
        scope.setdefault("state", {})["ticket"] = ticket
        try:
            await self.app(scope, receive, send)
        finally:
            ticket.queued()
            lifecycle.release()


class LaneRoute(Protocol):
    """A route that can serve a request from ASGI by itself (see FastLaneMiddleware)."""

    path: str
    methods: set[str]

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request of this route."""
        ...


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


class FastLaneMiddleware:
    """Requests for a few hot routes go straight to the route (`route.serve`), past routing and the framework's
    own middleware, which cost as much per request as a small model's whole answer; their errors are answered by
    the app's exception handlers, as they would be otherwise. Everything else goes on to the app.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[LaneRoute]) -> None:
        self.app = app
        self.routes = {(method, route.path): route for route in routes for method in route.methods}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get((scope.get("method"), scope["path"])) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # as the router would: metrics label requests by their route's template
        try:
            await route.serve(scope, receive, send)
        except Exception as exc:
            handler = _handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)


def _handler_for(handlers: Mapping[Any, ExceptionHandler], exc: Exception) -> ExceptionHandler | None:
    """The app's handler for an exception: the one registered for its nearest class."""
    return next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)


class RequestContextMiddleware:
    """X-Request-ID on every response, one JSON access-log line and metrics per request, 503 while shutting down."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, lifecycle: Lifecycle, known_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.lifecycle = lifecycle
        self.known_paths = PROBES | known_paths  # labelled by path even when refused before routing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = incoming if incoming and VALID_REQUEST_ID.match(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        self.lifecycle.inflight += 1
        try:
            if self.lifecycle.shutting_down and scope["path"] not in PROBES:
                refuse = [(b"retry-after", b"1"), (b"connection", b"close")]
                await send_json(
                    send_with_id, 503, "the service is shutting down; retry on another instance", refuse
                )
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s (request %s)", scope["method"], scope["path"], request_id)
            if started:
                raise
            await send_json(send_with_id, 500, f"internal error (request id {request_id})")
        finally:
            self.lifecycle.inflight -= 1
            self._record(scope, request_id, status, time.perf_counter() - start)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        """Metrics by route template (not raw path) and one structured access-log line."""
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or (
            scope["path"] if scope["path"] in self.known_paths else "unmatched"
        )
        self.metrics.observe_request(template, scope["method"], status, seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return
        fields = {
            "request_id": request_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "ms": round(seconds * 1000, 2),
        }
        # The record is made here rather than by access_log.info(), which would also walk the call stack to
        # find the caller's file and line (unused in these lines): a third of the line's cost, every request.
        access_log.handle(
            access_log.makeRecord(
                access_log.name, logging.INFO, __file__, 0, "request", (), None, extra={"fields": fields}
            )
        )
