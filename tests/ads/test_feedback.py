"""Impressions and clicks fed back (SQLite and PostgreSQL): idempotent, counted per segment, charged, reported."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from shoplens.ads.feedback import apply_ad_event, record_ad_event
from shoplens.ads.reports import campaign_report, campaign_reports
from shoplens.catalog.service import Catalog
from shoplens.db.ads import AdStat, Campaign
from shoplens.db.base import utcnow
from shoplens.db.behaviour import Event
from shoplens.errors import NotFoundError
from tests.support.images import photos
from tests.support.shop import add_products, new_campaign, new_creative, served, view

PHOTOS = photos(4, seed=9)


def stats(catalog: Catalog, creative_id: int) -> dict[str, tuple[int, int]]:
    """Impressions and clicks per segment of a creative."""
    with catalog.sessions() as session:
        rows = session.scalars(select(AdStat).where(AdStat.creative_id == creative_id))
        return {r.segment: (r.impressions, r.clicks) for r in rows}


def send(catalog: Catalog, event_id: str, kind: str, creative_id: int, user: str = "u", **kw: object) -> bool:
    """Record one ad event in its own transaction (a click with a valid impression token); whether it was new."""
    with catalog.sessions.begin() as session:
        return record_ad_event(
            session,
            event_id=event_id,
            kind=kind,
            creative_id=creative_id,  # type: ignore[arg-type]
            user_id=user,
            impression=served(creative_id),
            **kw,
        ).recorded


def test_a_repeated_event_id_is_ignored(catalog: Catalog) -> None:
    campaign = new_campaign(catalog, bid="0.25")
    creative = new_creative(catalog, campaign, PHOTOS[0])
    assert send(catalog, "e1", "ad_impression", creative.id) is True
    assert send(catalog, "e1", "ad_impression", creative.id) is False
    assert send(catalog, "e2", "ad_click", creative.id) is True
    assert send(catalog, "e2", "ad_click", creative.id) is False
    assert send(catalog, "e1", "ad_click", creative.id) is False  # the id decides, whatever the body
    assert stats(catalog, creative.id) == {"all": (1, 1)}
    with catalog.sessions() as session:
        assert session.get(Campaign, campaign).spent == Decimal("0.25")
        assert session.scalar(select(func.count()).select_from(Event)) == 2
    with pytest.raises(NotFoundError):
        send(catalog, "e3", "ad_click", creative.id + 100)


def test_a_click_counts_in_the_segment_the_ad_was_shown_in(catalog: Catalog) -> None:
    (product,) = add_products(catalog, PHOTOS[:1], category="Bag")
    creative = new_creative(catalog, new_campaign(catalog), PHOTOS[1])
    now = utcnow()
    send(catalog, "i1", "ad_impression", creative.id, ts=now - timedelta(minutes=5))  # no history yet: "all"
    view(catalog, "u", [product], when=now - timedelta(minutes=2))  # now the shopper's top category is Bag
    send(catalog, "c1", "ad_click", creative.id, ts=now)
    send(catalog, "i2", "ad_impression", creative.id, ts=now)
    assert stats(catalog, creative.id) == {"all": (1, 1), "Bag": (1, 0)}
    send(catalog, "c2", "ad_click", creative.id, user="stranger", ts=now)  # a click without an impression
    assert stats(catalog, creative.id)["all"] == (2, 2)


def test_apply_ad_event_counts_an_event_stored_elsewhere(catalog: Catalog) -> None:
    creative = new_creative(catalog, new_campaign(catalog, bid="2"), PHOTOS[0])
    refusals = []
    with catalog.sessions.begin() as session:
        tokens = (None, served(creative.id), None, None)  # the second click's token is missing
        for i, (kind, token) in enumerate(zip(("ad_impression", "ad_click", "ad_click", "view"), tokens)):
            event = Event(
                event_id=f"x{i}",
                user_id="u",
                type=kind,
                ad_id=creative.id if kind != "view" else None,
                ts=utcnow(),
            )
            session.add(event)
            session.flush()
            refusals.append(apply_ad_event(session, event, token))
    assert stats(catalog, creative.id) == {"all": (1, 1)}  # the click without a token counts for nothing
    assert refusals == [None, None, "no impression token", None]


def test_reports_add_up(catalog: Catalog) -> None:
    campaign = new_campaign(catalog, "spring", budget="10", bid="0.5")
    a, b = (new_creative(catalog, campaign, p, h) for p, h in zip(PHOTOS[:2], ("A", "B")))
    idle = new_campaign(catalog, "idle")
    (product,) = add_products(catalog, PHOTOS[2:3], category="Coat")
    view(catalog, "coat-fan", [product])
    plan = [(a, "u1", 5, 2), (a, "coat-fan", 3, 1), (b, "u2", 4, 0)]  # creative, shopper, impressions, clicks
    for creative, user, shown, clicked in plan:
        for k in range(shown):
            send(catalog, f"{creative.id}-{user}-i{k}", "ad_impression", creative.id, user)
        for k in range(clicked):
            send(catalog, f"{creative.id}-{user}-c{k}", "ad_click", creative.id, user)
    with catalog.sessions() as session:
        report = campaign_report(session, campaign)
        everything = campaign_reports(session)
        theirs = campaign_reports(session, merchant="other")
    assert (report.impressions, report.clicks) == (12, 3) and report.ctr == pytest.approx(0.25)
    assert report.spent == Decimal("1.5") and report.budget_left == Decimal("8.5")
    by_id = {c.creative_id: c for c in report.creatives}
    assert (by_id[a.id].impressions, by_id[a.id].clicks, by_id[a.id].ctr) == (8, 3, 3 / 8)
    assert (by_id[b.id].impressions, by_id[b.id].clicks, by_id[b.id].ctr) == (4, 0, 0.0)
    assert sum(c.impressions for c in report.creatives) == report.impressions
    assert stats(catalog, a.id) == {"all": (5, 2), "Coat": (3, 1)}
    assert [r.campaign_id for r in everything] == [idle, campaign] and everything[0].impressions == 0
    assert theirs == []


def test_clicks_past_the_budget_charge_what_is_left_then_are_refused(catalog: Catalog) -> None:
    campaign = new_campaign(catalog, "small", budget="5", bid="2")
    creative = new_creative(catalog, campaign, PHOTOS[0])
    answers = []
    for i in range(4):
        with catalog.sessions.begin() as session:
            outcome = record_ad_event(
                session,
                event_id=f"c{i}",
                kind="ad_click",
                creative_id=creative.id,
                user_id="u",
                impression=served(creative.id),
            )
            answers.append((outcome.charged, outcome.refusal))
    assert answers == [(True, None)] * 3 + [(False, "the campaign's budget is spent")]  # 2 + 2 + the last 1
    with catalog.sessions() as session:
        report = campaign_report(session, campaign)
    assert report.spent == Decimal("5") and report.refused_clicks == 1 and report.clicks == 4
