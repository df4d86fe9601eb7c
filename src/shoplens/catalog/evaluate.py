"""How well the catalogue does against known truth: same-category retrieval, mismatch flags, duplicate groups."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplens.catalog.queries import product_vectors
from shoplens.db.catalog import Product, ProductImage


def retrieval_metrics(
    vectors: np.ndarray, labels: np.ndarray, k: int = 10, chunk: int = 512
) -> dict[str, float]:
    """precision@k and mean average precision of same-label neighbours, each vector querying all the others."""
    n = len(vectors)
    hits_at_k = 0.0
    ap_sum = 0.0
    per_label = np.bincount(labels)
    for start in range(0, n, chunk):
        q = vectors[start : start + chunk]
        sims = q @ vectors.T
        rows = np.arange(len(q))
        sims[rows, start + rows] = -np.inf  # never the query itself
        order = np.argsort(-sims, axis=1)[:, : n - 1]
        relevant = labels[order] == labels[start : start + chunk, None]
        hits_at_k += relevant[:, :k].sum()
        ranks = np.arange(1, n, dtype=np.float64)
        precision_at_hit = np.cumsum(relevant, axis=1) / ranks
        totals = per_label[labels[start : start + chunk]] - 1
        ap_sum += float(((precision_at_hit * relevant).sum(axis=1) / np.maximum(totals, 1)).sum())
    return {f"precision_at_{k}": hits_at_k / (n * k), "map": ap_sum / n}


def precision_recall(found: set, truth: set) -> tuple[float, float]:
    """Precision and recall of a found set against the true set (1.0 for an empty denominator)."""
    true_pos = len(found & truth)
    return (true_pos / len(found) if found else 1.0, true_pos / len(truth) if truth else 1.0)


def flagged_mismatches(session: Session) -> set[str]:
    """'merchant/sku' of every product flagged as declaring the wrong category."""
    rows = session.execute(
        select(Product.merchant_id, Product.sku)
        .join(ProductImage)
        .where(ProductImage.mismatch.is_(True))
        .distinct()
    )
    return {f"{m}/{s}" for m, s in rows}


def duplicate_pairs(session: Session) -> set[frozenset[str]]:
    """Unordered pairs of products ('merchant/sku') that share a duplicate group."""
    groups: dict[int, set[str]] = {}
    rows = session.execute(
        select(ProductImage.duplicate_group, Product.merchant_id, Product.sku)
        .join(Product)
        .where(ProductImage.duplicate_group.is_not(None))
    )
    for group, merchant, sku in rows:
        groups.setdefault(group, set()).add(f"{merchant}/{sku}")
    return {frozenset((a, b)) for members in groups.values() for a in members for b in members if a < b}


def as_pairs(pairs: Iterable[Iterable[str]]) -> set[frozenset[str]]:
    """Truth pairs as a set of unordered pairs."""
    return {frozenset(p) for p in pairs}


def vectors_by_sku(session: Session, version: str) -> tuple[list[str], np.ndarray]:
    """('merchant/sku', search vector) of every product with one under a model version, by product id."""
    vectors = product_vectors(session, version)
    rows = session.execute(select(Product.id, Product.merchant_id, Product.sku).order_by(Product.id)).all()
    found = [(f"{m}/{s}", vectors[pid]) for pid, m, s in rows if pid in vectors]
    return [k for k, _ in found], np.stack([v for _, v in found])
