"""Search by image: nearest embeddings in the active index, filtered, one hit per product with its best image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from shoplens.db.catalog import Embedding, Product, ProductImage
from shoplens.errors import NotFoundError
from shoplens.search.index import VectorIndex

MAX_FETCH = 4096  # neighbours looked at before filters, at most


@dataclass(frozen=True)
class Hit:
    """A product similar to the query, its similarity, and which of its images matched."""

    product: Product
    image: ProductImage
    similarity: float


def product_vector(session: Session, product_id: int, version: str) -> np.ndarray:
    """The embedding of a product's first image under `version`; NotFoundError when it has none."""
    row = session.execute(
        select(Embedding.vector)
        .join(ProductImage, ProductImage.id == Embedding.image_id)
        .where(ProductImage.product_id == product_id, Embedding.model_version == version)
        .order_by(ProductImage.position, ProductImage.id)
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no product {product_id} with an indexed image")
    return row


def search_similar(
    session: Session,
    index: VectorIndex,
    query: np.ndarray,
    k: int,
    *,
    min_similarity: float = -1.0,
    category: str | None = None,
    merchant: str | None = None,
    exclude_product: int | None = None,
) -> list[Hit]:
    """Up to k products most similar to the query vector, best first, passing the filters."""
    fetch = min(max(k * 8, 64), MAX_FETCH)
    while True:
        scores, ids = index.search(query.reshape(1, -1).astype(np.float32), min(fetch, max(len(index), 1)))
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and s >= min_similarity]
        hits = _resolve(session, pairs, k, category, merchant, exclude_product)
        exhausted = len(pairs) < fetch or fetch >= min(len(index), MAX_FETCH)
        if len(hits) >= k or exhausted:
            return hits
        fetch = min(fetch * 4, MAX_FETCH)


def _resolve(
    session: Session,
    pairs: list[tuple[int, float]],
    k: int,
    category: str | None,
    merchant: str | None,
    exclude_product: int | None,
) -> list[Hit]:
    """Image ids with scores → one hit per product (its best image), filtered, in score order."""
    if not pairs:
        return []
    stmt = select(ProductImage, Product).join(Product).where(ProductImage.id.in_([i for i, _ in pairs]))
    if category:
        stmt = stmt.where(Product.declared_category == category)
    if merchant:
        stmt = stmt.where(Product.merchant_id == merchant)
    rows = {img.id: (img, prod) for img, prod in session.execute(stmt).all()}
    hits: list[Hit] = []
    seen: set[int] = set()
    for image_id, score in pairs:
        if image_id not in rows:
            continue
        img, prod = rows[image_id]
        if prod.id in seen or prod.id == exclude_product:
            continue
        seen.add(prod.id)
        hits.append(Hit(prod, img, score))
        if len(hits) == k:
            break
    return hits
