"""Profiles: decayed, type-weighted category affinity; the taste vector as the weighted mean embedding; caching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select

from shoplens.behaviour.events import EventIn, record_events
from shoplens.behaviour.profiles import ProfileConfig, compute_profile, load_profile, segment_at
from shoplens.catalog.queries import product_vectors
from shoplens.catalog.service import Catalog
from shoplens.db.base import as_utc
from shoplens.db.behaviour import UserProfile

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CONFIG = ProfileConfig(half_life_days=14.0)


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def record(catalog: Catalog, *events: tuple[str, str, int, float]) -> None:
    """(event id, type, product id, days ago) events of user u1."""
    batch = [EventIn(eid, "u1", kind, at(ago), pid, session_id="s") for eid, kind, pid, ago in events]
    assert record_events(catalog.sessions, batch, now=NOW).count("accepted") == len(batch)


def test_affinity_weighs_event_types_and_decays_with_age(catalog: Catalog, shop: list[int]) -> None:
    coat, bag = shop[0], shop[1]  # categories Coat, Bag (see stock_shop)
    record(catalog, ("v", "view", coat, 0), ("p", "purchase", bag, 14))
    with catalog.sessions() as s:
        profile = compute_profile(s, "u1", "v1", CONFIG, NOW)
    assert profile is not None and profile.events == 2
    # A view now weighs 1; a purchase weighs 6, halved after one half-life: 3.
    assert list(profile.affinity) == ["Bag", "Coat"]
    assert np.isclose(profile.affinity["Bag"], 0.75) and np.isclose(profile.affinity["Coat"], 0.25)
    assert profile.top_categories(1) == [("Bag", profile.affinity["Bag"])]
    assert profile.recent == [coat, bag]


def test_the_segment_at_a_past_time_counts_only_the_events_before_it(
    catalog: Catalog, shop: list[int]
) -> None:
    coat, bag = shop[0], shop[1]
    record(catalog, ("v1", "view", coat, 10), ("v2", "view", coat, 10), ("c", "add_to_cart", bag, 1))
    with catalog.sessions() as s:
        assert segment_at(s, "u1", NOW - timedelta(days=20), CONFIG) == "all"  # nothing yet
        assert segment_at(s, "u1", NOW - timedelta(days=10), CONFIG) == "all"  # strictly before
        assert segment_at(s, "u1", NOW - timedelta(days=5), CONFIG) == "Coat"
        # The cart (4, a day old) outweighs two views (1 each, ten days old): the top category moves.
        assert segment_at(s, "u1", NOW, CONFIG) == "Bag"
        profile = compute_profile(s, "u1", "v1", CONFIG, NOW)
    assert profile is not None and profile.segment == "Bag"


def test_taste_is_the_weighted_mean_of_the_embeddings(catalog: Catalog, shop: list[int]) -> None:
    a, b = shop[2], shop[3]
    record(catalog, ("1", "view", a, 0), ("2", "view", a, 0), ("3", "add_to_cart", b, 14))
    with catalog.sessions() as s:
        profile = compute_profile(s, "u1", "v1", CONFIG, NOW)
        vectors = product_vectors(s, "v1", [a, b])
    assert profile is not None and profile.taste is not None
    expected = 2.0 * vectors[a] + 2.0 * vectors[b]  # two views now; a cart (4) one half-life ago
    assert np.allclose(profile.taste, expected / np.linalg.norm(expected), atol=1e-6)
    assert profile.recent == [a, b]


def test_no_events_no_profile(catalog: Catalog) -> None:
    with catalog.sessions() as s:
        assert compute_profile(s, "nobody", "v1", CONFIG, NOW) is None
    assert load_profile(catalog.sessions, "nobody", "v1", CONFIG, NOW) is None


def test_profile_is_cached_until_new_events_arrive_or_it_expires(catalog: Catalog, shop: list[int]) -> None:
    record(catalog, ("1", "view", shop[0], 1))
    first = load_profile(catalog.sessions, "u1", "v1", CONFIG, NOW)
    with catalog.sessions() as s:
        row = s.get(UserProfile, "u1")
        assert row is not None and row.events == 1 and row.model_version == "v1"
    cached = load_profile(catalog.sessions, "u1", "v1", CONFIG, NOW + timedelta(seconds=CONFIG.cache_ttl_s))
    assert cached is not None and first is not None and cached.affinity == first.affinity
    assert (
        np.allclose(cached.taste, first.taste) and cached.updated_at == first.updated_at
    )  # served from the row
    later = NOW + timedelta(seconds=CONFIG.cache_ttl_s + 1)
    expired = load_profile(catalog.sessions, "u1", "v1", CONFIG, later)
    assert expired is not None and expired.updated_at == later  # computed again, and cached anew
    with catalog.sessions() as s:
        assert as_utc(s.get(UserProfile, "u1").updated_at) == later  # type: ignore[union-attr]
    record(catalog, ("2", "purchase", shop[1], 0))
    with catalog.sessions() as s:
        assert s.scalars(select(UserProfile)).all() == []
    fresh = load_profile(catalog.sessions, "u1", "v1", CONFIG, NOW)
    assert fresh is not None and fresh.events == 2 and list(fresh.affinity) == ["Bag", "Coat"]
    # Another model version's profile is not served from the cache.
    assert load_profile(catalog.sessions, "u1", "v2", CONFIG, NOW).taste is None  # type: ignore[union-attr]
