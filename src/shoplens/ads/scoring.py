"""How candidate creatives are scored: relevance to the page and the shopper, a Thompson-sampled click rate, a bid.

Pure functions over arrays (one row per candidate creative), shared by the service's selection and the simulator.

- **Relevance** r ∈ [-1, 1] is a weighted mean of the parts that are known for a request:
  cosine(creative, viewed product) (`context_weight`), cosine(creative, shopper's taste vector) (`user_weight`)
  and a category match (`category_weight`): 1 when the creative's recognised category is the viewed product's,
  otherwise the shopper's affinity for that category relative to their top category (0…1). Parts that are
  unknown (no product viewed, no history, no embedding of the current model version) are left out of the mean.
- **Click rate**: θ is drawn from the creative's Beta posterior in the shopper's segment (the shopper's top
  category, or "all" when unknown). Clicks seen in the creative's *other* segments count `pool_weight` each,
  so a new segment starts from the creative's overall record instead of from nothing:
  θ ~ Beta(1 + c_s + λ·c_o, 1 + (n_s − c_s) + λ·(n_o − c_o)).
- **Score** = bid × θ × exp(tilt × r): the expected value of showing the creative (what a click pays times the
  chance of a click), tilted towards creatives that fit this page and shopper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from shoplens.inference.predictor import l2_normalize


@dataclass(frozen=True)
class SelectionConfig:
    """The knobs of ad selection (weights of the relevance parts, sampling, caps)."""

    context_weight: float = 0.5  # cosine of the creative with the product being viewed
    user_weight: float = 0.3  # cosine of the creative with the shopper's taste vector
    category_weight: float = 0.2  # recognised category vs the viewed product's and the shopper's categories
    relevance_tilt: float = 4.0  # score = bid × θ × exp(tilt × relevance)
    pool_weight: float = 0.1  # weight of a creative's clicks in other segments in this segment's posterior
    frequency_cap: int = 3  # impressions of one creative to one shopper within frequency_window, at most
    frequency_window: timedelta = timedelta(hours=24)
    pacing: bool = True  # campaigns with an end date spend at most budget × elapsed share of their time
    max_candidates: int = 1000  # creatives looked at per request, at most
    max_slots: int = 10


@dataclass(frozen=True)
class Candidates:
    """The creatives a request may show, as parallel arrays (row i is one creative)."""

    bids: np.ndarray  # (n,) float
    vectors: np.ndarray  # (n, d) float32, L2-normalised; rows without a usable embedding are zero
    has_vector: np.ndarray  # (n,) bool
    categories: Sequence[str | None]  # recognised category of each creative
    clicks: np.ndarray  # (n,) clicks in the shopper's segment
    impressions: np.ndarray  # (n,) impressions in the shopper's segment
    total_clicks: np.ndarray  # (n,) clicks over all segments
    total_impressions: np.ndarray  # (n,) impressions over all segments

    def __len__(self) -> int:
        return len(self.bids)


@dataclass(frozen=True)
class Context:
    """What is known about the request: the product viewed and the shopper's profile (each may be missing)."""

    product_vector: np.ndarray | None = None
    product_category: str | None = None
    taste: np.ndarray | None = None
    affinity: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Scores:
    """Every part of every candidate's score (NaN where a part was unknown), for transparency."""

    context_similarity: np.ndarray
    user_similarity: np.ndarray
    category_match: np.ndarray
    relevance: np.ndarray
    sampled_ctr: np.ndarray
    expected_ctr: np.ndarray  # the posterior mean
    score: np.ndarray


def posterior(c: Candidates, pool_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """The Beta(α, β) parameters of each candidate's click rate in the segment."""
    other_clicks = np.maximum(c.total_clicks - c.clicks, 0)
    other_misses = np.maximum((c.total_impressions - c.total_clicks) - (c.impressions - c.clicks), 0)
    alpha = 1.0 + c.clicks + pool_weight * other_clicks
    beta = 1.0 + np.maximum(c.impressions - c.clicks, 0) + pool_weight * other_misses
    return alpha, beta


def relevance_parts(c: Candidates, ctx: Context, config: SelectionConfig) -> tuple[np.ndarray, ...]:
    """Context similarity, user similarity, category match (NaN when unknown) and their weighted mean."""
    n = len(c)
    nan = np.full(n, np.nan)
    ctx_sim = _cosines(c, ctx.product_vector) if ctx.product_vector is not None else nan
    user_sim = _cosines(c, ctx.taste) if ctx.taste is not None else nan
    match = (
        _category_match(c.categories, ctx.product_category, ctx.affinity)
        if (ctx.product_category is not None or ctx.affinity)
        else nan
    )
    parts = np.stack([ctx_sim, user_sim, match])
    weights = np.array([config.context_weight, config.user_weight, config.category_weight])[:, None]
    known = ~np.isnan(parts)
    total = np.where(known, weights, 0.0).sum(axis=0)
    mixed = np.where(known, parts * weights, 0.0).sum(axis=0)
    relevance = np.divide(mixed, total, out=np.zeros(n), where=total > 0)
    return ctx_sim, user_sim, match, relevance


def score(c: Candidates, ctx: Context, rng: np.random.Generator, config: SelectionConfig) -> Scores:
    """Relevance, a Thompson draw of the click rate and the combined score of every candidate."""
    ctx_sim, user_sim, match, relevance = relevance_parts(c, ctx, config)
    alpha, beta = posterior(c, config.pool_weight)
    theta = rng.beta(alpha, beta) if len(c) else np.zeros(0)
    combined = c.bids * theta * np.exp(config.relevance_tilt * relevance)
    return Scores(ctx_sim, user_sim, match, relevance, theta, alpha / (alpha + beta), combined)


def pick(scores: np.ndarray, campaigns: Sequence[int], slots: int) -> list[int]:
    """Indices of the best `slots` candidates: one per campaign first, then the rest by score."""
    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    chosen: list[int] = []
    seen: set[int] = set()
    for i in order:
        if len(chosen) < slots and campaigns[i] not in seen:
            chosen.append(i)
            seen.add(campaigns[i])
    for i in order:
        if len(chosen) >= slots:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen, key=lambda i: -scores[i])


def _cosines(c: Candidates, query: np.ndarray) -> np.ndarray:
    """Cosine of each candidate's vector with the query; NaN for candidates without one."""
    q = np.asarray(query, dtype=np.float32)
    if len(c) == 0 or not np.any(q) or c.vectors.shape[1] != q.shape[0]:
        return np.full(len(c), np.nan)
    sims = (c.vectors @ l2_normalize(q)).astype(np.float64)
    return np.where(c.has_vector, sims, np.nan)


def _category_match(
    categories: Sequence[str | None], product_category: str | None, affinity: Mapping[str, float]
) -> np.ndarray:
    """1 for the viewed product's category, else the shopper's affinity relative to their top category."""
    top = max(affinity.values(), default=0.0)
    out = np.zeros(len(categories))
    for i, cat in enumerate(categories):
        if cat is None:
            continue
        if cat == product_category:
            out[i] = 1.0
        elif top > 0:
            out[i] = max(affinity.get(cat, 0.0), 0.0) / top
    return out
