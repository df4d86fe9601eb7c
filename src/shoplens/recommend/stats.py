"""Catalogue-wide behaviour statistics, aggregated in SQL and held in memory as arrays: one snapshot per process.

A snapshot holds, per product (rows in product-id order): its category, whether it can be sold, its decayed
popularity and trend, and the co-visitation matrix (how many sessions saw two products). Recommending then costs
array look-ups, not scans of the events table. A snapshot is rebuilt when older than `max_age_s`, or — once new
events were recorded through this process — when older than `min_age_s`; purchases and stock are re-checked
against the database for the few products finally recommended, so a stale snapshot never sells what is gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import String, cast, func, literal_column, select
from sqlalchemy.orm import Session, sessionmaker

from shoplens.behaviour.events import PRODUCT_EVENTS
from shoplens.behaviour.profiles import DEFAULT_WEIGHTS, age_days, decay
from shoplens.catalog.queries import product_category
from shoplens.db.base import as_day, utc_day
from shoplens.db.behaviour import Event
from shoplens.db.catalog import Product, ProductImage

if TYPE_CHECKING:
    from scipy import sparse


@dataclass(frozen=True)
class StatsConfig:
    """Windows and half-lives of the statistics, and how fresh a snapshot must be."""

    popularity_half_life_days: float = 14.0
    trending_half_life_days: float = 2.0
    window_days: int = 90  # events older than this are not read
    max_session_items: int = (
        50  # longer sessions (crawlers, a whole day without session ids) are not co-visits
    )
    max_age_s: float = 60.0
    min_age_s: float = 2.0
    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)  # weight per event type


@dataclass(frozen=True)
class ItemStats:
    """One snapshot: per-product arrays aligned with `product_ids`, and the co-visitation matrix."""

    product_ids: np.ndarray  # int64, sorted
    categories: list[str]
    category: np.ndarray  # int32 index into categories, -1 when unknown
    available: np.ndarray  # bool: active and in stock
    popularity: np.ndarray  # float64, decayed event weight
    trending: np.ndarray  # float64, the same with a short half-life
    covis: sparse.csr_matrix  # (n, n) sessions in which both products were seen
    image_ids: np.ndarray  # int64, sorted
    image_rows: np.ndarray  # the product row of each image
    now: datetime
    built_at: float  # time.monotonic()

    def __len__(self) -> int:
        return len(self.product_ids)

    def rows(self, product_ids: np.ndarray | list[int]) -> np.ndarray:
        """The row of each product id (-1 for ids not in the snapshot)."""
        return _lookup(
            self.product_ids, np.asarray(product_ids, dtype=np.int64), np.arange(len(self.product_ids))
        )

    def rows_of_images(self, image_ids: np.ndarray) -> np.ndarray:
        """The product row of each image id (-1 for unknown or padding ids)."""
        return _lookup(self.image_ids, np.asarray(image_ids, dtype=np.int64), self.image_rows)


def _lookup(keys: np.ndarray, wanted: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values[i] where keys[i] == wanted, -1 where a wanted key is absent (keys sorted)."""
    if not len(keys):
        return np.full(wanted.shape, -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(keys, wanted), 0, len(keys) - 1)
    return np.where(keys[pos] == wanted, values[pos], -1).astype(np.int64)


def _products(session: Session) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Product ids, category names, each product's category index and availability."""
    rows = session.execute(
        select(Product.id, product_category(), Product.stock, Product.status).order_by(Product.id)
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    names = sorted({r[1] for r in rows if r[1]})
    index = {c: i for i, c in enumerate(names)}
    category = np.array([index.get(r[1], -1) if r[1] else -1 for r in rows], dtype=np.int32)
    available = np.array([r[2] > 0 and r[3] == "active" for r in rows], dtype=bool)
    return ids, names, category, available


def _daily_weights(
    session: Session, ids: np.ndarray, since: datetime, now: datetime, config: StatsConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Popularity and trend per product from per-day event counts (decayed from the middle of each day)."""
    day = utc_day(session, Event.ts)
    rows = session.execute(
        select(Event.product_id, Event.type, day, func.count())
        .where(Event.product_id.is_not(None), Event.ts >= since)
        .group_by(Event.product_id, Event.type, day)
    ).all()
    popularity, trending = np.zeros(len(ids)), np.zeros(len(ids))
    if not rows:
        return popularity, trending
    rows_of = _lookup(ids, np.array([r[0] for r in rows], dtype=np.int64), np.arange(len(ids)))
    weight = np.array([config.weights.get(r[1], 0.0) * r[3] for r in rows])
    midday = [
        datetime.combine(as_day(r[2]), datetime.min.time(), now.tzinfo) + timedelta(hours=12) for r in rows
    ]
    ages = age_days(midday, now)
    ok = rows_of >= 0
    popularity += np.bincount(
        rows_of[ok], (weight * decay(ages, config.popularity_half_life_days))[ok], len(ids)
    )
    trending += np.bincount(rows_of[ok], (weight * decay(ages, config.trending_half_life_days))[ok], len(ids))
    return popularity, trending


def _covisits(session: Session, ids: np.ndarray, since: datetime, config: StatsConfig) -> sparse.csr_matrix:
    """Products × products: in how many sessions both were viewed, carted or bought (diagonal zero)."""
    from scipy import sparse  # on first use: a server that never recommends starts without scipy

    day = cast(utc_day(session, Event.ts), String)
    fallback = Event.user_id.concat(literal_column("':'")).concat(day)  # no session id: the user's day
    key = func.coalesce(Event.session_id, fallback)
    pairs = session.execute(
        select(key, Event.product_id)
        .where(Event.product_id.is_not(None), Event.type.in_(PRODUCT_EVENTS), Event.ts >= since)
        .group_by(key, Event.product_id)
    ).all()
    n = len(ids)
    if not pairs:
        return sparse.csr_matrix((n, n), dtype=np.float32)
    _, sess = np.unique(np.array([p[0] for p in pairs], dtype=object), return_inverse=True)
    rows = _lookup(ids, np.array([p[1] for p in pairs], dtype=np.int64), np.arange(n))
    sizes = np.bincount(sess)
    ok = (rows >= 0) & (sizes[sess] <= config.max_session_items) & (sizes[sess] >= 2)
    visits = sparse.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (sess[ok], rows[ok])), shape=(len(sizes), n)
    )
    co = (visits.T @ visits).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    return co


def build_stats(
    sessions: sessionmaker[Session], now: datetime, config: StatsConfig = StatsConfig()
) -> ItemStats:
    """A fresh snapshot of the catalogue and its events as of `now`."""
    since = now - timedelta(days=config.window_days)
    with sessions() as session:
        ids, names, category, available = _products(session)
        images = session.execute(
            select(ProductImage.id, ProductImage.product_id).order_by(ProductImage.id)
        ).all()
        popularity, trending = _daily_weights(session, ids, since, now, config)
        covis = _covisits(session, ids, since, config)
    image_ids = np.array([i for i, _ in images], dtype=np.int64)
    image_rows = _lookup(ids, np.array([p for _, p in images], dtype=np.int64), np.arange(len(ids)))
    return ItemStats(
        ids,
        names,
        category,
        available,
        popularity,
        trending,
        covis,
        image_ids,
        image_rows,
        now,
        time.monotonic(),
    )


class StatsCache:
    """The current snapshot, rebuilt when too old or after new events (at most every min_age_s)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        config: StatsConfig = StatsConfig(),
    ) -> None:
        self.sessions, self.clock, self.config = sessions, clock, config
        self._lock = threading.Lock()
        self._stats: ItemStats | None = None
        self._dirty = False

    def mark_dirty(self) -> None:
        """New events or products: rebuild once the snapshot is min_age_s old."""
        self._dirty = True

    def clear(self) -> None:
        """Drop the snapshot: the next read rebuilds it (after an erasure, nothing of the user may linger)."""
        with self._lock:
            self._stats = None

    def get(self) -> ItemStats:
        """The snapshot, rebuilt first when stale."""
        with self._lock:
            stats = self._stats
            age = time.monotonic() - stats.built_at if stats is not None else float("inf")
            if age > self.config.max_age_s or (self._dirty and age > self.config.min_age_s):
                self._dirty = False
                stats = self._stats = build_stats(self.sessions, self.clock(), self.config)
            assert stats is not None
            return stats
