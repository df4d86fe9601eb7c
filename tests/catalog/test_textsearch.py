"""Search by words: full text over titles and brands on both databases, and reciprocal-rank fusion."""

from __future__ import annotations

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from shoplens.catalog.declared import ProductIn
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.queries import Scope
from shoplens.catalog.service import Catalog
from shoplens.catalog.textsearch import full_text_ranking, query_terms, reciprocal_rank_fusion, search_by_text
from shoplens.db.catalog import Merchant, Product
from shoplens.db.engine import make_engine, upgrade
from tests.support.images import photos, png

PRODUCTS = [  # sku, title, brand, category
    ("a", "Red summer dress", "Sunny", "Dress"),
    ("b", "Blue denim jeans", "Rivet", "Trouser"),
    ("c", "Summer sandals", "Beach", "Sandal"),
    ("d", "Black boots", "Red Wing", "Ankle boot"),
    ("e", "Grey hoodie", None, "Pullover"),
]


def stock(catalog: Catalog) -> dict[str, int]:
    """Ingest PRODUCTS (one photo each); sku → product id."""
    items = [
        IngestItem(sku, ProductIn("acme", sku, title, brand, category=cat), [png(img)])
        for (sku, title, brand, cat), img in zip(PRODUCTS, photos(len(PRODUCTS), seed=5))
    ]
    outcomes = catalog.ingestor().ingest(items)
    assert all(o.status == "done" for o in outcomes), outcomes
    return {o.key: o.product_id for o in outcomes}


def test_reciprocal_rank_fusion() -> None:
    """Σ 1/(60 + rank): a product high in both lists beats one first in a single list; ties by id."""
    fused = reciprocal_rank_fusion([[7, 3, 5], [3, 9]])
    assert [pid for pid, _ in fused] == [3, 7, 9, 5]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert [pid for pid, _ in reciprocal_rank_fusion([[2], [1]])] == [1, 2]
    assert reciprocal_rank_fusion([[], []]) == []


def test_query_terms() -> None:
    """Words in any script, lowercased, punctuation and FTS operators dropped."""
    assert query_terms('Red "summer" dress* OR -NEAR(') == ["red", "summer", "dress", "or", "near"]
    assert query_terms("Kleid für den Sommer") == ["kleid", "für", "den", "sommer"]
    assert query_terms("  ...  ") == []


def test_full_text_over_titles_and_brands_follows_every_change(catalog: Catalog) -> None:
    """Any word matches (stemmed), the best match first; updates and deletes reach the index (both databases)."""
    ids = stock(catalog)
    with catalog.sessions() as s:
        found = full_text_ranking(s, "red summer dresses", 10)
        assert found[0] == ids["a"]  # three words match its title
        assert set(found) == {ids["a"], ids["c"], ids["d"]}  # "summer" in c's title, "red" in d's brand
        assert full_text_ranking(s, "RIVET", 10) == [ids["b"]]
        assert full_text_ranking(s, "summer", 10, Scope(category="Sandal")) == [ids["c"]]
        assert full_text_ranking(s, "summer", 10, Scope(merchant="other")) == []
        assert full_text_ranking(s, "!!!", 10) == []
        assert len(full_text_ranking(s, "red summer", 1)) == 1
    with catalog.sessions.begin() as s:
        s.get(Product, ids["e"]).title = "Grey summer hoodie"
        s.execute(delete(Product).where(Product.id == ids["c"]))
    with catalog.sessions() as s:
        assert set(full_text_ranking(s, "summer", 10)) == {ids["a"], ids["e"]}
        assert full_text_ranking(s, "sandals", 10) == []


def test_full_text_keeps_to_the_status_and_stock_asked_for(catalog: Catalog) -> None:
    """A shop front asks for products on sale: drafts, archived and sold-out products are left out (both databases)."""
    ids = stock(catalog)
    with catalog.sessions.begin() as s:
        s.get(Product, ids["a"]).status = "archived"
        s.get(Product, ids["c"]).stock = 0
        for sku in "bde":
            s.get(Product, ids[sku]).stock = 3
    with catalog.sessions() as s:
        assert set(full_text_ranking(s, "red summer", 10)) == {ids["a"], ids["c"], ids["d"]}
        assert full_text_ranking(s, "red summer", 10, Scope(statuses=("active",), in_stock=True)) == [
            ids["d"]
        ]
        assert full_text_ranking(s, "red summer", 10, Scope(statuses=("archived", "draft"))) == [ids["a"]]
        assert set(full_text_ranking(s, "red summer", 10, Scope(in_stock=True))) == {ids["d"]}
    found = search_by_text(catalog, "summer", k=5, scope=Scope(statuses=("active",)))
    assert [h.product.id for h in found.hits] == [ids["c"]]


def test_a_trained_model_catalogue_searches_by_words_alone(catalog: Catalog) -> None:
    """Without a text tower the answer is the full-text ranking, with each product's first image."""
    ids = stock(catalog)
    found = search_by_text(catalog, "red summer dress", k=2)
    assert found.model_version is None
    assert [h.product.id for h in found.hits] == [ids["a"], *(full_text_ranking_ids(catalog)[1:2])]
    top = found.hits[0]
    assert top.text_rank == 1 and top.image_rank is None and top.similarity is None
    assert top.image is not None and top.image.product_id == ids["a"]
    assert top.score == pytest.approx(1 / 61)


def full_text_ranking_ids(catalog: Catalog) -> list[int]:
    """The full-text ranking of 'red summer dress', for comparison."""
    with catalog.sessions() as s:
        return full_text_ranking(s, "red summer dress", 10)


def test_products_made_before_the_migration_are_found(database_url: str) -> None:
    """Migration 0003 indexes the rows already there (SQLite rebuilds FTS5; PostgreSQL indexes an expression)."""
    engine = make_engine(database_url)
    upgrade(engine, "0002")
    with Session(engine) as s, s.begin():
        s.add(Merchant(id="acme", name="Acme"))
        s.flush()
        s.add(Product(merchant_id="acme", sku="old", title="Vintage denim jacket", brand="Levi"))
    upgrade(engine)
    with Session(engine) as s:
        assert len(full_text_ranking(s, "denim", 5)) == 1
        assert len(full_text_ranking(s, "levi", 5)) == 1
    engine.dispose()
