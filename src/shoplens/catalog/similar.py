"""Search by image — nearest embeddings in the active index, filtered, one hit per product with its best image —
and the duplicate check of a photo not in the catalogue (ingestion's near-duplicate rule, nothing stored).

A photo is embedded through `Catalog.embed` (the catalogue's one model path) with the model whose embeddings
the active index holds; a product is looked up by its search vector.

With a colour weight w > 0 the nearest neighbours fetched are ranked by (1 − w) · cosine + w · colour similarity
(`shoplens.imaging.colour.palette_similarity` of the query's and the image's dominant colours); w = 0 is the
cosine ranking itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shoplens.catalog.colours import stored_colours
from shoplens.catalog.queries import Scope, get_product, product_vector
from shoplens.catalog.service import Catalog
from shoplens.db.catalog import Product, ProductImage
from shoplens.imaging.colour import Colour, palette_similarity, photo_colours
from shoplens.imaging.hashing import canonical_view, perceptual_hash
from shoplens.inference.ood import NOT_RECOGNISED
from shoplens.search.protocol import VectorIndex

NOT_A_PRODUCT_REASON = "the photo does not look like a product the model knows (not_recognised)"
MAX_FETCH = 4096  # neighbours looked at before filters, at most


@dataclass(frozen=True)
class Hit:
    """A product similar to the query, its similarity, and which of its images matched.

    similarity is the cosine; score what the hits are ranked by (the cosine, blended with colour_similarity
    when a colour weight is given).
    """

    product: Product
    image: ProductImage
    similarity: float
    score: float
    colour_similarity: float | None = None


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
    scope: Scope = Scope(),
    colour_weight: float = 0.0,
) -> Found:
    """Up to k products like a photo (untrusted bytes) or like a product (never itself), best first, filtered;
    colour_weight in 0..1 blends colour similarity into the ranking."""
    if (photo is None) == (product_id is None):
        raise ValueError("give exactly one of photo or product_id")
    if not 0.0 <= colour_weight <= 1.0:
        raise ValueError(f"colour_weight must lie in 0..1, not {colour_weight}")
    colours: list[Colour] = []
    if photo is not None:
        image, seen = catalog.decode(photo)
        model, _, vectors, statuses = catalog.embed([seen])
        if statuses[0] == NOT_RECOGNISED:  # nothing in the catalogue looks like a photo of no product
            return Found(model.version, [], reason=NOT_A_PRODUCT_REASON)
        version, query = model.version, vectors[0]
        colours = photo_colours(photo, catalog.config.max_pixels, image) if colour_weight > 0 else []
    with catalog.sessions() as session:
        if product_id is not None:
            version = catalog.model().version
            query = product_vector(session, product_id, version)
            if colour_weight > 0:  # the colours of the image whose vector is the product's: its first
                colours = stored_colours(get_product(session, product_id).images[0])
        index = catalog.space.index(version, len(query))
        hits = search_similar(
            session,
            index,
            query,
            k,
            min_similarity=min_similarity,
            scope=scope,
            exclude_product=product_id,
            colour_weight=colour_weight,
            colours=colours,
        )
        ids = [h.product.id for h in hits]  # their images too, for whoever shows the hits after the session
        session.scalars(
            select(Product).where(Product.id.in_(ids)).options(selectinload(Product.images))
        ).all()
    return Found(version, hits)


def find_duplicates(catalog: Catalog, photo: bytes) -> Found:
    """Catalogue products showing a near-duplicate of a photo (untrusted bytes), most similar first, one per product."""
    image, seen = catalog.decode(photo)
    model, _, vectors, _ = catalog.embed([seen])
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
            best[img.product_id] = Hit(get_product(session, img.product_id), img, sim, sim)
    return Found(model.version, list(best.values()))


def search_similar(
    session: Session,
    index: VectorIndex,
    query: np.ndarray,
    k: int,
    *,
    min_similarity: float = -1.0,
    scope: Scope = Scope(),
    exclude_product: int | None = None,
    colour_weight: float = 0.0,
    colours: Sequence[Colour] = (),
) -> list[Hit]:
    """Up to k products most similar to the query vector, best first, passing the filters; with a colour weight,
    ranked by cosine blended with the similarity of each image's colours to `colours`."""
    fetch = min(max(k * 8, 64), MAX_FETCH)
    blend = Blend(colour_weight, colours)
    while True:
        scores, ids = index.search(query.reshape(1, -1).astype(np.float32), min(fetch, max(len(index), 1)))
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and s >= min_similarity]
        hits = _resolve(session, pairs, k, scope, exclude_product, blend)
        exhausted = len(pairs) < fetch or fetch >= min(len(index), MAX_FETCH)
        if len(hits) >= k or exhausted:
            return hits
        fetch = min(fetch * 4, MAX_FETCH)


def _resolve(
    session: Session,
    pairs: list[tuple[int, float]],
    k: int,
    scope: Scope,
    exclude_product: int | None,
    blend: Blend,
) -> list[Hit]:
    """Image ids with cosines → one hit per product (its best image), filtered, in order of blended score."""
    if not pairs:
        return []
    stmt = (
        select(ProductImage, Product)
        .join(Product)
        .where(ProductImage.id.in_([i for i, _ in pairs]), *scope.conditions())
    )
    rows = {img.id: (img, prod) for img, prod in session.execute(stmt).all()}
    scored = [blend.hit(*rows[i], cos) for i, cos in pairs if i in rows]
    if blend.weight > 0:
        scored.sort(key=lambda h: -h.score)  # stable: equal scores keep the cosine order
    hits: list[Hit] = []
    seen: set[int] = set()
    for hit in scored:
        if hit.product.id in seen or hit.product.id == exclude_product:
            continue
        seen.add(hit.product.id)
        hits.append(hit)
        if len(hits) == k:
            break
    return hits


@dataclass(frozen=True)
class Blend:
    """How hits are scored: the cosine alone (weight 0), or blended with colour similarity to `colours`."""

    weight: float
    colours: Sequence[Colour]

    def hit(self, img: ProductImage, product: Product, cosine: float) -> Hit:
        """A hit for an image with this cosine to the query, scored."""
        if self.weight <= 0:
            return Hit(product, img, cosine, cosine)
        alike = palette_similarity(self.colours, stored_colours(img))
        return Hit(product, img, cosine, (1 - self.weight) * cosine + self.weight * alike, alike)
