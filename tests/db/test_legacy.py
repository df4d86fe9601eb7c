"""A database written by the code before `shoplens.db` existed opens, migrates in place and reads back whole.

tests/fixtures/catalog-0d7d5ae.db was made by tests/fixtures/make_legacy_db.py with the code of commit 0d7d5ae,
which stored vectors as hand-encoded float32 bytes; the Vector column type must read them as they were.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
from alembic.script import ScriptDirectory
from sqlalchemy import delete, select, text

from shoplens.db.ads import AdStat, Campaign, Creative
from shoplens.db.behaviour import Event, UserProfile
from shoplens.db.catalog import Embedding, IdempotencyRecord, IngestRow, Product, ProductImage, Taxonomy
from shoplens.db.engine import alembic_config, open_database

LEGACY = Path(__file__).parents[1] / "fixtures" / "catalog-0d7d5ae.db"


def vector(k: int) -> np.ndarray:
    """The k-th vector the fixture's maker stored."""
    return (np.linspace(-1.0, 1.0, 8) * (k + 1) / 10).astype(np.float32)


def test_a_database_made_before_the_move_upgrades_in_place_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    shutil.copy(LEGACY, path)
    engine, sessions = open_database(f"sqlite:///{path}")
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head == "0008"
    with sessions() as s:
        tax = s.scalar(select(Taxonomy))
        assert tax is not None and [c.name for c in tax.categories] == ["T-shirt/top", "Trouser", "Bag"]
        shirt, bag = s.scalars(select(Product).order_by(Product.id)).all()
        assert (shirt.sku, shirt.title, shirt.price, shirt.declared_category) == (
            "sku-1",
            "Shirt",
            Decimal("19.99"),
            "T-shirt/top",
        )
        assert (bag.sku, bag.price, bag.status) == ("sku-2", None, "draft")
        assert [img.sha256[0] for img in shirt.images] == ["a", "b"] and shirt.images[1].mismatch
        assert shirt.images[1].probabilities is None  # recorded before they were kept (0007)
        assert shirt.images[0].view == bytes(range(256)) * 4  # raw bytes stay raw bytes
        rows = s.execute(
            select(ProductImage.sha256, Embedding.vector).join(Embedding).order_by(ProductImage.id)
        )
        for k, (sha, stored) in enumerate(rows):
            assert isinstance(stored, np.ndarray) and stored.dtype == np.float32 and sha[0] == "abc"[k]
            np.testing.assert_array_equal(stored, vector(k))
        assert [
            (e.type, e.product_id, e.ad_id is not None) for e in s.scalars(select(Event).order_by(Event.id))
        ] == [
            ("view", shirt.id, False),
            ("ad_click", None, True),
        ]
        profile = s.get(UserProfile, "ann")
        assert profile is not None and profile.taste is not None
        np.testing.assert_array_equal(profile.taste, vector(4))
        campaign = s.scalar(select(Campaign))
        creative = s.scalar(select(Creative))
        assert campaign is not None and creative is not None
        assert (campaign.name, campaign.bid, campaign.spent, campaign.target_categories) == (
            "Spring",
            Decimal("0.25"),
            Decimal("0.5"),
            "Bag",
        )
        assert creative.campaign_id == campaign.id and creative.embedding is not None
        np.testing.assert_array_equal(creative.embedding, vector(3))
        stat = s.scalar(select(AdStat))
        assert stat is not None and (stat.segment, stat.impressions, stat.clicks) == ("Bag", 4, 2)
        assert s.scalar(select(IngestRow.product_id)) == shirt.id
        assert s.get(IdempotencyRecord, ("key-1", "k1")) is not None
    with sessions.begin() as s:  # new rows go in beside the old ones, in the same encoding
        image_id = s.scalars(select(ProductImage.id)).first()
        s.add(Embedding(image_id=image_id, model_version="v2", vector=vector(7)))
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT vector FROM embeddings WHERE model_version = 'v2'")).scalar()
    assert raw == vector(7).astype("<f4").tobytes()
    engine.dispose()

    # 0008 rebuilt products and images with AUTOINCREMENT: the newest product deleted, the next gets a new id; its
    # full-text triggers are back, and sessions have foreign keys on again (images go with their product)
    with sessions.begin() as s:
        s.execute(delete(Product).where(Product.id == bag.id))
    with sessions.begin() as s:
        s.add(Product(merchant_id=shirt.merchant_id, sku="sku-3", title="Summer hat"))
    with sessions() as s:
        assert s.scalar(select(Product.id).where(Product.sku == "sku-3")) == bag.id + 1
        found = (
            s.execute(text("SELECT rowid FROM product_text WHERE product_text MATCH 'hat'")).scalars().all()
        )
        assert found == [bag.id + 1]
        s.execute(delete(Product).where(Product.id == shirt.id))  # the database cascades, not the ORM
        s.commit()
        assert s.scalar(select(ProductImage.id).where(ProductImage.product_id == shirt.id)) is None
        assert s.scalar(select(Embedding.image_id)) is None  # cascaded from the images
