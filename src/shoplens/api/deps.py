"""Dependencies routes declare with Annotated: the service, its settings, and the caller's role checked against
API keys. The catalogue's (its database session, the recommender, the shopper a request names) are in
`catalog_deps`, so that the routes served without the catalogue never import it.

Few and `async`: FastAPI runs a plain `def` dependency in a worker thread, and each one costs per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from shoplens.api.keys import Principal, Role, role_allows
from shoplens.api.service import Service
from shoplens.config import Settings
from shoplens.errors import ForbiddenError

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


def authorize(service: Service, api_key: str | None, bearer_token: str | None, role: Role) -> Principal:
    """The caller a presented key belongs to, if it has `role` or a stronger one (anyone in open mode); else 401/403."""
    presented = api_key or bearer_token
    if presented is None:
        if service.settings.open_mode:
            return Principal(None, "admin")
        raise HTTPException(
            401, "an API key is required: send it as X-API-Key (or Authorization: Bearer)", CHALLENGE
        )
    principal = service.keys.verify(presented)
    if principal is None:
        raise HTTPException(401, "invalid API key", CHALLENGE)
    if not role_allows(principal.role, role):
        raise HTTPException(403, f"this needs the {role} role; the key has the {principal.role} role")
    return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers whose key has `role` or a stronger one (anyone in open mode)."""

    async def caller(
        service: ServiceDep,
        api_key: Annotated[str | None, Depends(api_key_header)],
        token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        return authorize(service, api_key, token.credentials if token else None, role)

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
