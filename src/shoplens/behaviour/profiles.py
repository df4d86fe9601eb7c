"""The shopper profile — one, read by recommendations and ads alike: time-decayed category affinity weighted by
event type, a segment, a visual taste vector, recent items.

Every event weighs `weights[type] × 2^(−age / half_life)` (one `ProfileConfig`). Affinity is the weight per
category (a product's for product events, the recognised category of the creative for an ad click), normalised
to sum to 1; the segment is the category with the most affinity ("all" without one); the taste vector is the
weighted mean of the search vectors of the products interacted with, L2-normalised. Because decay multiplies
every weight by the same factor as time passes, a normalised profile does not change until the shopper acts
again: it is cached in `user_profiles`, dropped when new events arrive, and not used (then deleted, see
`erasure.expire_cached`) after `cache_ttl_s`; nothing is cached for an erased shopper. A profile can also be
computed as it was at a past time (`before=`): ads count an impression in the segment the shopper had when it was
shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import numpy as np
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from shoplens.behaviour.erasure import store_unless_erased
from shoplens.catalog.queries import PRODUCT_CATEGORY, product_vectors
from shoplens.db.ads import Creative
from shoplens.db.base import as_utc, utcnow
from shoplens.db.behaviour import Event, UserProfile
from shoplens.db.catalog import Product
from shoplens.inference.predictor import l2_normalize

ALL_SEGMENT = "all"  # the segment of a shopper without known categories
DEFAULT_WEIGHTS = MappingProxyType(
    {"view": 1.0, "click": 1.5, "add_to_cart": 4.0, "purchase": 6.0, "ad_click": 1.0, "ad_impression": 0.0}
)


@dataclass(frozen=True)
class ProfileConfig:
    """How events make a profile: decay half-life, weight per event type, how much history is used."""

    half_life_days: float = 14.0
    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)  # weight per event type
    max_events: int = 500  # the newest events of a shopper that count
    taste_items: int = 50  # the products with most weight that make up the taste vector
    recent: int = 20
    cache_ttl_s: float = 600.0  # a cached profile older than this is computed again

    def weigh(self, kinds: Sequence[str], ages: np.ndarray) -> np.ndarray:
        """Each event's weight: its type's weight × 2^(−age / half_life), ages in days."""
        return np.array([self.weights.get(k, 0.0) for k in kinds]) * decay(ages, self.half_life_days)


def age_days(stamps: Sequence[datetime], now: datetime) -> np.ndarray:
    """Days between each timestamp and `now` (never negative)."""
    ref = now.timestamp()
    return np.maximum(
        (ref - np.array([as_utc(t).timestamp() for t in stamps], dtype=np.float64)) / 86400.0, 0.0
    )


def decay(ages: np.ndarray, half_life_days: float) -> np.ndarray:
    """Exponential decay factors for ages in days: 1 now, 1/2 after one half-life."""
    return np.exp2(-np.asarray(ages, dtype=np.float64) / half_life_days)


def segment_of(affinity: Mapping[str, float]) -> str:
    """The segment of a shopper with this affinity: their top category, or "all" without one."""
    positive = {k: v for k, v in affinity.items() if v > 0}
    if not positive:
        return ALL_SEGMENT
    return max(sorted(positive), key=lambda k: positive[k])


@dataclass(frozen=True)
class Profile:
    """What the events of one shopper say: affinity per category, taste vector, recent products, purchases."""

    user_id: str
    events: int
    affinity: dict[str, float]  # category → share of the decayed weight, largest first
    taste: np.ndarray | None
    recent: list[int]  # product ids, newest first
    model_version: str | None
    updated_at: datetime

    def top_categories(self, n: int = 3) -> list[tuple[str, float]]:
        """The n categories with the most affinity."""
        return list(self.affinity.items())[:n]

    @property
    def segment(self) -> str:
        """The shopper's top category, or "all" without one."""
        return segment_of(self.affinity)


HISTORY = (
    select(Event.product_id, Event.type, Event.ts, PRODUCT_CATEGORY, Creative.predicted_category)
    .outerjoin(Product, Product.id == Event.product_id)
    .outerjoin(Creative, Creative.id == Event.ad_id)
    .where(Event.user_id == bindparam("user"))
    .order_by(Event.ts.desc(), Event.id.desc())
    .limit(bindparam("limit"))
)
HISTORY_BEFORE = HISTORY.where(Event.ts < bindparam("before"))
PURCHASED = select(Event.product_id).where(
    Event.user_id == bindparam("user"), Event.type == "purchase", Event.product_id.is_not(None)
)
TOUCHED = (
    select(Event.product_id)
    .where(Event.user_id == bindparam("user"), Event.product_id.is_not(None))
    .distinct()
)


def _history(
    session: Session, user: str, limit: int, before: datetime | None
) -> list[tuple[int | None, str, datetime, str | None]]:
    """(product id, type, time, category) of the user's newest events (those before a time, if given), newest first."""
    params = {"user": user, "limit": limit}
    stmt = HISTORY if before is None else HISTORY_BEFORE
    rows = session.connection().execute(stmt, params if before is None else {**params, "before": before})
    return [(pid, kind, ts, cat or ad_cat) for pid, kind, ts, cat, ad_cat in rows]


def _grouped(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys and the summed weight of each (vectorised group-by)."""
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inverse, weights=weights, minlength=len(uniq))


def compute_profile(
    session: Session,
    user: str,
    version: str | None,
    config: ProfileConfig = ProfileConfig(),
    now: datetime | None = None,
    before: datetime | None = None,
) -> Profile | None:
    """The profile of a user from their events — only those before `before`, when given (None when there are none)."""
    rows = _history(session, user, config.max_events, before)
    if not rows:
        return None
    now = now or before or utcnow()
    pids = np.array([r[0] if r[0] is not None else -1 for r in rows], dtype=np.int64)
    kinds = [r[1] for r in rows]
    ages = age_days([r[2] for r in rows], now)
    w = config.weigh(kinds, ages)
    cats, cat_w = _grouped(np.array([r[3] or "" for r in rows], dtype=object), w)
    keep = (cats != "") & (cat_w > 0)
    total = float(cat_w[keep].sum())
    affinity = {
        str(c): float(v) / total for c, v in sorted(zip(cats[keep], cat_w[keep]), key=lambda x: -x[1])
    }
    taste = None
    if version is not None:
        items, item_w = _grouped(pids[pids >= 0], w[pids >= 0])
        top = np.argsort(-item_w, kind="stable")[: config.taste_items]
        vectors = product_vectors(session, version, items[top].tolist())
        found = [(vectors[int(p)], float(item_w[i])) for i, p in zip(top, items[top]) if int(p) in vectors]
        if found:
            taste = _normalised(
                np.average(np.stack([v for v, _ in found]), axis=0, weights=[x for _, x in found])
            )
    recent = list(dict.fromkeys(int(p) for p in pids if p >= 0))[: config.recent]
    return Profile(user, len(rows), affinity, taste, recent, version, now)


def segment_at(session: Session, user: str, when: datetime, config: ProfileConfig = ProfileConfig()) -> str:
    """The shopper's segment as it was just before a time (from the events before it)."""
    profile = compute_profile(session, user, None, config, now=when, before=when)
    return profile.segment if profile is not None else ALL_SEGMENT


def _normalised(v: np.ndarray) -> np.ndarray | None:
    """v / |v|, or None for a zero vector."""
    if float(np.linalg.norm(v)) <= 1e-12:
        return None
    return l2_normalize(v).astype(np.float32)


def profile_from_row(row: UserProfile) -> Profile:
    """A cached profile."""
    return Profile(
        row.user_id,
        row.events,
        json.loads(row.affinity),
        row.taste,
        json.loads(row.recent),
        row.model_version,
        as_utc(row.updated_at),
    )


def store_profile(sessions: sessionmaker[Session], profile: Profile) -> None:
    """Cache a profile (a concurrent request that stored it first wins; an erased shopper's is not stored)."""
    row = UserProfile(
        user_id=profile.user_id,
        model_version=profile.model_version,
        affinity=json.dumps(profile.affinity),
        taste=profile.taste,
        recent=json.dumps(profile.recent),
        events=profile.events,
        updated_at=profile.updated_at,
    )
    store_unless_erased(sessions, row)


def read_profile(
    session: Session,
    user: str,
    version: str | None,
    config: ProfileConfig,
    now: datetime,
    use_cache: bool = True,
) -> tuple[Profile | None, bool]:
    """The user's profile — cached when computed for this model version, else computed — and whether it was computed."""
    row = session.get(UserProfile, user) if use_cache else None
    fresh = row is not None and (now - as_utc(row.updated_at)).total_seconds() <= config.cache_ttl_s
    if row is not None and fresh and row.model_version == version:
        return profile_from_row(row), False
    return compute_profile(session, user, version, config, now), True


def load_profile(
    sessions: sessionmaker[Session],
    user: str,
    version: str | None,
    config: ProfileConfig = ProfileConfig(),
    now: datetime | None = None,
    use_cache: bool = True,
) -> Profile | None:
    """The user's profile, computed and cached when the cache has none for this model version."""
    with sessions() as session:
        profile, computed = read_profile(session, user, version, config, now or utcnow(), use_cache)
    if profile is not None and computed and use_cache:
        store_profile(sessions, profile)
    return profile


def purchased(session: Session, user: str) -> set[int]:
    """The products a user has bought."""
    return set(session.connection().execute(PURCHASED, {"user": user}).scalars())


def touched(session: Session, user: str) -> set[int]:
    """The products a user has any event of (viewed, carted, bought)."""
    return set(session.connection().execute(TOUCHED, {"user": user}).scalars())
