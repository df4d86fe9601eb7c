"""The catalogue's dependencies: the catalogue, a request's database session, the recommender, and the shopper a
path or query names (pseudonymised on the way in). Only the catalogue API's routes import them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query
from pydantic import StringConstraints
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shoplens.api.deps import ServiceDep
from shoplens.api.errors import invalid
from shoplens.api.openapi import raises
from shoplens.behaviour.events import MAX_ID, user_key
from shoplens.catalog.queries import Scope, check_statuses
from shoplens.catalog.service import Catalog
from shoplens.db.catalog import PRODUCT_STATUSES
from shoplens.errors import CatalogInputError
from shoplens.fields import MAX_INT
from shoplens.recommend.recommender import Recommender

RowId = Annotated[int, Path(ge=1, le=MAX_INT, description="The id the service gave it.")]


@raises(503)  # its database cannot be opened (DatabaseError), or no model is loaded yet
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


async def category_filter(
    catalog: CatalogDep,
    category: Annotated[
        str | None, Query(max_length=64, description="Only products declared in this category.")
    ] = None,
) -> str | None:
    """A `?category=` filter, 422 naming the taxonomy when it names no category of it (it matched nothing)."""
    try:
        await run_in_threadpool(catalog.check_category, category)
    except CatalogInputError as e:
        raise invalid(("query", "category"), str(e)) from None
    return category


CategoryFilterDep = Annotated[str | None, Depends(category_filter)]
MAX_STATUSES = 10  # status values in one request


async def scope_filter(
    category: CategoryFilterDep,
    merchant: Annotated[str | None, Query(description="Only this merchant's products.")] = None,
    status: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=100)]],
        Query(
            max_length=MAX_STATUSES,
            description="Only products of these statuses, any of them (repeat, or a comma list): "
            f"{', '.join(PRODUCT_STATUSES)}. A shop front asks for `active`.",
        ),
    ] = [],  # noqa: B006 (FastAPI copies defaults)
    in_stock: Annotated[bool, Query(description="Only products with stock left.")] = False,
) -> Scope:
    """The filters lists and searches share, 422 for a status that is none of the products' statuses."""
    try:
        statuses = check_statuses(status)
    except CatalogInputError as e:
        raise invalid(("query", "status"), str(e)) from None
    return Scope(category, merchant, statuses, in_stock)


ScopeDep = Annotated[Scope, Depends(scope_filter)]


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
    if not user_id.strip():  # ids are stripped: a blank one names nobody
        raise HTTPException(422, "the shopper's id is blank")
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
