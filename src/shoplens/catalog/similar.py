"""Search by image — nearest embeddings in the active index, filtered, one hit per product with its best image —
and the duplicate check of a photo not in the catalogue (ingestion's near-duplicate rule, nothing stored).

A photo is embedded through `Catalog.embed` (the catalogue's one model path) with the model whose embeddings
the active index holds; a product is looked up by its search vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shoplens.catalog.queries import get_product, product_vector
from shoplens.catalog.service import Catalog
from shoplens.db.catalog import Product, ProductImage
from shoplens.imaging import decode_image
from shoplens.imaging.hashing import canonical_view, perceptual_hash
from shoplens.inference.ood import NOT_RECOGNISED
from shoplens.search.protocol import VectorIndex

NOT_A_PRODUCT_REASON = "the photo does not look like a product the model knows (not_recognised)"
MAX_FETCH = 4096  # neighbours looked at before filters, at most


@dataclass(frozen=True)
class Hit:
    """A product similar to the query, its similarity, and which of its images matched."""

    product: Product
    image: ProductImage
    similarity: float


@dataclass(frozen=True)
class Found:
    """The hits of a search, best first, and the model version whose vectors answered."""

    model_version: str
    hits: list[Hit]
    reason: str | None = None  # why there are no hits, when the query was refused


def find_similar(
    catalog: Catalog,
    *,
    photo: bytes | None = None,
    product_id: int | None = None,
    k: int = 10,
    min_similarity: float = -1.0,
    category: str | None = None,
    merchant: str | None = None,
) -> Found:
    """Up to k products like a photo (untrusted bytes) or like a product (never itself), best first, filtered."""
    if (photo is None) == (product_id is None):
        raise ValueError("give exactly one of photo or product_id")
    if photo is not None:
        model, _, vectors, statuses = catalog.embed(
            [decode_image(photo, max_pixels=catalog.config.max_pixels)]
        )
        if statuses[0] == NOT_RECOGNISED:  # nothing in the catalogue looks like a photo of no product
            return Found(model.version, [], reason=NOT_A_PRODUCT_REASON)
        version, query = model.version, vectors[0]
    with catalog.sessions() as session:
        if product_id is not None:
            version = catalog.model().version
            query = product_vector(session, product_id, version)
        index = catalog.space.index(version, len(query))
        hits = search_similar(
            session,
            index,
            query,
            k,
            min_similarity=min_similarity,
            category=category,
            merchant=merchant,
            exclude_product=product_id,
        )
        ids = [h.product.id for h in hits]  # their images too, for whoever shows the hits after the session
        session.scalars(
            select(Product).where(Product.id.in_(ids)).options(selectinload(Product.images))
        ).all()
    return Found(version, hits)


def find_duplicates(catalog: Catalog, photo: bytes) -> Found:
    """Catalogue products showing a near-duplicate of a photo (untrusted bytes), most similar first, one per product."""
    image = decode_image(photo, max_pixels=catalog.config.max_pixels)
    model, _, vectors, _ = catalog.embed([image])
    view = canonical_view(image)
    phash = perceptual_hash(Image.fromarray(view))
    cache = catalog.duplicate_cache(model.version)
    with catalog.sessions() as session:
        with cache.lock:
            cache.refresh(session)
            rows, sims = cache.matches(phash, vectors[0], view, catalog.config.duplicates)
            image_ids = [int(i) for i in cache.ids[rows]]
        best: dict[int, Hit] = {}
        for image_id, sim in sorted(zip(image_ids, sims.tolist()), key=lambda x: -x[1]):
            img = session.get(ProductImage, image_id)
            if img is None or img.product_id in best:
                continue  # deleted meanwhile, or this product already has a better image
            best[img.product_id] = Hit(get_product(session, img.product_id), img, sim)
    return Found(model.version, list(best.values()))


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
