"""Re-embed the catalogue with another model version and switch search to it atomically.

Each image re-embedded also gets the new model's attributes (an image–text backbone's; none for other models), and
at the switch its category, confidence, mismatch flag and "not a product" flag as the new model sees it. An image
that already has the version's embedding (a switch back to an earlier version) keeps that embedding and is run
through the model again for the rest.

Searches keep using the old version's index (and model) until the switch; images ingested meanwhile are
picked up by a final catch-up pass before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from sqlalchemy import exists, or_, select, true, update
from sqlalchemy.orm import aliased

from shoplens.catalog.colours import replace_attributes
from shoplens.catalog.ingest import image_flags
from shoplens.catalog.queries import NOT_A_PRODUCT
from shoplens.catalog.recognise import (
    category_probabilities,
    is_mismatch,
    recognitions,
    search_dim,
    search_vectors,
)
from shoplens.catalog.service import Catalog, NoModelError
from shoplens.db.base import upsert
from shoplens.db.catalog import Embedding, Product, ProductImage
from shoplens.imaging import decode_image
from shoplens.inference.store import LoadedModel

# After the switch: writes that chose the old version's model just before it have committed by then.
SETTLE_S = 3.0
SETTLE_POLL_S = 0.5


@dataclass
class ReindexSummary:
    """What a reindex did."""

    version: str
    previous: str | None
    embedded: int
    indexed: int


class Seen(NamedTuple):
    """What a model version says about one catalogue image, stored on the image at the switch."""

    category: str
    confidence: float
    mismatch: bool
    status: str  # recognised, needs_review or not_recognised (flagged not_a_product)
    probabilities: dict[str, float]  # of every category (ProductImage.probabilities)


# which images a pass runs through the model: those without the version's embedding, also those whose stored
# category another version gave, or every image (after the version's detector or calibration changed in place)
Scope = Literal["missing", "stale", "all"]


class Pending(NamedTuple):
    """An image a reindex runs through the model."""

    image_id: int
    sha256: str
    declared: str | None
    embedded: bool  # it already has the version's embedding (kept as it is)


def pending(
    catalog: Catalog, version: str, limit: int | None, after: int = 0, scope: Scope = "missing"
) -> list[Pending]:
    """The images of `scope` for `version` (default: those with no embedding from it yet), by id after `after`."""
    emb = aliased(Embedding)
    has = exists().where(emb.image_id == ProductImage.id, emb.model_version == version)
    needed = {
        "missing": ~has,
        "stale": or_(~has, ProductImage.model_version.is_distinct_from(version)),
        "all": true(),
    }[scope]
    with catalog.sessions() as session:
        rows = session.execute(
            select(ProductImage.id, ProductImage.sha256, Product.declared_category, has)
            .join(Product)
            .where(needed, ProductImage.id > after)
            .order_by(ProductImage.id)
            .limit(limit)
        ).all()
    return [Pending(*r) for r in rows]


def embed_pending(
    catalog: Catalog,
    model: LoadedModel,
    batch: int = 512,
    progress: Callable[[int], None] | None = None,
    scope: Scope = "missing",
) -> dict[int, Seen]:
    """Run the model on the images of `scope` (default: those lacking its embedding), storing the embeddings they
    lack; what it sees in each, by image id."""
    labels = list(model.predictor.bundle.labels)
    cfg = catalog.config.mismatch
    predictions: dict[int, Seen] = {}
    after = 0
    while rows := pending(catalog, model.version, batch, after, scope):
        images = [decode_image(catalog.store.open(r.sha256)) for r in rows]
        probs, vectors, statuses = search_vectors(model, images)
        seen = recognitions(model, probs, vectors)
        with catalog.sessions.begin() as session:
            new = [
                {"image_id": r.image_id, "model_version": model.version, "vector": s.vector}
                for r, s in zip(rows, seen)
                if not r.embedded
            ]
            if new:  # a reindex running beside this one may have stored some of them first: theirs are kept
                session.execute(upsert(session)(Embedding).on_conflict_do_nothing(), new)
            replace_attributes(session, model, [r.image_id for r in rows], vectors)
        for r, p, s, status in zip(rows, probs, seen, statuses):
            predictions[r.image_id] = Seen(
                s.category,
                s.confidence,
                is_mismatch(p, labels, r.declared, cfg),
                status,
                category_probabilities(p, labels),
            )
        after = rows[-1].image_id
        if progress:
            progress(len(rows))
    return predictions


def store_predictions(catalog: Catalog, version: str, predictions: dict[int, Seen], chunk: int = 500) -> None:
    """Write what `version` sees in each image onto it, in one transaction: category, confidence, probabilities,
    mismatch, and the not_a_product flag among its quality flags."""
    ids = sorted(predictions)
    with catalog.sessions.begin() as session:
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            query = select(ProductImage.id, ProductImage.quality_flags).where(ProductImage.id.in_(part))
            flags: dict[int, str] = dict(session.execute(query).all())  # type: ignore[arg-type]
            for image_id in part:
                seen = predictions[image_id]
                session.execute(
                    update(ProductImage)
                    .where(ProductImage.id == image_id)
                    .values(
                        predicted_category=seen.category,
                        confidence=seen.confidence,
                        probabilities=seen.probabilities,
                        mismatch=seen.mismatch,
                        model_version=version,
                        quality_flags=",".join(image_flags(_quality(flags.get(image_id)), seen.status)),
                    )
                )


def _quality(flags: str | None) -> Sequence[str]:
    """An image's stored flags less the model's not_a_product (the flags its photo's quality gave)."""
    return [f for f in (flags or "").split(",") if f and f != NOT_A_PRODUCT]


def reindex(
    catalog: Catalog,
    version: str | None = None,
    method: str | None = None,
    progress: Callable[[int], None] | None = None,
    embedder: Callable[..., dict[int, Seen]] | None = None,
    refresh: bool = False,
    settle_s: float = 0.0,
) -> ReindexSummary:
    """Embed all images with `version` (default: the model store's active one), build its index, switch to it.

    embedder: how images lacking an embedding get one (default embed_pending, here; Ray: ray_jobs).
    refresh: run the model again on every image, not only on those another version recognised (after the
    version's detector was fitted again in place, `shoplens models refit-detector`).
    settle_s: after the switch, how long images committed with the old version's model are still looked for
    (at least one pass; `shoplens reindex` waits SETTLE_S for writes in flight in other processes).
    """
    embedder = embedder or embed_pending
    version = version or catalog.models.active_version()
    if version is None:
        raise NoModelError("no active model version to reindex with")
    model = catalog.models.load(version)
    previous = catalog.space.active_version()
    predictions = embedder(catalog, model, progress=progress, scope="all" if refresh else "stale")
    dim = search_dim(model)  # from the bundle's recorded widths: nothing is run to learn it
    index = catalog.space.build(version, dim, method)
    predictions.update(embedder(catalog, model, progress=progress))  # images that arrived meanwhile
    store_predictions(catalog, version, predictions)
    catalog.space.activate(version)
    late = settle(catalog, model, embedder, settle_s)
    store_predictions(catalog, version, late)
    index = catalog.space.index(version, dim)  # in line with every embedding stored so far
    if late:
        catalog.space.save(version)  # servers that loaded it before the late ones were stored reload it
    predictions.update(late)
    return ReindexSummary(version, previous, len(predictions), len(index))


def settle(
    catalog: Catalog, model: LoadedModel, embedder: Callable[..., dict[int, Seen]], settle_s: float
) -> dict[int, Seen]:
    """Embed the images that writers committed around the switch with the old version's model (an ingest that
    chose its model just before it), until a pass finds none after `settle_s` seconds; what they are seen as."""
    late: dict[int, Seen] = {}
    until = time.monotonic() + settle_s
    while True:
        found = embedder(catalog, model)
        late.update(found)
        if not found and time.monotonic() >= until:
            return late
        time.sleep(SETTLE_POLL_S)
