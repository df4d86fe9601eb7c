"""What ad selection knows about a shopper and a page, read from the `events` and catalogue tables.

A shopper's profile comes from their most recent product events (view 1, click 2, add_to_cart 3, purchase 5):
the category affinity sums those weights per product category, the taste vector is the weighted mean of the
products' image embeddings under one model version (L2-normalised). A product's category is the one its
merchant declared, else what the model saw in its first image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from shoplens.ads.scoring import segment_of
from shoplens.catalog.queries import product_category
from shoplens.catalog.similar import product_vector
from shoplens.db.behaviour import Event
from shoplens.db.catalog import Embedding, Product, ProductImage
from shoplens.errors import NotFoundError

EVENT_WEIGHTS = {"view": 1.0, "click": 2.0, "add_to_cart": 3.0, "purchase": 5.0}
RECENT_EVENTS = 100  # product events that make a profile, newest first


@dataclass(frozen=True)
class Profile:
    """A shopper's category affinity (weights by category) and taste vector (None without embedded history)."""

    affinity: dict[str, float] = field(default_factory=dict)
    taste: np.ndarray | None = None

    @property
    def segment(self) -> str:
        """The shopper's top category, or "all" without history."""
        return segment_of(self.affinity)


def _recent(user_id: str, before: datetime | None, limit: int):  # type: ignore[no-untyped-def]
    """A subquery of the shopper's latest product events: product id and weight."""
    weight = case(*((Event.type == t, w) for t, w in EVENT_WEIGHTS.items()), else_=0.0)
    stmt = select(Event.product_id.label("product_id"), weight.label("weight")).where(
        Event.user_id == user_id, Event.type.in_(tuple(EVENT_WEIGHTS)), Event.product_id.is_not(None)
    )
    if before is not None:
        stmt = stmt.where(Event.ts < before)
    return stmt.order_by(Event.ts.desc(), Event.id.desc()).limit(limit).subquery()


def category_affinity(
    session: Session, user_id: str, *, before: datetime | None = None, limit: int = RECENT_EVENTS
) -> dict[str, float]:
    """Summed event weights per category over the shopper's latest product events (before a time, if given)."""
    recent = _recent(user_id, before, limit)
    per_event = (
        select(product_category().label("category"), recent.c.weight)
        .join(Product, Product.id == recent.c.product_id)
        .subquery()
    )
    rows = session.execute(
        select(per_event.c.category, func.sum(per_event.c.weight))
        .where(per_event.c.category.is_not(None))
        .group_by(per_event.c.category)
    )
    return {str(cat): float(total) for cat, total in rows}


def taste_vector(
    session: Session,
    user_id: str,
    version: str,
    *,
    before: datetime | None = None,
    limit: int = RECENT_EVENTS,
) -> np.ndarray | None:
    """The weighted mean embedding of the products in the shopper's latest events (None when there are none)."""
    recent = _recent(user_id, before, limit)
    rows = session.execute(
        select(recent.c.weight, Embedding.vector)
        .join(ProductImage, ProductImage.product_id == recent.c.product_id)
        .join(Embedding, and_(Embedding.image_id == ProductImage.id, Embedding.model_version == version))
    ).all()
    if not rows:
        return None
    weights = np.array([float(w) for w, _ in rows])
    vectors = np.stack([v for _, v in rows])
    mean = (weights[:, None] * vectors).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else None


def user_profile(
    session: Session, user_id: str | None, version: str | None, *, before: datetime | None = None
) -> Profile:
    """The shopper's affinity and taste (empty for an anonymous request)."""
    if not user_id:
        return Profile()
    taste = taste_vector(session, user_id, version, before=before) if version else None
    return Profile(category_affinity(session, user_id, before=before), taste)


def segment_at(session: Session, user_id: str, when: datetime | None) -> str:
    """The shopper's segment as it was just before a time (now when None)."""
    return segment_of(category_affinity(session, user_id, before=when))


@dataclass(frozen=True)
class PageProduct:
    """The product being viewed: its category and its embedding under the model version (None if not embedded)."""

    product_id: int
    category: str | None
    vector: np.ndarray | None


def page_product(session: Session, product_id: int, version: str | None) -> PageProduct:
    """The viewed product's category and embedding; NotFoundError for an unknown product."""
    category = session.execute(select(product_category()).where(Product.id == product_id)).first()
    if category is None:
        raise NotFoundError(f"no product {product_id}")
    vector = None
    if version:
        try:
            vector = product_vector(session, product_id, version)
        except NotFoundError:
            vector = None
    return PageProduct(product_id, category[0], vector)
