"""Advertising's tables: campaigns, their creatives (recognised images), and click statistics per segment."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import numpy as np
from sqlalchemy import DateTime, Float, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shoplens.db.base import Base, Vector, utcnow

# SQLite keeps NUMERIC money as binary floats (there 0.30 - 0.20 < 0.10): sums are compared this far apart.
MONEY_SLACK = Decimal("0.000001")


class Campaign(Base):
    """An advertiser's campaign: budget, bid per click, optional target categories."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    budget: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    bid: Mapped[Decimal] = mapped_column(Numeric(12, 4))  # paid per click
    spent: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal(0))
    target_categories: Mapped[str] = mapped_column(String(700), default="")  # comma-separated, "" = any
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | paused | ended
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # clicks recorded but not charged: no valid impression token, campaign not running, token already used
    refused_clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ClickCharge(Base):
    """An impression token a click has used: a token counts (and pays for) one click only."""

    __tablename__ = "click_charges"
    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    creative_id: Mapped[int] = mapped_column(ForeignKey("creatives.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Creative(Base):
    """An ad image of a campaign, recognised on upload (category, confidence, embedding of a model version)."""

    __tablename__ = "creatives"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    headline: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))  # the stored image (catalogue image store)
    predicted_category: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(128))
    embedding: Mapped[np.ndarray | None] = mapped_column(Vector)  # L2-normalised search vector
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdStat(Base):
    """Impressions and clicks of a creative within a shopper segment: the Beta posterior of its click rate."""

    __tablename__ = "ad_stats"
    __table_args__ = (UniqueConstraint("creative_id", "segment"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    creative_id: Mapped[int] = mapped_column(ForeignKey("creatives.id", ondelete="CASCADE"), index=True)
    segment: Mapped[str] = mapped_column(String(64))  # e.g. the shopper's top category, or "all"
    impressions: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
