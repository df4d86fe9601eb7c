"""ASGI middleware: request ids, logs, metrics, shutdown refusal; body size and time limits; admission; a fast
lane."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoplens.api.errors import HTTPProblem
from shoplens.api.metrics import Metrics
from shoplens.api.problems import send_problem
from shoplens.api.service import Lifecycle, Ticket

REQUEST_ID_HEADER = "x-request-id"
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PROBES = frozenset({"/livez", "/readyz", "/metrics"})
CLIENT_CLOSED = 499  # recorded (as nginx logs it) for a request whose client hung up before it was answered
CLOSE = {"Connection": "close"}  # sent when the rest of a request's body will not be read
CHEAP_TO_DRAIN = 64 * 1024  # an unread body this small may be drained to keep the connection alive
_ID_PREFIX = os.urandom(8).hex()  # generated request ids: this process's random prefix and a counter
_ID_COUNTER = itertools.count()
access_log = logging.getLogger("shoplens.access")
log = logging.getLogger(__name__)


def new_request_id() -> str:
    """A request id unique to this process's life: 32 hex digits (random prefix, then a counter)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


class BodyTooLargeError(HTTPProblem):
    """The request body is over the limit (raised while it is being read)."""

    def __init__(self, limit: int) -> None:
        detail = f"request body is larger than the limit of {limit:,} bytes"
        super().__init__(413, detail, "payload_too_large", CLOSE)


def _header(scope: Scope, name: bytes) -> str | None:
    """One request header, decoded (latin-1, as HTTP has it)."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class BodyTimeoutError(HTTPProblem):
    """The request body did not arrive in full within the body timeout (raised while it is being read)."""

    def __init__(self, seconds: float) -> None:
        detail = f"the request body was not received within {seconds:g} s"
        super().__init__(408, detail, "request_timeout", CLOSE)


def has_nul(scope: Scope) -> bool:
    """Whether the request's path or query string holds a NUL character, raw or percent-encoded."""
    query = scope.get("query_string", b"").lower()
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


def has_body(scope: Scope) -> bool:
    """Whether the request declares a body (a non-zero Content-Length, or a chunked one)."""
    declared = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (declared or "0").strip() not in ("", "0")


class BodyLimitMiddleware:
    """413 for bodies over max_bytes: from Content-Length before reading, else as soon as the stream passes it;
    408 for a body not received in full within timeout_s of the request's start (a client that stalls).

    A response sent before a large (or chunked) body was read to its end closes the connection, so the
    server never drains the rest of an unwanted upload to keep the connection alive.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 15.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_problem(scope, send, 400, "invalid Content-Length header", headers=CLOSE)
                return
            if int(declared) > self.max_bytes:
                too_large = BodyTooLargeError(self.max_bytes)
                await send_problem(scope, send, 413, too_large.detail, too_large.code, CLOSE)
                return
        received = 0
        started = False
        chunked = _header(scope, b"transfer-encoding") is not None
        body_done = (
            not chunked and int(declared or 0) <= CHEAP_TO_DRAIN
        )  # the server may read the rest itself
        complete = not has_body(scope)  # every byte of the body has arrived (no deadline to keep after that)
        deadline = asyncio.get_running_loop().time() + self.timeout_s

        async def limited_receive() -> Message:
            nonlocal received, body_done, complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeoutError(self.timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
                complete = not message.get("more_body", False)
                body_done = body_done or complete
            else:
                complete = True  # disconnected
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
        except (BodyTooLargeError, BodyTimeoutError) as e:
            if started:
                raise
            await send_problem(scope, send, e.status_code, str(e.detail), e.code, CLOSE)


class AdmissionMiddleware:
    """Requests to the guarded paths take an admission slot (`Lifecycle.admit`) or get 503 + Retry-After at once.

    The body is received first (within the body limits around this middleware): a slot is held only by a
    request that can be worked on, so clients that send headers and stall their bodies never starve the others.
    Refusing here, before routing, dependencies and decoding, keeps a refusal far cheaper than an answer, so an
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
        if has_body(scope):
            receive = await received_in_full(receive)
        lifecycle = self.lifecycle
        if not lifecycle.admit():
            await send_problem(scope, send, 503, "the service is busy; retry shortly", "busy")
            return
        lifecycle.preparing += 1
        ticket = Ticket(lifecycle)
        scope.setdefault("state", {})["ticket"] = ticket
        try:
            await self.app(scope, receive, send)
        finally:
            ticket.queued()
            lifecycle.release()


async def received_in_full(receive: Receive) -> Receive:
    """Read a request's whole body now; a receive that hands it over as one message (then waits as `receive`)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            pending = [message]  # the client left: the app sees it as it would have
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
            break

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


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
                detail = "the service is shutting down; retry on another instance"
                await send_problem(scope, send_with_id, 503, detail, "shutting_down", CLOSE)
            elif has_nul(scope):
                detail = "the URL holds a NUL character (%00), which no id or text may contain"
                await send_problem(scope, send_with_id, 400, detail, "bad_request")
            else:
                await self.app(scope, receive, send_with_id)
        except ClientDisconnect:  # the client hung up mid-body: nobody to answer, and no error of the service
            if not started:
                status = CLIENT_CLOSED
            route = getattr(scope.get("route"), "path_format", "unmatched")  # templates: no ids in the log
            log.info(
                "client closed %s %s before its body was read (request %s)",
                scope["method"],
                route,
                request_id,
            )
        except Exception:
            route = getattr(scope.get("route"), "path_format", "unmatched")
            log.exception("unhandled error in %s %s (request %s)", scope["method"], route, request_id)
            if started:
                raise
            await send_problem(scope, send_with_id, 500, f"internal error (request id {request_id})")
        finally:
            self.lifecycle.inflight -= 1
            self._record(scope, request_id, status, time.perf_counter() - start)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        """Metrics by route template (not raw path) and one structured access-log line."""
        route: Any = scope.get("route")
        template = getattr(route, "path_format", None) or (  # the template without converters (":path")
            scope["path"] if scope["path"] in self.known_paths else "unmatched"
        )
        self.metrics.observe_request(template, scope["method"], status, seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return
        fields = {
            "request_id": request_id,
            "method": scope["method"],
            "path": template,  # the route's template: ids in paths (shoppers, products) never reach the log
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
