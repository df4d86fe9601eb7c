"""Candidate sources: each scores every product of a snapshot as evidence on a log scale (a dense array, ≥ 0).

The recommender adds the sources with weights, so a product's score is a log-linear model of the evidence —
sources multiply rather than add, and a product must do well on several to rank high:
- visual: cosine similarity to a query vector (the shopper's taste vector, or a product's own embedding) above
  that of the weakest of the `fetch` neighbours found in the vector index (0 for products not found);
- covis: log(1 + sessions shared with the shopper's recent products), the newest seed counting most;
- category: log(1 + share / ε) for the shopper's top categories plus log(1 + popularity): popular products of
  the categories they like;
- trending: log(1 + decayed weight with a short half-life);
- cold start (a ranking, not evidence): trending products of the trending categories, then popular, then new.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shoplens.recommend.stats import ItemStats
from shoplens.search.protocol import VectorIndex

FLOOR = 0.1  # in the cold-start order: what a product outside the trending categories keeps of its score
EPSILON = 0.01  # a category share this small counts as log(2): evidence grows with the share's log


def scaled(x: np.ndarray) -> np.ndarray:
    """x / max(x), or zeros when nothing is positive."""
    top = float(x.max()) if x.size else 0.0
    return x / top if top > 0 else np.zeros_like(x, dtype=np.float64)


def visual_scores(
    stats: ItemStats, index: VectorIndex | None, queries: np.ndarray | None, fetch: int
) -> np.ndarray:
    """Cosine to the nearest query above the weakest neighbour found, per product among the `fetch` nearest."""
    out = np.zeros(len(stats))
    if (
        queries is None
        or not len(queries)
        or index is None
        or not len(index)
        or index.dim != queries.shape[1]
    ):
        return out
    sims, ids = index.search(queries.astype(np.float32), min(fetch, len(index)))
    order = np.argsort(-sims, axis=None, kind="stable")  # best match first over every query
    rows = stats.rows_of_images(ids.ravel()[order])
    ok = rows >= 0
    rows, first = np.unique(rows[ok], return_index=True)  # the first (best) match of a product wins
    sims = sims.ravel()[order][ok][first].astype(np.float64)
    if len(rows):
        out[rows] = sims - sims.min()
    return out


def seed_weights(
    stats: ItemStats, recent: Sequence[int], seeds: int, seed_decay: float
) -> tuple[np.ndarray, np.ndarray]:
    """Snapshot rows of the newest `seeds` recent products and their weights (seed_decay ** position)."""
    rows = stats.rows(list(recent[:seeds]))
    weights = seed_decay ** np.arange(len(rows), dtype=np.float64)
    keep = rows >= 0
    return rows[keep], weights[keep]


def covis_scores(stats: ItemStats, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """log(1 + sessions shared with the seed rows, weighted by seed)."""
    if not len(rows) or not stats.covis.nnz:
        return np.zeros(len(stats))
    return np.log1p(np.asarray(stats.covis[rows].T @ weights).ravel())


def category_scores(stats: ItemStats, top: Sequence[tuple[str, float]]) -> np.ndarray:
    """log(1 + share / ε) of the product's category among the shopper's top ones, plus log(1 + popularity)."""
    share = np.zeros(len(stats.categories) + 1)  # the extra slot is "no category"
    index = {c: i for i, c in enumerate(stats.categories)}
    for name, value in top:
        if name in index:
            share[index[name]] = value
    return np.log1p(share[stats.category] / EPSILON) + np.log1p(stats.popularity)


def trending_scores(stats: ItemStats) -> np.ndarray:
    """log(1 + recent, short half-life, weight)."""
    return np.log1p(stats.trending)


def hot_categories(stats: ItemStats, top: int) -> np.ndarray:
    """Indexes of the `top` categories with the most trending weight (only those with any)."""
    known = stats.category >= 0
    if not known.any():
        return np.zeros(0, dtype=np.int64)
    heat = np.bincount(stats.category[known], stats.trending[known], len(stats.categories))
    hot = np.argsort(-heat, kind="stable")[:top]
    return hot[heat[hot] > 0]


def cold_start_scores(stats: ItemStats, top: int) -> np.ndarray:
    """Trending products of the trending categories first, then popular ones, then the newest."""
    n = len(stats)
    base = scaled(stats.trending) + FLOOR * scaled(stats.popularity)
    hot = hot_categories(stats, top)
    if len(hot):
        base = base * np.where(np.isin(stats.category, hot), 1.0, FLOOR)
    return base + 1e-6 * np.arange(n) / max(n, 1)  # product ids ascend: newest last-resort
