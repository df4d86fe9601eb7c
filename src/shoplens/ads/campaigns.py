"""Campaigns (budget, bid per click, optional target categories, dates) and their creatives.

A creative is an uploaded image: decoded safely, stored re-encoded without metadata in the catalogue's image
store (by the content id of the uploaded bytes), and recognised by the catalogue's model on the way in —
its category, the model's confidence and its embedding — so a campaign without targeting still reaches
shoppers and pages it fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplens.catalog.queries import ensure_merchants
from shoplens.catalog.service import Catalog
from shoplens.catalog.storage import content_id
from shoplens.db.ads import Campaign, Creative
from shoplens.db.base import as_utc, utcnow
from shoplens.errors import CatalogInputError, ForbiddenError, NotFoundError
from shoplens.imaging import decode_image

CAMPAIGN_STATUSES = ("active", "paused", "ended")
UPDATABLE = ("name", "budget", "bid", "target_categories", "status", "ends_at")


class AdsInputError(CatalogInputError):
    """A campaign or creative that cannot be accepted as given."""


@dataclass(frozen=True)
class CampaignIn:
    """What an advertiser declares about a campaign."""

    merchant: str | None
    name: str
    budget: Decimal
    bid: Decimal
    target_categories: Sequence[str] = ()
    starts_at: datetime | None = None  # default: now
    ends_at: datetime | None = None  # default: open-ended (no pacing)
    status: str = "active"


def targets(campaign: Campaign) -> list[str]:
    """The campaign's target categories (empty: any)."""
    return [c for c in campaign.target_categories.split(",") if c]


def _check_targets(names: Sequence[str], categories: Sequence[str]) -> str:
    """The target categories as stored, after checking each is one of the taxonomy's."""
    unknown = sorted(set(names) - set(categories))
    if unknown:
        raise AdsInputError(f"unknown target categories {unknown}; categories: {', '.join(categories)}")
    return ",".join(dict.fromkeys(names))


def _check_money(budget: Decimal, bid: Decimal) -> None:
    """Budget and bid are positive and a click fits the budget."""
    if budget <= 0 or bid <= 0:
        raise AdsInputError("budget and bid must be positive")
    if bid > budget:
        raise AdsInputError(f"the bid ({bid}) is more than the whole budget ({budget})")


def _check_dates(starts_at: datetime, ends_at: datetime | None) -> None:
    """An end date, when given, comes after the start."""
    if ends_at is not None and as_utc(ends_at) <= as_utc(starts_at):
        raise AdsInputError("ends_at must be after starts_at")


def create_campaign(session: Session, spec: CampaignIn, categories: Sequence[str]) -> Campaign:
    """A new campaign (its merchant created if new), validated against the taxonomy."""
    if spec.status not in ("active", "paused"):
        raise AdsInputError("a new campaign is 'active' or 'paused'")
    _check_money(spec.budget, spec.bid)
    starts_at = as_utc(spec.starts_at) if spec.starts_at else utcnow()
    _check_dates(starts_at, spec.ends_at)
    if spec.merchant is not None:
        ensure_merchants(session, [spec.merchant])
    campaign = Campaign(
        merchant_id=spec.merchant,
        name=spec.name,
        budget=spec.budget,
        bid=spec.bid,
        spent=Decimal(0),
        target_categories=_check_targets(spec.target_categories, categories),
        status=spec.status,
        starts_at=starts_at,
        ends_at=as_utc(spec.ends_at) if spec.ends_at else None,
    )
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign with this id; NotFoundError when there is none."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(f"no campaign {campaign_id}")
    return campaign


def check_campaign_owner(campaign: Campaign, merchant: str | None) -> None:
    """ForbiddenError unless `merchant` is None (admin) or owns the campaign."""
    if merchant is not None and campaign.merchant_id != merchant:
        raise ForbiddenError(f"campaign {campaign.id} belongs to another merchant")


def list_campaigns(
    session: Session, merchant: str | None = None, limit: int = 100, offset: int = 0
) -> list[Campaign]:
    """Campaigns, newest first (only one merchant's when given)."""
    stmt = select(Campaign).order_by(Campaign.id.desc()).limit(limit).offset(offset)
    if merchant is not None:
        stmt = stmt.where(Campaign.merchant_id == merchant)
    return list(session.scalars(stmt))


def update_campaign(
    session: Session, campaign: Campaign, changes: Mapping[str, Any], categories: Sequence[str]
) -> Campaign:
    """Apply changes to name, budget, bid, target categories, status or end date (validated as on create)."""
    for key, value in changes.items():
        if key not in UPDATABLE:
            raise AdsInputError(f"{key!r} cannot be changed; fields: {', '.join(UPDATABLE)}")
        if value is None and key not in ("target_categories", "ends_at"):
            raise AdsInputError(f"{key} cannot be null")
        if key == "status" and value not in CAMPAIGN_STATUSES:
            raise AdsInputError(f"status must be one of {', '.join(CAMPAIGN_STATUSES)}")
        if key == "name" and not value:
            raise AdsInputError("a campaign needs a name")
    budget = Decimal(changes.get("budget", campaign.budget))
    bid = Decimal(changes.get("bid", campaign.bid))
    _check_money(budget, bid)
    if budget < Decimal(campaign.spent):
        raise AdsInputError(f"the budget cannot go below what was spent already ({campaign.spent})")
    ends_at = changes.get("ends_at", campaign.ends_at)
    _check_dates(campaign.starts_at, ends_at)
    campaign.budget, campaign.bid = budget, bid
    campaign.ends_at = as_utc(ends_at) if ends_at is not None else None
    if "target_categories" in changes:
        campaign.target_categories = _check_targets(changes["target_categories"] or (), categories)
    if "name" in changes:
        campaign.name = changes["name"]
    if "status" in changes:
        campaign.status = changes["status"]
    session.flush()
    return campaign


def creatives_of(session: Session, campaign_ids: Sequence[int]) -> dict[int, list[Creative]]:
    """The creatives of each campaign, oldest first."""
    found: dict[int, list[Creative]] = {i: [] for i in campaign_ids}
    if campaign_ids:
        stmt = select(Creative).where(Creative.campaign_id.in_(list(campaign_ids))).order_by(Creative.id)
        rows = session.scalars(stmt)
        for creative in rows:
            found[creative.campaign_id].append(creative)
    return found


def reembed_creatives(catalog: Catalog, batch_size: int = 64) -> int:
    """Recognise again every creative recognised by another model version than the catalogue's; how many changed."""
    version = catalog.model().version
    changed = 0
    while True:  # bounded: each pass moves up to batch_size creatives to the current version, or stops
        with catalog.sessions() as session:
            todo = list(
                session.execute(
                    select(Creative.id, Creative.sha256)
                    .where((Creative.model_version != version) | Creative.model_version.is_(None))
                    .order_by(Creative.id)
                    .limit(batch_size)
                )
            )
        if not todo:
            return changed
        seen = catalog.recognise([decode_image(catalog.store.open(sha256)) for _, sha256 in todo])
        with catalog.sessions.begin() as session:
            for (creative_id, _), s in zip(todo, seen):
                creative = session.get(Creative, creative_id)
                if creative is not None:
                    creative.predicted_category, creative.confidence = s.category, s.confidence
                    creative.model_version, creative.embedding = s.model_version, s.vector
        changed += len(todo)


def add_creative(catalog: Catalog, campaign_id: int, headline: str, data: bytes) -> Creative:
    """Decode the image safely, store a clean copy, recognise it and record the creative."""
    headline = headline.strip()
    if not headline or len(headline) > 200:
        raise AdsInputError("a creative needs a headline of 1 to 200 characters")
    with catalog.sessions() as session:
        get_campaign(session, campaign_id)  # 404 before any work
    image, shown = catalog.decode(data)
    (seen,) = catalog.recognise([shown])
    sha256 = content_id(data)
    catalog.store.put(sha256, image)
    catalog.store.sync()  # the file is on disk before its row is committed
    with catalog.sessions.begin() as session:
        get_campaign(session, campaign_id)
        creative = Creative(
            campaign_id=campaign_id,
            headline=headline,
            sha256=sha256,
            predicted_category=seen.category,
            confidence=seen.confidence,
            model_version=seen.model_version,
            embedding=seen.vector,
            status="active",
        )
        session.add(creative)
        session.flush()
    return creative
