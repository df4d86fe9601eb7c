"""Which ads a shopper sees on a page: eligible creatives, scored (see `shoplens.ads.scoring`), best first.

Eligibility, checked at the time of the request:
- the campaign and the creative are active, the campaign has started and not ended;
- budget: what is left (budget − spent) still pays for one more click at the bid;
- pacing: a campaign with an end date has spent at most budget × (elapsed share of its run), so its budget
  lasts until the end; an open-ended campaign is not paced and serves until its budget is gone;
- targeting: a campaign naming target categories serves only where the viewed product's category or the
  shopper's top category is one of them (a campaign without targets may serve anywhere, where its creatives'
  recognised category and embedding make them relevant);
- frequency cap: a shopper is shown one creative at most `frequency_cap` times per `frequency_window`
  (counted from the shopper's `ad_impression` events).

At most one creative per campaign fills the slots until every campaign had its turn; then the next best.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from shoplens.ads.campaigns import targets
from shoplens.ads.scoring import Candidates, Context, SelectionConfig, pick, score
from shoplens.behaviour.profiles import ALL_SEGMENT, ProfileConfig, read_profile
from shoplens.catalog.queries import product_category, product_vectors
from shoplens.catalog.service import Catalog
from shoplens.db.ads import MONEY_SLACK, AdStat, Campaign, Creative
from shoplens.db.base import as_utc, utcnow
from shoplens.db.behaviour import Event
from shoplens.db.catalog import Product
from shoplens.errors import NotFoundError


@dataclass(frozen=True)
class AdRequest:
    """Who is looking (None: anonymous), at which product (None: no product page), and how many ads fit."""

    user_id: str | None = None
    context_product_id: int | None = None
    slots: int = 1


@dataclass(frozen=True)
class PageProduct:
    """The product being viewed: its category and its search vector under the model version (None if not embedded)."""

    product_id: int
    category: str | None
    vector: np.ndarray | None


@dataclass(frozen=True)
class ScoreParts:
    """Why an ad was chosen: each part of its score (None where unknown for this request)."""

    context_similarity: float | None
    user_similarity: float | None
    category_match: float | None
    relevance: float
    sampled_ctr: float
    expected_ctr: float
    bid: float
    score: float


@dataclass(frozen=True)
class AdChoice:
    """One chosen creative, its campaign, and its score parts."""

    creative: Creative
    campaign: Campaign
    parts: ScoreParts


@dataclass(frozen=True)
class AdSelection:
    """The ads for a request, best first, with the shopper's segment and how many creatives were eligible."""

    segment: str
    model_version: str | None
    eligible: int
    ads: list[AdChoice]


def embedding_version(catalog: Catalog) -> str | None:
    """The model version whose embeddings relevance compares (that of the active search index)."""
    return catalog.space.active_version() or catalog.models.active_version()


def page_product(session: Session, product_id: int, version: str | None) -> PageProduct:
    """The viewed product's category and search vector; NotFoundError for an unknown product."""
    category = session.execute(select(product_category()).where(Product.id == product_id)).first()
    if category is None:
        raise NotFoundError(f"no product {product_id}")
    vector = product_vectors(session, version, [product_id]).get(product_id) if version else None
    return PageProduct(product_id, category[0], vector)


def spend_allowed(campaign: Campaign, now: datetime) -> float:
    """What a paced campaign may have spent by now: budget × elapsed share (the whole budget when open-ended)."""
    budget = float(campaign.budget)
    if campaign.ends_at is None:
        return budget
    start, end = as_utc(campaign.starts_at), as_utc(campaign.ends_at)
    share = (now - start).total_seconds() / max((end - start).total_seconds(), 1e-9)
    return budget * min(max(share, 0.0), 1.0)


def frequency_capped(session: Session, user_id: str, now: datetime, config: SelectionConfig) -> set[int]:
    """Creatives the shopper has seen `frequency_cap` times or more within the window."""
    rows = session.scalars(
        select(Event.ad_id)
        .where(
            Event.user_id == user_id,
            Event.type == "ad_impression",
            Event.ad_id.is_not(None),
            Event.ts > now - config.frequency_window,
            Event.ts <= now,
        )
        .group_by(Event.ad_id)
        .having(func.count() >= config.frequency_cap)
    )
    return set(rows)


def eligible_creatives(
    session: Session, now: datetime, config: SelectionConfig, *, exclude: set[int], categories: set[str]
) -> list[tuple[Creative, Campaign]]:
    """Active creatives of campaigns running now with budget left, paced, matching `categories` where targeted."""
    stmt = (
        select(Creative, Campaign)
        .join(Campaign, Campaign.id == Creative.campaign_id)
        .where(
            Creative.status == "active",
            Campaign.status == "active",
            Campaign.starts_at <= now,
            or_(Campaign.ends_at.is_(None), Campaign.ends_at > now),
            Campaign.budget - Campaign.spent + MONEY_SLACK >= Campaign.bid,
        )
        .order_by(Creative.id)
        .execution_options(yield_per=500)
    )
    if exclude:
        stmt = stmt.where(Creative.id.not_in(sorted(exclude)))
    found: list[tuple[Creative, Campaign]] = []
    for creative, campaign in session.execute(stmt):  # capped after targeting and pacing, not before
        wanted = targets(campaign)
        if wanted and not categories.intersection(wanted):
            continue
        if config.pacing and float(campaign.spent + campaign.bid) > spend_allowed(campaign, now):
            continue  # paced as the budget is: offered while one more click stays within the pace
        found.append((creative, campaign))
        if len(found) >= config.max_candidates:
            break
    return found


def segment_stats(
    session: Session, creative_ids: list[int], segment: str
) -> dict[int, tuple[int, int, int, int]]:
    """Per creative: clicks and impressions in the segment, then over all segments."""
    if not creative_ids:
        return {}
    in_segment = AdStat.segment == segment
    rows = session.execute(
        select(
            AdStat.creative_id,
            func.sum(case((in_segment, AdStat.clicks), else_=0)),
            func.sum(case((in_segment, AdStat.impressions), else_=0)),
            func.sum(AdStat.clicks),
            func.sum(AdStat.impressions),
        )
        .where(AdStat.creative_id.in_(creative_ids))
        .group_by(AdStat.creative_id)
    )
    return {int(cid): (int(c or 0), int(n or 0), int(tc or 0), int(tn or 0)) for cid, c, n, tc, tn in rows}


def candidates_of(
    rows: list[tuple[Creative, Campaign]],
    stats: dict[int, tuple[int, int, int, int]],
    version: str | None,
    dim: int,
) -> Candidates:
    """The scoring arrays of eligible creatives (embeddings of another model version are left out)."""
    n = len(rows)
    vectors = np.zeros((n, dim), dtype=np.float32)
    has_vector = np.zeros(n, dtype=bool)
    for i, (creative, _) in enumerate(rows):
        v = creative.embedding
        if v is not None and creative.model_version == version and len(v) == dim:
            vectors[i], has_vector[i] = v, True
    counts = np.array([stats.get(c.id, (0, 0, 0, 0)) for c, _ in rows], dtype=np.float64).reshape(n, 4)
    return Candidates(
        bids=np.array([float(camp.bid) for _, camp in rows]),
        vectors=vectors,
        has_vector=has_vector,
        categories=[c.predicted_category for c, _ in rows],
        clicks=counts[:, 0],
        impressions=counts[:, 1],
        total_clicks=counts[:, 2],
        total_impressions=counts[:, 3],
    )


def _dim(rows: list[tuple[Creative, Campaign]], *vectors: np.ndarray | None) -> int:
    """The embedding size in play (of the page, the taste vector or the first creative)."""
    for v in vectors:
        if v is not None:
            return len(v)
    return next((len(c.embedding) for c, _ in rows if c.embedding is not None), 0)


def _part(values: np.ndarray, i: int) -> float | None:
    """One score part as a float, None when unknown."""
    value = float(values[i])
    return None if np.isnan(value) else value


def select_ads(
    session: Session,
    request: AdRequest,
    version: str | None,
    *,
    rng: np.random.Generator | int | None = None,
    now: datetime | None = None,
    config: SelectionConfig = SelectionConfig(),
    profiles: ProfileConfig = ProfileConfig(),
) -> AdSelection:
    """Up to `request.slots` distinct eligible creatives for the shopper and page, best first."""
    now = as_utc(now) if now is not None else utcnow()
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    slots = max(0, min(request.slots, config.max_slots))
    page = page_product(session, request.context_product_id, version) if request.context_product_id else None
    profile = read_profile(session, request.user_id, version, profiles, now)[0] if request.user_id else None
    segment = profile.segment if profile is not None else ALL_SEGMENT
    affinity = profile.affinity if profile is not None else {}
    taste = profile.taste if profile is not None else None
    capped = frequency_capped(session, request.user_id, now, config) if request.user_id else set()
    wanted = {c for c in (page.category if page else None, segment if affinity else None) if c}
    rows = eligible_creatives(session, now, config, exclude=capped, categories=wanted)
    stats = segment_stats(session, [c.id for c, _ in rows], segment)
    cands = candidates_of(rows, stats, version, _dim(rows, page.vector if page else None, taste))
    ctx = Context(page.vector if page else None, page.category if page else None, taste, affinity)
    s = score(cands, ctx, generator, config)
    chosen = pick(s.score, [camp.id for _, camp in rows], slots)
    ads = [
        AdChoice(
            rows[i][0],
            rows[i][1],
            ScoreParts(
                _part(s.context_similarity, i),
                _part(s.user_similarity, i),
                _part(s.category_match, i),
                float(s.relevance[i]),
                float(s.sampled_ctr[i]),
                float(s.expected_ctr[i]),
                float(cands.bids[i]),
                float(s.score[i]),
            ),
        )
        for i in chosen
    ]
    return AdSelection(segment, version, len(rows), ads)


def select_for(
    catalog: Catalog,
    request: AdRequest,
    *,
    rng: np.random.Generator | int | None = None,
    now: datetime | None = None,
    config: SelectionConfig = SelectionConfig(),
    profiles: ProfileConfig = ProfileConfig(),
) -> AdSelection:
    """Ads for a request against the catalogue (its active model version's embeddings)."""
    version = embedding_version(catalog)
    with catalog.sessions() as session:
        return select_ads(session, request, version, rng=rng, now=now, config=config, profiles=profiles)
