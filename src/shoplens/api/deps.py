"""Dependencies routes declare with Annotated: the service, its settings, and the caller's role checked against
API keys. The catalogue's (its database session, the recommender, the shopper a request names) are in
`catalog_deps`, so that the routes served without the catalogue never import it.

Few and `async`: FastAPI runs a plain `def` dependency in a worker thread, and each one costs per request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from shoplens.api.keys import ROLES, KeyFileError, Principal, Role, Scope, role_allows
from shoplens.api.limits import VERIFIED
from shoplens.api.openapi import raises
from shoplens.api.service import Service
from shoplens.config import Settings, is_loopback
from shoplens.errors import ForbiddenError, ServiceUnavailableError

log = logging.getLogger(__name__)
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key from `shoplens keys create`."
)
bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="shoplens"'}


async def get_service(request: Request) -> Service:
    """The app's service (settings, model handle, batcher, keys, metrics, lifecycle)."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_settings(service: ServiceDep) -> Settings:
    """The service's settings."""
    return service.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def open_caller(settings: Settings, request: Request | None, role: Role) -> Principal:
    """An anonymous caller in open mode: a reader (an admin with open_write), refused for foreign sites.

    The Host must be a loopback name (DNS rebinding gives another), and a state-changing request must come from
    the service's own origin (a web page elsewhere sends its own Origin, or Sec-Fetch-Site: cross-site).
    """
    if request is not None:
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if not (is_loopback(name) or name.lower().endswith(".localhost")):
            raise ForbiddenError("open mode answers only loopback host names (localhost, 127.0.0.1, [::1])")
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            if request.headers.get("sec-fetch-site") == "cross-site" or (
                origin is not None and urlsplit(origin).netloc != host
            ):
                raise ForbiddenError("open mode refuses changes asked by another site")
    principal = Principal(None, "admin" if settings.open_write else "reader")
    if not role_allows(principal.role, role):
        raise ForbiddenError(f"open mode is read-only (this needs the {role} role): serve with --open-write")
    return principal


def verified_key(service: Service, presented: str, request: Request | None) -> Principal | None:
    """The principal of a presented key: as the per-caller limit verified it for this request, else checked now."""
    seen = request.scope.get("state", {}).get(VERIFIED) if request is not None else None
    if seen is not None and seen[0] == presented:
        return seen[1]
    return service.keys.verify(presented)


def authorize(
    service: Service,
    api_key: str | None,
    bearer_token: str | None,
    role: Role,
    request: Request | None = None,
) -> Principal:
    """The caller a presented key belongs to, if it has `role` or a stronger one; else 401/403.

    Without a key in open mode: `open_caller`.
    """
    presented = api_key or bearer_token
    if presented is None:
        if service.settings.open_mode:
            return open_caller(service.settings, request, role)
        raise HTTPException(
            401, "an API key is required: send it as X-API-Key (or Authorization: Bearer)", CHALLENGE
        )
    try:
        principal = verified_key(service, presented, request)
    except KeyFileError as e:  # the reason (with the file's path) goes to the log, not to the caller
        log.error("API keys unavailable: %s", e)
        raise ServiceUnavailableError("API keys cannot be checked right now") from None
    if principal is None:
        raise HTTPException(401, "invalid API key", CHALLENGE)
    if not role_allows(principal.role, role):
        raise HTTPException(403, f"this needs the {role} role; the key has the {principal.role} role")
    return principal


def require(role: Role, scope: Scope | None = None) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers whose key has `role` or a stronger one (anyone in open mode) and, when
    given, holds `scope` (an admin holds every scope)."""

    refusals = (
        (401,) if role == ROLES[0] and scope is None else (401, 403)
    )  # the weakest role is never refused

    @raises(*refusals)
    async def caller(
        request: Request,
        service: ServiceDep,
        api_key: Annotated[str | None, Depends(api_key_header)],
        token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        principal = authorize(service, api_key, token.credentials if token else None, role, request)
        if scope is not None and not principal.holds(scope):
            raise ForbiddenError(
                f"this needs a key with the {scope} scope (`shoplens keys create --scope {scope}`)"
            )
        return principal

    return caller


def acting_merchant(caller: Principal, requested: str | None, field: str = "merchant") -> str:
    """The merchant a new product or campaign belongs to: a merchant key's own (another is 403); an admin names one."""
    if caller.merchant is not None:
        if requested not in (None, caller.merchant):
            raise ForbiddenError(f"this key acts for merchant {caller.merchant!r}, not {requested!r}")
        return caller.merchant
    if requested is None:
        raise HTTPException(422, f"{field} is required with an admin key")
    if caller.role != "admin":
        raise ForbiddenError("only merchant and admin keys may create this")
    return requested


ReaderDep = Annotated[Principal, Depends(require("reader"))]
MerchantDep = Annotated[Principal, Depends(require("merchant"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]
ShopperDataDep = Annotated[Principal, Depends(require("reader", "shopper-data"))]  # shopper profiles
