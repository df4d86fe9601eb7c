"""Colours and attributes on catalogue images: stored at ingestion, filtered on (SQLite and PostgreSQL),
backfilled for older catalogues, blended into search by image."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from shoplens.catalog.colours import (
    MIN_COLOUR_SHARE,
    backfill_colours,
    check_colours,
    count_uncoloured,
    parse_attributes,
)
from shoplens.catalog.declared import ProductIn
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.products import delete_product
from shoplens.catalog.queries import ProductFilter, Scope, get_product, list_products
from shoplens.catalog.service import Catalog
from shoplens.catalog.similar import find_similar
from shoplens.db.catalog import ImageAttribute, ImageColour
from shoplens.errors import CatalogInputError
from tests.support.images import garment, png
from tests.support.shop import ingest_all

RED, BLUE, YELLOW = (184, 50, 46), (53, 101, 168), (232, 200, 64)


def stock(catalog: Catalog, looks: dict[str, list[tuple[int, int, int]]]) -> dict[str, int]:
    """One Bag per sku, one garment photo per colour listed; sku → product id."""
    items = [
        IngestItem(
            sku, ProductIn("acme", sku, sku, category="Bag"), [png(garment(c, seed=i)) for c in colours]
        )
        for i, (sku, colours) in enumerate(looks.items())
    ]
    return dict(zip(looks, ingest_all(catalog, items)))


def listed(catalog: Catalog, **filters: object) -> set[int]:
    """Ids of the products a filter lists."""
    with catalog.sessions() as s:
        return {p.id for p in list_products(s, ProductFilter(**filters))[1]}  # type: ignore[arg-type]


def test_ingested_images_keep_their_colours_and_products_filter_by_colour(catalog: Catalog) -> None:
    """Each image stores its product's colours (name, hex, share); a colour filter lists products with an image
    showing one of the colours at MIN_COLOUR_SHARE or more (both databases)."""
    ids = stock(catalog, {"red": [RED], "blue": [BLUE], "both": [BLUE, RED]})
    with catalog.sessions() as s:
        (img,) = get_product(s, ids["red"]).images
        assert [(c.name, c.hex, c.share) for c in img.colours] == [("red", "#B8322E", 1.0)]
    assert listed(catalog, colours=("red",)) == {ids["red"], ids["both"]}
    assert listed(catalog, colours=("blue", "red")) == set(ids.values())
    assert listed(catalog, colours=("yellow",)) == set()
    assert listed(catalog, colours=("red",), q="both") == {ids["both"]}
    with catalog.sessions.begin() as s:  # below the share threshold, a colour does not count
        s.execute(ImageColour.__table__.update().values(share=MIN_COLOUR_SHARE - 0.01))
    assert listed(catalog, colours=("red",)) == set()
    delete_product(catalog, ids["both"])
    with catalog.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ImageColour)) == 2  # its images' colours went too


def test_colour_and_attribute_filters_are_checked() -> None:
    assert check_colours(["Red", "navy, light blue", "red"]) == ("red", "navy", "light blue")
    with pytest.raises(CatalogInputError, match="unknown colour 'teal'; colours: black, white"):
        check_colours(["red,teal"])
    assert parse_attributes(["pattern:striped, Sleeve length: short"]) == (
        ("pattern", "striped"),
        ("sleeve length", "short"),
    )
    for bad in ("striped", "pattern:", ":striped"):
        with pytest.raises(CatalogInputError, match="give attribute:value"):
            parse_attributes([bad])


def test_attribute_filter_any_value_of_one_attribute_each_attribute_above_the_score(catalog: Catalog) -> None:
    ids = stock(catalog, {"a": [RED], "b": [RED], "c": [RED]})
    seen = {
        "a": [("pattern", "striped", 0.9), ("sleeve length", "short", 0.8)],
        "b": [("pattern", "floral", 0.7), ("sleeve length", "short", 0.3)],
        "c": [("pattern", "striped", 0.4)],
    }
    with catalog.sessions.begin() as s:
        for sku, rows in seen.items():
            img = get_product(s, ids[sku]).images[0]
            img.attributes.extend(
                ImageAttribute(attribute=a, value=v, score=sc, model_version="zs") for a, v, sc in rows
            )
    assert listed(catalog, attributes=(("pattern", "striped"),)) == {ids["a"]}  # c's score is below 0.5
    assert listed(catalog, attributes=(("pattern", "striped"), ("pattern", "floral"))) == {ids["a"], ids["b"]}
    both = (("pattern", "striped"), ("pattern", "floral"), ("sleeve length", "short"))
    assert listed(catalog, attributes=both) == {ids["a"]}
    assert listed(catalog, attributes=(("pattern", "floral"),), colours=("blue",)) == set()


def test_backfill_colours_images_stored_before_colours_were_kept(catalog: Catalog) -> None:
    ids = stock(catalog, {"red": [RED], "two": [BLUE, YELLOW]})
    with catalog.sessions() as s:
        before = sorted(s.execute(select(ImageColour.image_id, ImageColour.name, ImageColour.hex)).all())
    with catalog.sessions.begin() as s:
        s.execute(delete(ImageColour))
        assert count_uncoloured(s) == 3
    done = backfill_colours(catalog.sessions, catalog.store.open, batch=2)
    assert done.coloured == 3 and not done.failed
    with catalog.sessions() as s:
        assert (
            sorted(s.execute(select(ImageColour.image_id, ImageColour.name, ImageColour.hex)).all()) == before
        )
        assert count_uncoloured(s) == 0
    assert backfill_colours(catalog.sessions, catalog.store.open).coloured == 0  # nothing left to do
    with catalog.sessions.begin() as s:  # an image whose file is gone is reported, the others are coloured
        s.execute(delete(ImageColour))
        lost = get_product(s, ids["red"]).images[0]
        catalog.store.delete(lost.sha256)
    done = backfill_colours(catalog.sessions, catalog.store.open)
    assert done.coloured == 2 and list(done.failed) == [lost.id]


def test_colour_weight_ranks_a_same_colour_look_alike_above_another_colour(catalog: Catalog) -> None:
    """At weight 0 the ranking is the cosine ranking, where the query's shape in blue beats another red Bag (the
    model sees little colour); with weight > 0 the red one ranks first, and the score is the stated blend."""
    looks = [("query", RED, 0), ("blue", BLUE, 0), ("red", RED, 1)]  # (sku, colour, shape seed)
    items = [
        IngestItem(k, ProductIn("acme", k, k, category="Bag"), [png(garment(c, s))]) for k, c, s in looks
    ]
    ids = dict(zip([sku for sku, _, _ in looks], ingest_all(catalog, items)))
    query = {"product_id": ids["query"], "min_similarity": -1, "scope": Scope(category="Bag")}
    plain = find_similar(catalog, **query)
    same = find_similar(catalog, **query, colour_weight=0.0)
    assert [(h.product.id, h.score) for h in same.hits] == [(h.product.id, h.score) for h in plain.hits]
    assert all(h.score == h.similarity and h.colour_similarity is None for h in plain.hits)
    assert [h.product.id for h in plain.hits] == [ids["blue"], ids["red"]]
    blended = find_similar(catalog, **query, colour_weight=0.3)
    assert [h.product.id for h in blended.hits] == [ids["red"], ids["blue"]]
    cos = {h.product.id: h.similarity for h in plain.hits}
    for h in blended.hits:
        assert h.colour_similarity is not None
        assert h.score == pytest.approx(0.7 * cos[h.product.id] + 0.3 * h.colour_similarity)
    alike = {h.product.id: h.colour_similarity for h in blended.hits}
    assert alike[ids["red"]] == pytest.approx(1.0, abs=0.02) and alike[ids["blue"]] < 0.01
    with pytest.raises(ValueError, match=r"colour_weight must lie in 0\.\.1"):
        find_similar(catalog, product_id=ids["query"], colour_weight=1.5)
