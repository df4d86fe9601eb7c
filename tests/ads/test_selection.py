"""Ad selection on a catalogue (SQLite, PostgreSQL): relevance, targeting, budget, pacing, caps, Thompson sampling."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from PIL import Image

from shoplens.ads.feedback import record_ad_event
from shoplens.ads.scoring import SelectionConfig
from shoplens.ads.selection import AdRequest, select_for
from shoplens.catalog.service import Catalog
from shoplens.db.ads import AdStat, Campaign
from shoplens.db.base import utcnow
from shoplens.recommend.recommender import Recommender
from tests.support.images import photos
from tests.support.shop import add_products, new_campaign, new_creative, paid_click, view

PHOTOS = photos(12, seed=3)


def two_kinds(catalog: Catalog) -> tuple[list[Image.Image], list[Image.Image], str, str]:
    """Photos the model puts in one category and photos it puts in another (the least alike pair decides)."""
    model, probs, vectors, _ = catalog.embed(PHOTOS)
    labels = model.predictor.bundle.labels
    i, j = np.unravel_index(np.argmin(vectors @ vectors.T), (len(PHOTOS), len(PHOTOS)))
    top = probs.argmax(axis=1)
    assert top[i] != top[j], "the test photos need two predicted categories"
    same = lambda k: [p for p, t in zip(PHOTOS, top) if t == top[k]]  # noqa: E731
    return same(i), same(j), labels[top[i]], labels[top[j]]


def chosen(catalog: Catalog, request: AdRequest, **kw: object) -> list[int]:
    """The creative ids selected for a request."""
    return [ad.creative.id for ad in select_for(catalog, request, **kw).ads]  # type: ignore[arg-type]


@pytest.mark.slow
def test_without_targeting_a_creative_like_the_viewed_product_ranks_first(catalog: Catalog) -> None:
    kind_a, kind_b, _, _ = two_kinds(catalog)
    (page,) = add_products(catalog, kind_a[:1])  # no declared category: the model's counts
    similar = new_creative(catalog, new_campaign(catalog, "similar"), kind_a[-1])
    other = new_creative(catalog, new_campaign(catalog, "other"), kind_b[0])
    selection = select_for(catalog, AdRequest(context_product_id=page, slots=2), rng=0)
    assert selection.segment == "all" and selection.eligible == 2
    parts = {ad.creative.id: ad.parts for ad in selection.ads}
    assert parts[similar.id].context_similarity > parts[other.id].context_similarity  # type: ignore[operator]
    assert parts[similar.id].category_match == 1 and parts[other.id].category_match == 0
    assert (
        parts[similar.id].relevance > parts[other.id].relevance and parts[similar.id].user_similarity is None
    )
    rng = np.random.default_rng(7)
    firsts = Counter(chosen(catalog, AdRequest(context_product_id=page), rng=rng)[0] for _ in range(200))
    assert firsts[similar.id] >= 180, firsts


def test_ads_see_the_shopper_as_recommendations_do(catalog: Catalog) -> None:
    coat, bag = add_products(catalog, PHOTOS[:1], category="Coat") + add_products(
        catalog, PHOTOS[1:2], category="Bag"
    )
    view(catalog, "ann", [coat, coat, coat], when=utcnow() - timedelta(days=30))  # three views a month ago
    view(catalog, "ann", [bag, bag])  # two views now
    profile = Recommender(catalog).profile("ann")
    assert profile is not None
    # One profile, one decay: 3 × 2^(−30/14) < 2, so both see a Bag shopper now.
    assert select_for(catalog, AdRequest("ann")).segment == profile.segment == "Bag"


@pytest.mark.slow
def test_targeted_campaigns_serve_only_their_categories(catalog: Catalog) -> None:
    kind_a, kind_b, cat_a, cat_b = two_kinds(catalog)
    (page_a,) = add_products(catalog, kind_a[:1], category=cat_a)
    (page_b,) = add_products(catalog, kind_b[:1], category=cat_b)
    targeted = new_creative(catalog, new_campaign(catalog, "targeted", targets=(cat_a,)), kind_b[-1])
    anywhere = new_creative(catalog, new_campaign(catalog, "anywhere"), kind_b[-1])
    assert set(chosen(catalog, AdRequest(context_product_id=page_a, slots=5))) == {targeted.id, anywhere.id}
    assert chosen(catalog, AdRequest(context_product_id=page_b, slots=5)) == [anywhere.id]
    assert chosen(catalog, AdRequest(slots=5)) == [anywhere.id]
    view(catalog, "fan", [page_a, page_a])  # a shopper whose top category is the target, on another page
    assert set(chosen(catalog, AdRequest("fan", page_b, slots=5))) == {targeted.id, anywhere.id}


def test_an_exhausted_budget_stops_serving(catalog: Catalog) -> None:
    campaign = new_campaign(catalog, budget="2", bid="1")
    creative = new_creative(catalog, campaign, PHOTOS[0])
    for i in range(2):
        assert chosen(catalog, AdRequest("u")) == [creative.id]
        with catalog.sessions.begin() as session:
            paid_click(session, f"c{i}", creative.id)
    assert chosen(catalog, AdRequest("u")) == []
    with (
        catalog.sessions.begin() as session
    ):  # a late click on an ad shown earlier: spend stays at the budget
        paid_click(session, "late", creative.id)
    with catalog.sessions() as session:
        assert session.get(Campaign, campaign).spent == 2


def test_a_budget_in_cents_serves_every_click_it_holds(catalog: Catalog) -> None:
    campaign = new_campaign(catalog, budget="0.30", bid="0.10")  # SQLite's NUMERIC: 0.30 - 0.20 < 0.10
    creative = new_creative(catalog, campaign, PHOTOS[0])
    for i in range(3):
        assert chosen(catalog, AdRequest("u")) == [creative.id], f"click {i + 1} fits the budget"
        with catalog.sessions.begin() as session:
            paid_click(session, f"c{i}", creative.id)
    assert chosen(catalog, AdRequest("u")) == []
    with catalog.sessions() as session:
        assert session.get(Campaign, campaign).spent == Decimal("0.30")


def test_the_candidate_cap_counts_only_creatives_that_may_serve_here(catalog: Catalog) -> None:
    kind_a, kind_b, cat_a, cat_b = two_kinds(catalog)
    (page_b,) = add_products(catalog, kind_b[:1], category=cat_b)
    for i in range(2):  # older campaigns, targeted elsewhere
        new_creative(catalog, new_campaign(catalog, f"old{i}", targets=(cat_a,)), kind_a[0])
    newer = new_creative(catalog, new_campaign(catalog, "newer", targets=(cat_b,)), kind_b[-1])
    capped = SelectionConfig(max_candidates=2)
    assert chosen(catalog, AdRequest(context_product_id=page_b, slots=5), config=capped) == [newer.id]


@pytest.mark.slow
def test_pacing_spreads_the_budget_over_the_campaign(catalog: Catalog) -> None:
    now = utcnow()
    run = {"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(hours=9)}
    campaign = new_campaign(catalog, budget="10", bid="1", **run)
    creative = new_creative(catalog, campaign, PHOTOS[0])
    assert chosen(catalog, AdRequest("u"), now=now) == [creative.id]
    with catalog.sessions.begin() as session:
        for i in range(2):  # 2 spent after 10 % of the time, 1 allowed
            paid_click(session, f"c{i}", creative.id, now)
    assert chosen(catalog, AdRequest("u"), now=now) == []
    assert chosen(catalog, AdRequest("u"), now=now, config=SelectionConfig(pacing=False)) == [creative.id]
    assert chosen(catalog, AdRequest("u"), now=now + timedelta(hours=2)) == [creative.id]  # 3 allowed by then
    assert chosen(catalog, AdRequest("u"), now=now + timedelta(hours=10)) == []  # ended


def test_frequency_cap_per_shopper_and_window(catalog: Catalog) -> None:
    creative = new_creative(catalog, new_campaign(catalog), PHOTOS[0])
    config = SelectionConfig(frequency_cap=2, frequency_window=timedelta(hours=24))
    now = utcnow()
    with catalog.sessions.begin() as session:
        for i in range(2):
            record_ad_event(
                session,
                event_id=f"i{i}",
                kind="ad_impression",
                creative_id=creative.id,
                user_id="u",
                ts=now - timedelta(hours=1),
            )
    assert chosen(catalog, AdRequest("u"), now=now, config=config) == []
    assert chosen(catalog, AdRequest("v"), now=now, config=config) == [creative.id]
    assert chosen(catalog, AdRequest(None), now=now, config=config) == [creative.id]
    assert chosen(catalog, AdRequest("u"), now=now + timedelta(hours=24), config=config) == [creative.id]
    assert chosen(catalog, AdRequest("u"), now=now, config=SelectionConfig(frequency_cap=3)) == [creative.id]


@pytest.mark.slow
def test_thompson_sampling_prefers_what_gets_clicked_in_the_shoppers_segment(catalog: Catalog) -> None:
    kind_a, _, cat_a, _ = two_kinds(catalog)
    pages = add_products(catalog, kind_a[:2], category=cat_a)
    view(catalog, "fan", pages)  # segment: cat_a
    good = new_creative(catalog, new_campaign(catalog, "good"), kind_a[0])
    bad = new_creative(catalog, new_campaign(catalog, "bad"), kind_a[1])
    with catalog.sessions.begin() as session:  # good in the fan's segment, bad with everyone else
        session.add_all(
            [
                AdStat(creative_id=good.id, segment=cat_a, impressions=100, clicks=30),
                AdStat(creative_id=bad.id, segment=cat_a, impressions=100, clicks=0),
                AdStat(creative_id=good.id, segment="all", impressions=100, clicks=0),
                AdStat(creative_id=bad.id, segment="all", impressions=100, clicks=30),
            ]
        )
    rng = np.random.default_rng(3)
    for_fan = Counter(chosen(catalog, AdRequest("fan"), rng=rng)[0] for _ in range(200))
    for_anyone = Counter(chosen(catalog, AdRequest(None), rng=rng)[0] for _ in range(200))
    assert for_fan[good.id] >= 190 and for_anyone[bad.id] >= 190, (for_fan, for_anyone)
    selection = select_for(catalog, AdRequest("fan", slots=2), rng=0)
    assert selection.segment == cat_a
    expected = {ad.creative.id: ad.parts.expected_ctr for ad in selection.ads}
    assert expected[good.id] > 0.2 > 0.05 > expected[bad.id]


def test_slots_hold_distinct_creatives_one_per_campaign_first(catalog: Catalog) -> None:
    first, second = new_campaign(catalog, "first"), new_campaign(catalog, "second")
    creatives = [new_creative(catalog, first, PHOTOS[i]) for i in range(3)] + [
        new_creative(catalog, second, PHOTOS[3])
    ]
    two = select_for(catalog, AdRequest(slots=2), rng=1).ads
    assert {ad.campaign.id for ad in two} == {first, second}
    four = select_for(catalog, AdRequest(slots=9), rng=1).ads
    assert sorted(ad.creative.id for ad in four) == sorted(c.id for c in creatives)
    assert [ad.parts.score for ad in four] == sorted((ad.parts.score for ad in four), reverse=True)
