"""Erasing a shopper: afterwards no table and no cache holds anything of them; erasing again is fine; their later
events are refused and nothing is cached for them again, even by a write racing the erasure; caches expire."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from shoplens.ads.feedback import record_ad_event
from shoplens.behaviour.erasure import (
    erase_user,
    erasure_guard,
    expire_cached,
    store_unless_erased,
    tombstone,
    user_tables,
)
from shoplens.behaviour.events import ERASED, EventIn, ShopperErasedError, record_events, user_key
from shoplens.behaviour.profiles import Profile, store_profile
from shoplens.catalog.service import Catalog
from shoplens.db.ads import Campaign, Creative
from shoplens.db.base import utcnow
from shoplens.db.behaviour import CachedRecommendation, ErasedShopper, UserProfile
from shoplens.recommend.cache import store_cached
from shoplens.recommend.items import Recommendations
from shoplens.recommend.recommender import Recommender
from shoplens.recommend.stats import StatsConfig
from tests.support.privacy import mentions

SECRET = SecretStr("erase-test")


def creative(catalog: Catalog) -> int:
    """A creative of a running campaign; its id."""
    with catalog.sessions.begin() as s:
        campaign = Campaign(name="Winter", budget=Decimal(100), bid=Decimal("0.5"))
        s.add(campaign)
        s.flush()
        row = Creative(campaign_id=campaign.id, headline="Coats", sha256="0" * 64)
        s.add(row)
        s.flush()
        return row.id


def test_erased_user_leaves_nothing_in_any_table_or_cache(catalog: Catalog, shop: list[int]) -> None:
    ad = creative(catalog)
    events = [
        EventIn(f"e{n}{p}", u, "view", "2026-11-27T10:00:00Z", p, session_id=f"s{n}")
        for n, u in enumerate(("gone", "stays"))
        for p in shop[:3]
    ]
    events.append(EventIn("ad", "gone", "ad_click", "2026-11-27T10:05:00Z", ad_id=ad))
    assert record_events(catalog.sessions, events, SECRET).count("accepted") == 7
    gone, stays = user_key("gone", SECRET), user_key("stays", SECRET)
    rec = Recommender(catalog, stats=StatsConfig(min_age_s=0))
    for user in (gone, stays):
        rec.recommend(user, 3)  # caches a profile and recommendations
    assert {"events.user_id", "user_profiles.user_id", "recommendation_cache.user_id"} <= set(
        mentions(catalog.sessions, gone)
    )
    assert mentions(catalog.sessions, "gone") == []  # pseudonymised: the raw id was never stored
    assert {t.name for t in user_tables()} >= {"events", "user_profiles", "recommendation_cache"}

    deleted = erase_user(catalog.sessions, ["gone", gone])
    assert deleted == {"events": 4, "user_profiles": 1, "recommendation_cache": 1}
    rec.stats.clear()
    assert mentions(catalog.sessions, gone) == [] and mentions(catalog.sessions, "gone") == []
    assert set(mentions(catalog.sessions, stays)) >= {"events.user_id", "user_profiles.user_id"}
    # The co-visitation snapshot now holds only what the remaining user did: each pair once, not twice.
    stats = rec.stats.get()
    r0, r1 = stats.rows(shop[:2])
    assert stats.covis[r0, r1] == 1
    assert erase_user(catalog.sessions, ["gone", gone]) == {
        "events": 0,
        "user_profiles": 0,
        "recommendation_cache": 0,
    }
    with catalog.sessions() as s:  # one tombstone per key, kept once however often they are erased
        assert len(s.scalars(select(ErasedShopper.digest)).all()) == 2


def test_an_erased_shoppers_later_events_are_refused_and_nothing_is_cached_for_them(
    catalog: Catalog, shop: list[int]
) -> None:
    ad = creative(catalog)
    gone = user_key("gone", SECRET)
    first = [EventIn("e1", "gone", "view", "2026-11-27T10:00:00Z", shop[0])]
    assert record_events(catalog.sessions, first, SECRET).count("accepted") == 1
    erase_user(catalog.sessions, ["gone", gone])

    late = [
        EventIn("e2", "gone", "purchase", "2026-11-27T10:01:00Z", shop[1]),
        EventIn("e3", "stays", "view", "2026-11-27T10:01:00Z", shop[1]),
    ]
    outcome = record_events(catalog.sessions, late, SECRET)
    assert [(r.status, r.reason) for r in outcome.results] == [("rejected", ERASED), ("accepted", None)]
    with catalog.sessions.begin() as s, pytest.raises(ShopperErasedError):
        record_ad_event(s, event_id="a1", kind="ad_impression", creative_id=ad, user_id="gone", secret=SECRET)

    profile = Profile(gone, 1, {"Coat": 1.0}, None, [shop[0]], "v1", utcnow())
    store_profile(catalog.sessions, profile)  # as a request that read the events before the erasure would
    store_cached(catalog.sessions, Recommendations(gone, 3, [], False, "v1", utcnow()), 600)
    Recommender(catalog, stats=StatsConfig(min_age_s=0)).recommend(gone, 3)
    assert mentions(catalog.sessions, gone) == [] and mentions(catalog.sessions, "gone") == []


def test_writes_racing_an_erasure_wait_for_it_and_store_nothing(catalog: Catalog, shop: list[int]) -> None:
    stored: list[object] = []
    row = UserProfile(user_id="racer", affinity="{}", recent="[]", events=1, updated_at=utcnow())
    event = EventIn("late", "racer", "view", "2026-11-27T10:00:00Z", shop[0])
    writers = [
        threading.Thread(target=lambda: stored.append(store_unless_erased(catalog.sessions, row))),
        threading.Thread(
            target=lambda: stored.append(record_events(catalog.sessions, [event]).results[0].reason)
        ),
    ]
    with catalog.sessions.begin() as s:  # an erasure in progress: guard held, tombstone not yet committed
        erasure_guard(s, exclusive=True)
        s.add(ErasedShopper(digest=tombstone("racer"), erased_at=utcnow()))
        for writer in writers:
            writer.start()
        writers[0].join(0.5)
        assert all(w.is_alive() for w in writers)  # they wait for the erasure to end
    for writer in writers:
        writer.join(15)
    assert sorted(map(str, stored)) == sorted(["False", ERASED]) and mentions(catalog.sessions, "racer") == []


def test_cached_rows_older_than_the_ttl_are_deleted(catalog: Catalog) -> None:
    now = utcnow()
    with catalog.sessions.begin() as s:
        for user, age in (("old", 601), ("new", 599)):
            at = now - timedelta(seconds=age)
            s.add(UserProfile(user_id=user, affinity="{}", recent="[]", events=1, updated_at=at))
            s.add(CachedRecommendation(user_id=user, k=10, payload="{}", created_at=at))
    assert expire_cached(catalog.sessions, now, 600) == 2
    assert mentions(catalog.sessions, "old") == []
    assert set(mentions(catalog.sessions, "new")) == {"user_profiles.user_id", "recommendation_cache.user_id"}
