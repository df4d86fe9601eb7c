"""Demo campaigns: one per demo merchant that sells something, made once however often the demo is loaded."""

from __future__ import annotations

from sqlalchemy import select

from shoplens.ads.demo import seed_demo_campaigns
from shoplens.catalog.declared import ProductIn
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.service import Catalog
from shoplens.db.ads import Campaign, Creative
from shoplens.db.catalog import Product
from tests.support.images import photos, png
from tests.support.shop import ingest_all


def test_demo_campaigns_go_to_merchants_with_products_once(catalog: Catalog) -> None:
    images = photos(3, seed=21)
    ingest_all(
        catalog,
        [IngestItem(f"k{i}", ProductIn("m00", f"s{i}", f"P{i}"), [png(p)]) for i, p in enumerate(images)],
    )
    with catalog.sessions.begin() as s:  # each declared as recognised: creatives come from matching photos
        for product in s.scalars(select(Product)):
            product.declared_category = product.images[0].predicted_category
    campaigns, creatives = seed_demo_campaigns(catalog)
    assert campaigns == 1  # m05, m10 and m15 sell nothing here
    assert seed_demo_campaigns(catalog) == (0, 0)  # loaded again: nothing doubled
    with catalog.sessions() as s:
        assert [c.merchant_id for c in s.scalars(select(Campaign))] == ["m00"]
        assert len(s.scalars(select(Creative)).all()) == creatives
