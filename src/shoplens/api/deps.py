"""Dependencies routes declare with Annotated: the service, the catalogue, a request's database session, the
caller's role checked against API keys, and the shopper a path or query names (pseudonymised on the way in).

Few and `async`: FastAPI runs a plain `def` dependency in a worker thread, and each one costs per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shoplens.api.keys import Principal, Role, role_allows
from shoplens.api.service import Service
from shoplens.behaviour.events import MAX_ID, user_key
from shoplens.catalog.service import Catalog
from shoplens.config import Settings
from shoplens.errors import ForbiddenError
from shoplens.recommend.recommender import Recommender

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


async def get_catalog(service: ServiceDep) -> Catalog:
    """The catalogue (opened in a worker thread the first time: opening it migrates the database)."""
    return service.catalog() if service.catalog_open else await run_in_threadpool(service.catalog)


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


async def get_session(catalog: CatalogDep) -> AsyncIterator[Session]:
    """A database session for this request, closed after it (a session connects only when first used)."""
    session = catalog.sessions()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


async def get_recommender(service: ServiceDep, catalog: CatalogDep) -> Recommender:
    """The recommender of the catalogue (one statistics snapshot shared by all requests)."""
    return service.recommender()


RecommenderDep = Annotated[Recommender, Depends(get_recommender)]


@dataclass(frozen=True)
class Shopper:
    """A shopper as a request names them (`id`) and the key their rows are stored under (`key`)."""

    id: str
    key: str


async def path_shopper(
    service: ServiceDep,
    user_id: Annotated[
        str, Path(min_length=1, max_length=MAX_ID, description="The shopper's id, as sent in events.")
    ],
) -> Shopper:
    """The shopper of a `/users/{user_id}` path, pseudonymised with the service's secret."""
    return Shopper(user_id, user_key(user_id, service.settings.user_id_secret))


async def query_shopper(
    service: ServiceDep,
    user_id: Annotated[
        str | None, Query(min_length=1, max_length=MAX_ID, description="The shopper (none: anonymous).")
    ] = None,
) -> Shopper | None:
    """The shopper of a `?user_id=` query (None when absent), pseudonymised with the service's secret."""
    return None if user_id is None else Shopper(user_id, user_key(user_id, service.settings.user_id_secret))


ShopperDep = Annotated[Shopper, Depends(path_shopper)]
OptionalShopperDep = Annotated[Shopper | None, Depends(query_shopper)]


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers whose key has `role` or a stronger one (anyone in open mode)."""

    async def caller(
        service: ServiceDep,
        api_key: Annotated[str | None, Depends(api_key_header)],
        token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        presented = api_key or (token.credentials if token else None)
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
