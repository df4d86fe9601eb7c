"""Re-embed the catalogue with another model version and switch search to it atomically.

Each image re-embedded also gets the new model's attributes (an image–text backbone's; none for other models).

Searches keep using the old version's index (and model) until the switch; images ingested meanwhile are
picked up by a final catch-up pass before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import exists, select, update
from sqlalchemy.orm import aliased

from shoplens.catalog.colours import replace_attributes
from shoplens.catalog.recognise import is_mismatch, recognitions, search_dim, search_vectors
from shoplens.catalog.service import Catalog, NoModelError
from shoplens.db.catalog import Embedding, Product, ProductImage
from shoplens.imaging import decode_image
from shoplens.inference.store import LoadedModel


@dataclass
class ReindexSummary:
    """What a reindex did."""

    version: str
    previous: str | None
    embedded: int
    indexed: int


def pending(catalog: Catalog, version: str, limit: int | None) -> list[tuple[int, str, str | None]]:
    """(image id, content id, declared category) of images with no embedding from `version` yet."""
    emb = aliased(Embedding)
    has = exists().where(emb.image_id == ProductImage.id, emb.model_version == version)
    with catalog.sessions() as session:
        rows = session.execute(
            select(ProductImage.id, ProductImage.sha256, Product.declared_category)
            .join(Product)
            .where(~has)
            .order_by(ProductImage.id)
            .limit(limit)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def embed_pending(
    catalog: Catalog, model: LoadedModel, batch: int = 512, progress: Callable[[int], None] | None = None
) -> dict[int, tuple[str, float, bool]]:
    """Embed every image lacking a `model` embedding; their new (prediction, confidence, mismatch) by image id."""
    labels = list(model.predictor.bundle.labels)
    cfg = catalog.config.mismatch
    predictions: dict[int, tuple[str, float, bool]] = {}
    while rows := pending(catalog, model.version, batch):
        images = [decode_image(catalog.store.open(sha)) for _, sha, _ in rows]
        probs, vectors, _ = search_vectors(model, images)
        seen = recognitions(model, probs, vectors)
        with catalog.sessions.begin() as session:
            session.add_all(
                Embedding(image_id=i, model_version=model.version, vector=r.vector)
                for (i, _, _), r in zip(rows, seen)
            )
            replace_attributes(session, model, [i for i, _, _ in rows], vectors)
        for (image_id, _, declared), p, r in zip(rows, probs, seen):
            predictions[image_id] = (r.category, r.confidence, is_mismatch(p, labels, declared, cfg))
        if progress:
            progress(len(rows))
    return predictions


def reindex(
    catalog: Catalog,
    version: str | None = None,
    method: str | None = None,
    progress: Callable[[int], None] | None = None,
    embedder: Callable[..., dict[int, tuple[str, float, bool]]] | None = None,
) -> ReindexSummary:
    """Embed all images with `version` (default: the model store's active one), build its index, switch to it.

    embedder: how images lacking an embedding get one (default embed_pending, here; Ray: ray_jobs).
    """
    embedder = embedder or embed_pending
    version = version or catalog.models.active_version()
    if version is None:
        raise NoModelError("no active model version to reindex with")
    model = catalog.models.load(version)
    previous = catalog.space.active_version()
    predictions = embedder(catalog, model, progress=progress)
    dim = search_dim(model)  # from the bundle's recorded widths: nothing is run to learn it
    index = catalog.space.build(version, dim, method)
    predictions.update(embedder(catalog, model, progress=progress))  # images that arrived meanwhile
    with catalog.sessions.begin() as session:
        for image_id, (label, conf, mismatch) in predictions.items():
            session.execute(
                update(ProductImage)
                .where(ProductImage.id == image_id)
                .values(predicted_category=label, confidence=conf, mismatch=mismatch, model_version=version)
            )
    index = catalog.space.index(version, dim)  # in line with every embedding stored so far
    catalog.space.activate(version)
    return ReindexSummary(version, previous, len(predictions), len(index))
