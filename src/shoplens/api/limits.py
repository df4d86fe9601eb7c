"""A limit on the requests one caller has in flight: one API key, or one client address without a valid key."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from shoplens.api.keys import KeyFileError, KeyStore
from shoplens.api.middleware import CLOSE, has_body
from shoplens.api.problems import send_problem

EXEMPT = frozenset({"/livez", "/readyz", "/metrics"})  # probes are never limited
RETRY_AFTER = {"Retry-After": "1"}
VERIFIED = "verified_key"  # request state: (the presented key, its Principal), set by caller_of


def presented_key(scope: Scope) -> str | None:
    """The API key a request presents: X-API-Key, else an Authorization Bearer token."""
    bearer = None
    for name, value in scope.get("headers", []):
        if name == b"x-api-key":
            return value.decode("latin-1")
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = value[7:].decode("latin-1").strip()
    return bearer


def caller_of(scope: Scope, keys: KeyStore) -> str:
    """Whom a request counts against: its key's id when the key is valid, else its client address.

    The verified key is left in the request's state (VERIFIED), so the route's key check need not repeat it.
    """
    key = presented_key(scope)
    if key:
        try:
            principal = keys.verify(key)
        except KeyFileError:  # answered by the route (503); the address stands in meanwhile
            principal = None
        if principal is not None and principal.key_id:
            scope.setdefault("state", {})[VERIFIED] = (key, principal)
            return f"key:{principal.key_id}"
    client = scope.get("client")
    return f"addr:{client[0] if client else ''}"


class CallerLimitMiddleware:
    """429 + Retry-After at once for a caller that already has `limit` requests in flight.

    A caller is an API key (verified, so no one spends another key's share by naming it), or, in open mode and
    for requests without a valid key, the client address. Counted before the body is read, so one client's
    slow or stalled uploads take its own share only.
    """

    def __init__(self, app: ASGIApp, keys: KeyStore, limit: int) -> None:
        self.app = app
        self.keys = keys
        self.limit = limit
        self.inflight: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        caller = caller_of(scope, self.keys)
        count = self.inflight.get(caller, 0)
        if count >= self.limit:
            detail = f"this caller already has {self.limit} requests in flight; retry when one is answered"
            headers = {**RETRY_AFTER, **CLOSE} if has_body(scope) else RETRY_AFTER  # the body is not read
            await send_problem(scope, send, 429, detail, "too_many_requests", headers)
            return
        self.inflight[caller] = count + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self.inflight[caller] - 1
            if left:
                self.inflight[caller] = left
            else:
                del self.inflight[caller]
