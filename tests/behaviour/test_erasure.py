"""Erasing a shopper: afterwards no table and no cache holds anything of them; erasing again is fine."""

from __future__ import annotations

from decimal import Decimal

from pydantic import SecretStr
from sqlalchemy import select

from shoplens.behaviour.erasure import erase_user, user_tables
from shoplens.behaviour.events import EventIn, record_events, user_key
from shoplens.catalog.service import Catalog
from shoplens.db.ads import Campaign, Creative
from shoplens.db.base import Base
from shoplens.recommend.recommender import Recommender
from shoplens.recommend.stats import StatsConfig

SECRET = SecretStr("erase-test")


def mentions(catalog: Catalog, needle: str) -> list[str]:
    """'table.column' for every stored text value, in every table, that contains the needle."""
    found = []
    with catalog.sessions() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).mappings():
                found += [
                    f"{table.name}.{col}"
                    for col, value in row.items()
                    if isinstance(value, str) and needle in value
                ]
    return found


def test_erased_user_leaves_nothing_in_any_table_or_cache(catalog: Catalog, shop: list[int]) -> None:
    with catalog.sessions.begin() as s:
        campaign = Campaign(name="Winter", budget=Decimal(100), bid=Decimal("0.5"))
        s.add(campaign)
        s.flush()
        creative = Creative(campaign_id=campaign.id, headline="Coats", sha256="0" * 64)
        s.add(creative)
        s.flush()
        ad = creative.id
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
        mentions(catalog, gone)
    )
    assert mentions(catalog, "gone") == []  # pseudonymised: the raw id was never stored
    assert {t.name for t in user_tables()} >= {"events", "user_profiles", "recommendation_cache"}

    deleted = erase_user(catalog.sessions, ["gone", gone])
    assert deleted == {"events": 4, "user_profiles": 1, "recommendation_cache": 1}
    rec.stats.clear()
    assert mentions(catalog, gone) == [] and mentions(catalog, "gone") == []
    assert set(mentions(catalog, stays)) >= {"events.user_id", "user_profiles.user_id"}
    # The co-visitation snapshot now holds only what the remaining user did: each pair once, not twice.
    stats = rec.stats.get()
    r0, r1 = stats.rows(shop[:2])
    assert stats.covis[r0, r1] == 1
    assert erase_user(catalog.sessions, ["gone", gone]) == {
        "events": 0,
        "user_profiles": 0,
        "recommendation_cache": 0,
    }
