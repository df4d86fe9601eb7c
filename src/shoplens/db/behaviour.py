"""Shopper behaviour's tables: events, cached profiles and cached recommendations, erased shoppers.

Everything tied to a shopper is keyed by `user_id` (pseudonymised on the way in when a secret is set), so
erasing a user is a few keyed deletes. The erased are remembered only as a one-way digest of their key (no
`user_id` column), so that nothing is stored under their key again.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shoplens.db.base import Base, Vector, utcnow

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "ad_impression", "ad_click")


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
    taste: Mapped[np.ndarray | None] = mapped_column(Vector)  # L2-normalised, in the search vectors' space
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


class ErasedShopper(Base):
    """A tombstone: the digest of an erased shopper's key; their events are refused and nothing is cached for them."""

    __tablename__ = "erased_shoppers"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex, see behaviour.erasure
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
