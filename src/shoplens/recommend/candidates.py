"""Candidate sources: each scores every product of a snapshot (a dense array, 0 = not a candidate) in [0, 1].

- visual: the catalogue's vector index searched with a query vector (the shopper's taste, or a product's own
  embedding), min–max scaled over the neighbours found, so the nearest gets 1 and the last fetched 0.1;
- covis: sessions shared with the shopper's recent products, the newest seed counting most;
- category: popular products in the shopper's top categories, times the category's affinity;
- trending: decayed weight with a short half-life;
- cold start: trending products of the trending categories, then popular ones, then the newest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shoplens.recommend.stats import ItemStats
from shoplens.search.index import VectorIndex

FLOOR = 0.1  # the lowest score a found candidate gets (0 means "not a candidate")


def scaled(x: np.ndarray) -> np.ndarray:
    """x / max(x), or zeros when nothing is positive."""
    top = float(x.max()) if x.size else 0.0
    return x / top if top > 0 else np.zeros_like(x, dtype=np.float64)


def visual_scores(stats: ItemStats, index: VectorIndex | None, query: np.ndarray | None, fetch: int) -> np.ndarray:
    """Products whose images are nearest the query vector, best image per product, scaled to [FLOOR, 1]."""
    out = np.zeros(len(stats))
    if query is None or index is None or not len(index) or index.dim != query.size:
        return out
    sims, ids = index.search(query.reshape(1, -1).astype(np.float32), min(fetch, len(index)))
    rows = stats.rows_of_images(ids[0])
    ok = rows >= 0
    rows, first = np.unique(rows[ok], return_index=True)  # results are best first: the first image of a product wins
    sims = sims[0][ok][first].astype(np.float64)
    if not len(rows):
        return out
    lo, hi = float(sims.min()), float(sims.max())
    out[rows] = FLOOR + (1 - FLOOR) * ((sims - lo) / (hi - lo) if hi > lo else 1.0)
    return out


def seed_weights(stats: ItemStats, recent: Sequence[int], seeds: int, seed_decay: float) -> tuple[np.ndarray, np.ndarray]:
    """Snapshot rows of the newest `seeds` recent products and their weights (seed_decay ** position)."""
    rows = stats.rows(list(recent[:seeds]))
    weights = seed_decay ** np.arange(len(rows), dtype=np.float64)
    keep = rows >= 0
    return rows[keep], weights[keep]


def covis_scores(stats: ItemStats, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Products seen in the same sessions as the seed rows, weighted by seed."""
    if not len(rows) or not stats.covis.nnz:
        return np.zeros(len(stats))
    return scaled(np.asarray(stats.covis[rows].T @ weights).ravel())


def category_scores(stats: ItemStats, top: Sequence[tuple[str, float]]) -> np.ndarray:
    """Products of the shopper's top categories: affinity × (FLOOR + popularity share)."""
    affinity = np.zeros(len(stats.categories) + 1)  # the extra slot is "no category"
    index = {c: i for i, c in enumerate(stats.categories)}
    for name, share in top:
        if name in index:
            affinity[index[name]] = share
    popular = np.log1p(stats.popularity)
    return scaled(affinity[stats.category] * (FLOOR + (1 - FLOOR) * scaled(popular)))


def trending_scores(stats: ItemStats) -> np.ndarray:
    """Products by recent (short half-life) weight."""
    return scaled(stats.trending)


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
