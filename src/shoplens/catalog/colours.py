"""Colours and attributes of catalogue images: stored at ingestion, backfilled for older catalogues, filtered on.

An image's colours are the product's dominant colours (`shoplens.imaging.colour`: foreground only, k-means in
CIELAB, a named palette), kept as (name, hex, share) rows. Its attributes are what an image–text backbone's
attribute prompts see in it (pattern: striped, …), kept when the model that embedded it has such prompts.

Filters: a product has a colour when one of its images shows it with at least MIN_COLOUR_SHARE of the product's
pixels; it has an attribute value when one of its images scores it at least MIN_ATTRIBUTE_SCORE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from shoplens.db.catalog import ImageAttribute, ImageColour, Product, ProductImage
from shoplens.errors import CatalogInputError, ShopLensError
from shoplens.imaging import decode_image
from shoplens.imaging.colour import PALETTE, Colour, image_colours
from shoplens.inference.store import LoadedModel

COLOUR_NAMES: tuple[str, ...] = tuple(PALETTE)
MIN_COLOUR_SHARE = 0.2
MIN_ATTRIBUTE_SCORE = 0.5
MAX_NAME = 64  # longest attribute name or value stored (the columns' width)


def colour_rows(colours: Sequence[Colour]) -> list[ImageColour]:
    """An image's colour rows, largest share first."""
    return [ImageColour(name=c.name, hex=c.hex, share=c.share, position=i) for i, c in enumerate(colours)]


def stored_colours(img: ProductImage) -> list[Colour]:
    """An image's stored colours (its `colours` loaded)."""
    return [Colour(c.name, c.hex, c.share) for c in img.colours]


def attribute_rows(model: LoadedModel, vectors: np.ndarray) -> list[list[ImageAttribute]]:
    """Per image, the attribute values the model's attribute prompts see in it (none for other models)."""
    scores = attribute_scorer(model)
    if scores is None:
        return [[] for _ in vectors]
    return [
        [
            ImageAttribute(attribute=name, value=v["value"], score=v["score"], model_version=model.version)
            for name, values in scores(vector).items()
            for v in values
            if len(name) <= MAX_NAME and len(v["value"]) <= MAX_NAME
        ]
        for vector in vectors
    ]


def replace_attributes(
    session: Session, model: LoadedModel, image_ids: Sequence[int], vectors: np.ndarray
) -> None:
    """Replace the stored attributes of these images with what `model` sees in them (a reindex; none: removed)."""
    ids = [int(i) for i in image_ids]
    session.execute(delete(ImageAttribute).where(ImageAttribute.image_id.in_(ids)))
    for image_id, rows in zip(ids, attribute_rows(model, vectors)):
        for row in rows:
            row.image_id = image_id
        session.add_all(rows)


def attribute_scorer(model: LoadedModel) -> Callable[[np.ndarray], dict[str, list[dict[str, Any]]]] | None:
    """The model's attribute scoring of one search vector, when it is a backbone with attribute prompts."""
    from shoplens.backbones.zeroshot import ZeroShotPredictor  # ONNX Runtime and tokenizers, on first use

    predictor = model.predictor
    if not isinstance(predictor, ZeroShotPredictor) or not predictor.attributes:
        return None
    return predictor.attribute_scores  # its search vectors are its unit image embeddings


def check_choices(names: Iterable[str], allowed: Sequence[str], what: str, plural: str) -> tuple[str, ...]:
    """A filter's values as given (lowercased, comma lists split, each once); CatalogInputError naming the allowed
    values for one not among them, or for a filter given blank (it named nothing, and filtered nothing)."""
    given = list(names)
    out = tuple(dict.fromkeys(n.strip().lower() for raw in given for n in raw.split(",") if n.strip()))
    if given and not out:
        raise CatalogInputError(f"the {what} filter names no {what}; {plural}: {', '.join(allowed)}")
    unknown = [n for n in out if n not in allowed]
    if unknown:
        raise CatalogInputError(f"unknown {what} {unknown[0]!r}; {plural}: {', '.join(allowed)}")
    return out


def check_colours(names: Iterable[str]) -> tuple[str, ...]:
    """Colour names as given (lowercased, comma lists split); CatalogInputError naming the palette otherwise."""
    return check_choices(names, COLOUR_NAMES, "colour", "colours")


def parse_attributes(specs: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """'attribute:value' filters as pairs (comma lists split); CatalogInputError for one without both parts, or
    for filters given blank."""
    given = list(specs)
    out = []
    for raw in given:
        for spec in filter(None, (s.strip() for s in raw.split(","))):
            name, sep, value = spec.partition(":")
            if not sep or not name.strip() or not value.strip():
                raise CatalogInputError(
                    f"attribute filter {spec!r}: give attribute:value, e.g. pattern:striped"
                )
            out.append((name.strip().lower(), value.strip().lower()))
    if given and not out:
        raise CatalogInputError(
            "the attribute filter names nothing: give attribute:value, e.g. pattern:striped"
        )
    return tuple(dict.fromkeys(out))


def colour_condition(names: Sequence[str]) -> Any:
    """SQL condition: one of the product's images shows one of these colours (share ≥ MIN_COLOUR_SHARE).

    An uncorrelated IN (the products having it, found once through the colour-name index): as a correlated
    EXISTS, SQLite scanned every image of that colour for every product (0.7 s for 2000 products).
    """
    having = (
        select(ProductImage.product_id)
        .join(ImageColour, ImageColour.image_id == ProductImage.id)
        .where(ImageColour.name.in_(list(names)), ImageColour.share >= MIN_COLOUR_SHARE)
    )
    return Product.id.in_(having)


def attribute_condition(pairs: Sequence[tuple[str, str]]) -> Any:
    """SQL condition: for each attribute named, one of the product's images has one of its values given."""
    by_name: dict[str, list[str]] = {}
    for name, value in pairs:
        by_name.setdefault(name, []).append(value)
    return and_(
        *(
            Product.id.in_(
                select(ProductImage.product_id)
                .join(ImageAttribute, ImageAttribute.image_id == ProductImage.id)
                .where(
                    ImageAttribute.attribute == name,
                    ImageAttribute.value.in_(values),
                    ImageAttribute.score >= MIN_ATTRIBUTE_SCORE,
                )
            )
            for name, values in by_name.items()
        )
    )


def _uncoloured() -> Any:
    """SQL condition: the image has no colours stored."""
    return ~exists().where(ImageColour.image_id == ProductImage.id)


def count_uncoloured(session: Session) -> int:
    """How many images have no colours stored."""
    return session.scalar(select(func.count(ProductImage.id)).where(_uncoloured())) or 0


def missing_colours(session: Session, after: int, limit: int) -> list[tuple[int, str]]:
    """(image id, content id) of up to `limit` images with no colours stored and an id above `after`, by id."""
    rows = session.execute(
        select(ProductImage.id, ProductImage.sha256)
        .where(_uncoloured(), ProductImage.id > after)
        .order_by(ProductImage.id)
        .limit(limit)
    )
    return [(int(i), str(s)) for i, s in rows]


@dataclass
class Backfill:
    """What a colour backfill did: images coloured, and those whose stored file could not be read (by id)."""

    coloured: int = 0
    failed: dict[int, str] = field(default_factory=dict)


def backfill_colours(
    sessions: sessionmaker[Session],
    open_image: Callable[[str], bytes],
    batch: int = 256,
    progress: Callable[[int], None] | None = None,
) -> Backfill:
    """Store the colours of every image that has none (catalogues from before colours were kept).

    open_image: the stored bytes of a content id (the image store's `open`). A second run does nothing.
    """
    out, after = Backfill(), 0
    while True:
        with sessions() as session:
            rows = missing_colours(session, after, batch)
        if not rows:
            return out
        after = rows[-1][0]
        found: dict[int, list[Colour]] = {}
        for image_id, sha in rows:
            try:
                found[image_id] = image_colours(decode_image(open_image(sha)))
            except ShopLensError as e:  # a missing or unreadable file: reported, the rest go on
                out.failed[image_id] = str(e)
        with sessions.begin() as session:
            for image_id, colours in found.items():
                img = session.get(ProductImage, image_id)
                if img is not None and not img.colours:  # deleted or filled meanwhile: left alone
                    img.colours.extend(colour_rows(colours))
                    out.coloured += 1
        if progress:
            progress(len(rows))
