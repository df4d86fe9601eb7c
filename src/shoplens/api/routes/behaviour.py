"""Shopper behaviour: events in, profiles, recommendations, related products, category trends, erasure."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from shoplens.ads.feedback import ad_event_counter
from shoplens.api.behaviour_schemas import (
    CategoryShare,
    ErasurePublic,
    EventBatch,
    EventBatchResult,
    EventResultPublic,
    ProfilePublic,
    RecommendationPublic,
    RecommendationsPublic,
    RelatedPublic,
    TrendRowPublic,
    TrendsPublic,
)
from shoplens.api.catalog_deps import CatalogDep, RecommenderDep, RowId, SessionDep, ShopperDep
from shoplens.api.deps import AdminDep, ReaderDep, SettingsDep, ShopperDataDep
from shoplens.api.openapi import problems
from shoplens.api.routes.ads import token_key
from shoplens.behaviour.erasure import erase_shopper
from shoplens.behaviour.events import MAX_BATCH, EventIn, record_events
from shoplens.behaviour.trends import MAX_DAYS, category_trends, trend_window
from shoplens.db.base import utcnow
from shoplens.errors import NotFoundError
from shoplens.recommend.explain import impersonal
from shoplens.recommend.items import Recommendation

router = APIRouter(prefix="/v1", tags=["behaviour"])
CODES = {"accepted": 201, "duplicate": 200, "rejected": 422}
K = Annotated[int, Query(ge=1, le=100, description="How many products.")]


def _items(items: list[Recommendation], personal: bool = True) -> list[RecommendationPublic]:
    """The public items; not personal: reasons that name nothing from the shopper's history."""
    return [
        RecommendationPublic(
            **{**asdict(i), "reason": i.reason if personal else impersonal(i.source, i.reason)}
        )
        for i in items
    ]


def _sendable(text: str) -> str:
    """The text as a JSON answer can carry it: a lone surrogate (refused event ids hold them) as \\udxxx."""
    return text.encode("utf-8", "backslashreplace").decode()


@router.post(
    "/events",
    response_model=EventBatchResult,
    operation_id="recordEvents",
    summary="Record a batch of shopper events",
    responses=problems(413),
)
def post_events(
    batch: EventBatch,
    _caller: ReaderDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    recommender: RecommenderDep,
) -> EventBatchResult:
    """Store each valid event; a repeated event_id is ignored; a bad event is rejected alone (per-event results)."""
    if len(batch.events) > MAX_BATCH:
        raise HTTPException(
            413, f"at most {MAX_BATCH} events per request, got {len(batch.events)}: split the batch"
        )
    events = [
        EventIn(e.event_id, e.user_id, e.type, e.timestamp, e.product_id, e.ad_id, e.session_id)
        for e in batch.events
    ]
    # by the event_id as stored (stripped), which the counter looks them up by
    tokens = {e.event_id.strip(): e.impression_token for e in batch.events if e.impression_token}
    count = ad_event_counter(token_key(settings), tokens, utcnow())
    outcome = record_events(catalog.sessions, events, settings.user_id_secret, on_new=count)
    if outcome.users:
        recommender.stats.mark_dirty()
    results = [
        EventResultPublic(
            event_id=_sendable(r.event_id),
            status=r.status,  # type: ignore[arg-type]
            code=CODES[r.status],
            reason=r.reason,
        )
        for r in outcome.results
    ]
    return EventBatchResult(
        accepted=outcome.count("accepted"),
        duplicates=outcome.count("duplicate"),
        rejected=outcome.count("rejected"),
        results=results,
    )


@router.get(
    "/users/{user_id:path}/profile",
    response_model=ProfilePublic,
    operation_id="getShopperProfile",
    summary="A shopper's profile",
    responses=problems(403, 404),
)
def get_profile(shopper: ShopperDep, _caller: ShopperDataDep, recommender: RecommenderDep) -> ProfilePublic:
    """Category affinity (top categories first), visual taste vector and recent products of a shopper.

    Shopper data: a key with the `shopper-data` scope, or an admin key; any other (perhaps a competitor
    merchant's) gets 403.
    """
    profile = recommender.profile(shopper.key)
    if profile is None:
        raise NotFoundError(f"no events recorded for user {shopper.id!r}")
    return ProfilePublic(
        user_id=shopper.id,
        events=profile.events,
        model_version=profile.model_version,
        updated_at=profile.updated_at,
        top_categories=[CategoryShare(category=c, weight=w) for c, w in profile.top_categories()],
        affinity=profile.affinity,
        recent=profile.recent,
        taste=None if profile.taste is None else [float(x) for x in profile.taste],
    )


@router.get(
    "/users/{user_id:path}/recommendations",
    response_model=RecommendationsPublic,
    operation_id="getRecommendations",
    summary="Recommendations for a shopper",
    responses=problems(404),  # an id holding a line break matches no route
)
def get_recommendations(
    shopper: ShopperDep, caller: ReaderDep, recommender: RecommenderDep, k: K = 10
) -> RecommendationsPublic:
    """Products for a shopper, each with its reason; trending products for a shopper without history.

    Reasons name the products the shopper viewed ("looks like X you viewed"), and products the shopper viewed are
    among them, only for a key with the `shopper-data` scope, or an admin key; others get reasons that name
    nothing from the shopper's history and no product the shopper has an event of.
    """
    personal = caller.holds("shopper-data")
    rec = recommender.recommend(shopper.key, k, hide_touched=not personal)
    return RecommendationsPublic(
        user_id=shopper.id,
        k=k,
        cold_start=rec.cold_start,
        cached=rec.cached,
        model_version=rec.model_version,
        generated_at=rec.generated_at,
        items=_items(rec.items, personal=personal),
    )


@router.get(
    "/products/{product_id}/related",
    response_model=RelatedPublic,
    operation_id="listRelatedProducts",
    summary="Products related to a product",
    responses=problems(404),
)
def get_related(
    product_id: RowId, _caller: ReaderDep, recommender: RecommenderDep, k: K = 10
) -> RelatedPublic:
    """Products that look like this one or were viewed in the same sessions, in stock, best first."""
    return RelatedPublic(product_id=product_id, items=_items(recommender.related(product_id, k)))


@router.get(
    "/trends/categories",
    response_model=TrendsPublic,
    operation_id="getCategoryTrends",
    summary="Category trends per day",
)
def get_trends(
    _caller: ReaderDep,
    session: SessionDep,
    days: Annotated[
        int, Query(ge=1, le=MAX_DAYS, description="The last this many UTC days, today included.")
    ] = 30,
    category: Annotated[str | None, Query(max_length=64)] = None,
) -> TrendsPublic:
    """Uploads, views, carts and purchases per category per UTC day."""
    start, end = trend_window(days)
    rows = category_trends(session, start, end, category)
    return TrendsPublic(start=start, end=end, rows=[TrendRowPublic(**asdict(r)) for r in rows])


@router.delete("/users/{user_id:path}/profile", include_in_schema=False)
@router.delete("/users/{user_id:path}/recommendations", include_in_schema=False)
def delete_user_part() -> None:
    """Refuse to erase a shopper by a sub-resource's path, which would erase a shopper named `<id>/profile`."""
    raise HTTPException(
        405,
        "a shopper is erased by DELETE /v1/users/{user_id}, profile and recommendations with it"
        " (a shopper id that ends in /profile or /recommendations: shoplens events erase ID)",
        headers={"Allow": "GET"},
    )


@router.delete(
    "/users/{user_id:path}",
    response_model=ErasurePublic,
    operation_id="eraseShopper",
    summary="Erase a shopper",
    responses=problems(404),  # an id holding a line break matches no route (erase it with the CLI)
)
def delete_user(
    shopper: ShopperDep,
    _caller: AdminDep,
    catalog: CatalogDep,
    recommender: RecommenderDep,
    vacuum: Annotated[bool, Query(description="SQLite: also rewrite the database file (slow).")] = False,
) -> ErasurePublic:
    """Delete the shopper's events (ad impressions and clicks too), profile and cached recommendations; repeatable.

    Their later events are refused (a tombstone remembers a digest of their id, not the id). SQLite's write-ahead
    log is emptied; with vacuum, the database file is rewritten too (slow on a large catalogue).
    """
    keys = {shopper.id, shopper.key}  # rows from before a secret was set, too
    deleted = erase_shopper(catalog.sessions, catalog.engine, keys, vacuum)
    recommender.stats.clear()
    return ErasurePublic(user_id=shopper.id, deleted=deleted)
