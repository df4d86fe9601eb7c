"""Search the catalogue with words: full text over titles and brands, text-to-image through an image–text
backbone, and both fused by reciprocal-rank fusion.

- Full text: SQLite FTS5 (bm25 order) or PostgreSQL `to_tsvector`/`websearch_to_tsquery` (ts_rank order), both
  with English stemming; a product matches when any query word does (migration 0003 makes the indexes).
- Text to image: the query is embedded by the text tower of the backbone whose image embeddings the active
  index holds (a zero-shot model version), and the index is searched as for search by photo. Catalogues whose
  index belongs to a trained model have no text tower: their search is full text alone.
- Fusion: score = Σ 1 / (RRF_K + rank) over the rankings a product appears in (Cormack et al., 2009), ranks
  from 1; RRF_K = 60 as in the paper. Ties go to the lower product id.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import column, select, table, text
from sqlalchemy.orm import Session, selectinload

from shoplens.catalog.queries import Scope
from shoplens.catalog.service import Catalog, NoModelError
from shoplens.catalog.similar import search_similar
from shoplens.db.catalog import Product, ProductImage
from shoplens.db.text_search import FTS_TABLE, PG_CONFIG, PG_DOCUMENT

RRF_K = 60
MAX_TERMS = 16  # words of a query used, at most
MAX_QUERY = 200  # characters


@dataclass(frozen=True)
class TextHit:
    """A product found by words: its fused score, its rank in each list (None: not in it), the image shown."""

    product: Product
    image: ProductImage | None
    score: float
    text_rank: int | None
    image_rank: int | None
    similarity: (
        float | None
    )  # cosine of the query text and the product's best image, when the image side found it


@dataclass(frozen=True)
class TextFound:
    """The hits, best first; the model version whose vectors answered (None: full text only)."""

    model_version: str | None
    hits: list[TextHit]


def query_terms(q: str) -> list[str]:
    """The words of a query, lowercased (letters and digits in any script), at most MAX_TERMS."""
    return re.findall(r"\w+", q.lower())[:MAX_TERMS]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """(id, fused score) best first for several rankings of ids, each best first."""
    scores: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] += 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def full_text_ranking(session: Session, q: str, limit: int, scope: Scope = Scope()) -> list[int]:
    """Product ids in the scope whose title or brand holds any of the query's words, best match first."""
    terms = query_terms(q)
    if not terms:
        return []
    stmt = select(Product.id).where(*scope.conditions())
    if session.get_bind().dialect.name == "sqlite":
        words = " OR ".join(f'"{t}"' for t in terms)  # \w+ words: never a quote inside
        fts = table(FTS_TABLE, column("rowid"))
        stmt = (
            stmt.join(fts, fts.c.rowid == Product.id)
            .where(text(f"{FTS_TABLE} MATCH :match").bindparams(match=words))
            .order_by(text(f"bm25({FTS_TABLE})"), Product.id)
        )
    else:
        query = f"websearch_to_tsquery('{PG_CONFIG}', :q)"
        document = PG_DOCUMENT.replace("title", "products.title").replace("brand", "products.brand")
        words = " or ".join(terms)
        stmt = stmt.where(text(f"{document} @@ {query}").bindparams(q=words)).order_by(
            text(f"ts_rank({document}, {query}) DESC").bindparams(q=words), Product.id
        )
    return [int(pid) for pid in session.scalars(stmt.limit(limit))]


def search_by_text(
    catalog: Catalog,
    q: str,
    *,
    k: int = 10,
    scope: Scope = Scope(),
) -> TextFound:
    """Up to k products for a text query: full text and, with a backbone, text-to-image, fused by rank."""
    q = q.strip()[:MAX_QUERY]
    fetch = max(k * 4, 50)  # each list is cut deeper than k so that fusion has something to agree on
    query_vector, version = _text_vector(catalog, q)
    with catalog.sessions() as session:
        words = full_text_ranking(session, q, fetch, scope)
        image_hits = []
        if query_vector is not None and version is not None:
            index = catalog.space.index(version, len(query_vector))
            image_hits = search_similar(session, index, query_vector, fetch, scope=scope)
        by_image = {h.product.id: (rank, h) for rank, h in enumerate(image_hits, start=1)}
        by_text = {pid: rank for rank, pid in enumerate(words, start=1)}
        fused = reciprocal_rank_fusion([words, [h.product.id for h in image_hits]])[:k]
        products = {
            p.id: p
            for p in session.scalars(
                select(Product)
                .where(Product.id.in_([pid for pid, _ in fused]))
                .options(selectinload(Product.images))
            )
        }
        hits = []
        for pid, score in fused:
            rank, hit = by_image.get(pid, (None, None))
            product = products[pid]
            image = (
                hit.image
                if hit
                else (min(product.images, key=lambda i: i.position) if product.images else None)
            )
            hits.append(
                TextHit(
                    product, image, score, by_text.get(pid), rank, round(hit.similarity, 6) if hit else None
                )
            )
    return TextFound(version if query_vector is not None else None, hits)


def _text_vector(catalog: Catalog, q: str) -> tuple[np.ndarray | None, str | None]:
    """The query's embedding by the catalogue model's text tower, and that model's version (None without one)."""
    if not query_terms(q):
        return None, None
    from shoplens.backbones.zeroshot import ZeroShotPredictor  # ONNX Runtime and tokenizers, on first use

    try:
        model = catalog.model()
    except NoModelError:  # no model at all: words still find products
        return None, None
    if not isinstance(model.predictor, ZeroShotPredictor):
        return None, model.version
    return model.predictor.embed_query(q), model.version
