"""Tables for shopper behaviour and advertising: events, cached profiles and recommendations, campaigns, creatives.

They share the catalogue's metadata (and its Alembic migrations). Everything tied to a shopper is keyed by
`user_id` (pseudonymised on the way in when a secret is set), so erasing a user is a few keyed deletes.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from decimal import Decimal

from pydantic import SecretStr
from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shoplens.catalog.models import Base, utcnow

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "ad_impression", "ad_click")


def user_key(user_id: str, secret: SecretStr | None) -> str:
    """The id stored for a shopper: HMAC-SHA256 of the id under the secret (hex), or the id itself without one."""
    if secret is None:
        return user_id
    return hmac.new(secret.get_secret_value().encode(), user_id.encode(), hashlib.sha256).hexdigest()


class Event(Base):
    """One thing a shopper did: viewed, clicked, carted or bought a product, or saw or clicked an ad."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), unique=True)  # the sender's id: a repeat is ignored
    user_id: Mapped[str] = mapped_column(String(100), index=True)
    session_id: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"), index=True)
    ad_id: Mapped[int | None] = mapped_column(ForeignKey("creatives.id", ondelete="SET NULL"), index=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserProfile(Base):
    """A shopper's computed profile (category affinity, taste vector, recent items), cached."""

    __tablename__ = "user_profiles"
    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    model_version: Mapped[str | None] = mapped_column(String(128))
    affinity: Mapped[str] = mapped_column(Text, default="{}")  # JSON {category: weight}
    taste: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 embedding, L2-normalised
    recent: Mapped[str] = mapped_column(Text, default="[]")  # JSON [product ids], newest first
    events: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class CachedRecommendation(Base):
    """Recommendations computed for a shopper (dropped when the shopper acts again or is erased)."""

    __tablename__ = "recommendation_cache"
    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    k: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32, L2-normalised
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
