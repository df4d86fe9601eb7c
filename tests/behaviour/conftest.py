"""Fixtures for shopper behaviour and recommendations: the catalogue fixtures, a small shop with stock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from shoplens.catalog.ingest import IngestItem, ProductIn
from shoplens.catalog.service import Catalog
from tests.catalog.conftest import catalog, models_root, models_template, photos, png  # noqa: F401  (fixtures)

CATEGORIES = ("Coat", "Bag", "Sneaker", "Dress")


def stock_shop(cat: Catalog, n: int = 12, seed: int = 3, out_of_stock: Sequence[int] = ()) -> list[int]:
    """n products (categories in turn, one photo each, stock 5 or 0 at the given positions); their ids in order."""
    items = [
        IngestItem(
            f"p{i}",
            ProductIn(
                "acme",
                f"sku{i}",
                f"Item {i}",
                category=CATEGORIES[i % len(CATEGORIES)],
                stock=0 if i in out_of_stock else 5,
            ),
            [png(img)],
        )
        for i, img in enumerate(photos(n, seed=seed))
    ]
    outcomes = cat.ingestor().ingest(items)
    assert all(o.status == "done" for o in outcomes), outcomes
    return [o.product_id for o in outcomes if o.product_id is not None]


@pytest.fixture
def shop(catalog: Catalog) -> list[int]:  # noqa: F811  (the imported fixture, requested by name)
    """Twelve products in four categories, all in stock."""
    return stock_shop(catalog)
