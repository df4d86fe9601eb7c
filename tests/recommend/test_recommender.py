"""Recommendations: each source with its reason, exclusions, diversity, cold start, caching, related products."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import update

from shoplens.behaviour.events import EventIn, record_events
from shoplens.catalog.queries import product_vectors
from shoplens.catalog.service import Catalog
from shoplens.db.behaviour import CachedRecommendation
from shoplens.db.catalog import Product
from shoplens.errors import NotFoundError
from shoplens.recommend.recommender import Recommender, RecommenderConfig, mmr
from shoplens.recommend.stats import StatsConfig
from tests.behaviour.conftest import stock_shop

ONLY = RecommenderConfig(visual=0, covis=0, category=0, trending=0)


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def record(
    catalog: Catalog,
    user: str,
    products: list[int],
    kind: str = "view",
    days: float = 1,
    session: str | None = None,
) -> None:
    """One event per product, in one session (user-day by default)."""
    batch = [
        EventIn(f"{user}-{session}-{kind}-{p}-{days}", user, kind, ago(days), p, session_id=session)
        for p in products
    ]
    assert record_events(catalog.sessions, batch).count("accepted") == len(batch)


def test_mmr_spreads_over_near_identical_items() -> None:
    twins = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    relevance = np.array([1.0, 0.99, 0.5])
    assert mmr(relevance, twins, 3, lam=1.0) == [0, 1, 2]
    assert mmr(relevance, twins, 3, lam=0.5) == [0, 2, 1]


def test_purchased_and_out_of_stock_products_are_never_recommended(catalog: Catalog) -> None:
    ids = stock_shop(catalog, out_of_stock=[1, 5])
    record(catalog, "u1", ids)
    record(catalog, "u1", [ids[2]], "purchase")
    record(catalog, "u2", [ids[1], ids[5], ids[3]], session="x")
    got = [i.product_id for i in Recommender(catalog).recommend("u1", 12).items]
    assert sorted(got) == sorted(set(ids) - {ids[1], ids[5], ids[2]})


def test_viewed_together_products_carry_their_reason(catalog: Catalog, shop: list[int]) -> None:
    for n in range(3):
        record(catalog, f"other{n}", [shop[0], shop[6]], session=f"s{n}")
    record(catalog, "other9", [shop[0], shop[9]], session="s9")
    record(catalog, "u1", [shop[0]])
    first, second = Recommender(catalog, replace(ONLY, covis=1.0)).recommend("u1", 2).items
    assert (first.product_id, first.source, first.reason) == (
        shop[6],
        "covis",
        "often viewed together with Item 0",
    )
    assert second.product_id == shop[9] and second.score < first.score


def test_visual_candidates_follow_the_taste_and_name_the_most_alike_product(
    catalog: Catalog, shop: list[int]
) -> None:
    seen = [shop[0], shop[1]]
    record(catalog, "u1", seen)
    rec = Recommender(catalog, replace(ONLY, visual=1.0, mmr_lambda=1.0, seen_penalty=0.0))
    items = rec.recommend("u1", 5).items
    taste = rec.profile("u1").taste  # type: ignore[union-attr]
    with catalog.sessions() as s:
        vectors = product_vectors(s, "v1", shop)
    unseen = [p for p in shop if p not in seen]
    assert items[0].product_id == max(unseen, key=lambda p: float(vectors[p] @ taste))
    for item in items:
        alike = max(seen, key=lambda p: float(vectors[p] @ vectors[item.product_id]))
        assert item.source == "visual" and item.reason == f"looks like Item {shop.index(alike)} you viewed"


def test_category_affinity_recommends_the_favourite_category(catalog: Catalog, shop: list[int]) -> None:
    bags = [shop[1], shop[5], shop[9]]
    record(catalog, "u1", [bags[0]], "purchase")
    record(catalog, "u2", [bags[2], shop[0]], session="x")
    items = Recommender(catalog, replace(ONLY, category=1.0)).recommend("u1", 2).items
    assert [i.product_id for i in items] == [bags[2], bags[1]]  # the one others viewed is more popular
    assert {i.reason for i in items} == {"popular in Bag, a category you like"}


def test_cold_start_gives_trending_products_of_trending_categories(catalog: Catalog, shop: list[int]) -> None:
    sneakers = [shop[2], shop[6]]
    record(catalog, "old", [shop[0], shop[4], shop[8]], days=60)
    for n in range(3):
        record(catalog, f"fan{n}", sneakers, days=0.1, session=f"f{n}")
    out = Recommender(catalog).recommend("newcomer", 4)
    assert out.cold_start and not out.cached
    assert {i.product_id for i in out.items[:2]} == set(sneakers)
    assert {i.reason for i in out.items[:2]} == {"trending in Sneaker"}


def test_cache_is_used_until_new_events_and_rechecked_against_stock(
    catalog: Catalog, shop: list[int]
) -> None:
    record(catalog, "u1", shop[:3])
    rec = Recommender(catalog)
    first = rec.recommend("u1", 4)
    again = rec.recommend("u1", 4)
    assert not first.cached and again.cached and again.items == first.items
    with catalog.sessions.begin() as s:
        s.execute(update(Product).where(Product.id == first.items[0].product_id).values(stock=0))
    rechecked = rec.recommend("u1", 4)
    assert not rechecked.cached and first.items[0].product_id not in [i.product_id for i in rechecked.items]
    record(catalog, "u1", [shop[5]], days=0)
    with catalog.sessions() as s:
        assert s.get(CachedRecommendation, ("u1", 4)) is None
    assert not rec.recommend("u1", 4).cached


def test_related_blends_similar_looks_and_viewed_together(catalog: Catalog, shop: list[int]) -> None:
    for n in range(2):
        record(catalog, f"o{n}", [shop[0], shop[7]], session=f"r{n}")
    items = Recommender(catalog).related(shop[0], 5)
    assert shop[0] not in [i.product_id for i in items] and len(items) == 5
    together = next(i for i in items if i.product_id == shop[7])
    assert together.source == "covis" and together.reason == "often viewed together"
    assert {i.reason for i in items if i.source == "visual"} <= {"looks similar"}
    with pytest.raises(NotFoundError):
        Recommender(catalog).related(987_654)


def test_snapshot_is_rebuilt_after_new_events(catalog: Catalog, shop: list[int]) -> None:
    rec = Recommender(catalog, stats=StatsConfig(min_age_s=0.0, max_age_s=3600))
    assert rec.stats.get().covis.nnz == 0
    record(catalog, "u1", [shop[0], shop[1]], session="a")
    assert rec.stats.get().covis.nnz == 0  # still the old snapshot
    rec.stats.mark_dirty()
    stats = rec.stats.get()
    r0, r1 = stats.rows([shop[0], shop[1]])
    assert stats.covis[r0, r1] == stats.covis[r1, r0] == 1 and stats.popularity[r0] > 0
