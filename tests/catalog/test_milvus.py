"""The catalogue on Milvus (milvus-lite): filtered search, erasure in every version's collection, and a rebuild
that replaces a version's collection atomically for every process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shoplens.catalog.declared import ProductIn
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.products import delete_product
from shoplens.catalog.queries import Scope
from shoplens.catalog.reindex import reindex
from shoplens.catalog.service import Catalog
from shoplens.catalog.similar import find_similar
from shoplens.db.catalog import ProductImage
from shoplens.inference.store import ModelStore
from shoplens.search.milvus import client_for, open_collection
from tests.support.bundles import DIM, NAME
from tests.support.images import photos, png

pytestmark = [pytest.mark.parametrize("vector_backend", ["milvus"]), pytest.mark.slow]
PHOTOS = photos(8, seed=41)


def ingest_eight(catalog: Catalog) -> list[int]:
    """Eight products: merchants a/b alternate, categories Bag / Coat by halves; their image ids."""
    out = catalog.ingestor().ingest(
        [
            IngestItem(
                f"k{i}", ProductIn("ab"[i % 2], f"s{i}", f"T{i}", category=("Bag", "Coat")[i // 4]), [png(p)]
            )
            for i, p in enumerate(PHOTOS)
        ]
    )
    return [o.image_ids[0] for o in out]


def collection_ids(catalog: Catalog, version: str) -> np.ndarray:
    """The ids in a version's Milvus collection, read straight from Milvus."""
    name = catalog.space.path(version).read_text().strip()
    return open_collection(catalog.space.store.uri, name).ids()  # type: ignore[attr-defined]


def test_search_with_filters(catalog: Catalog) -> None:
    ingest_eight(catalog)
    assert catalog.space.path("v1").read_text().startswith("shoplens_v1_")
    hits = find_similar(catalog, photo=png(PHOTOS[0]), k=8).hits
    assert len(hits) == 8 and hits[0].product.sku == "s0"
    bags_of_b = find_similar(
        catalog, photo=png(PHOTOS[0]), k=8, scope=Scope(category="Bag", merchant="b")
    ).hits
    assert sorted(h.product.sku for h in bags_of_b) == ["s1", "s3"]


def test_erasure_reaches_every_version(catalog: Catalog, models_root: Path) -> None:
    image_ids = ingest_eight(catalog)
    reindex(catalog, "v2")
    other = Catalog(catalog.config, ModelStore(models_root, NAME))  # another process: nothing loaded yet
    try:
        with other.sessions() as s:
            product_id = s.get(ProductImage, image_ids[0]).product_id
        delete_product(other, product_id)
    finally:
        other.close()
    for version in ("v1", "v2"):
        held = collection_ids(catalog, version)
        assert image_ids[0] not in held and len(held) == 7, version


def test_rebuilding_a_version_replaces_its_collection(catalog: Catalog, models_root: Path) -> None:
    ingest_eight(catalog)
    old = catalog.space.path("v1").read_text().strip()
    other = Catalog(catalog.config, ModelStore(models_root, NAME))
    try:
        assert len(other.space.index("v1", DIM)) == 8
        catalog.space.build("v1", DIM, "hnsw")
        new = catalog.space.path("v1").read_text().strip()
        assert new != old and not client_for(catalog.space.store.uri).has_collection(old)  # type: ignore[attr-defined]
        index = other.space.index("v1", DIM)  # the other process follows the switch
        assert index.collection == new and index.method == "hnsw" and len(index) == 8  # type: ignore[attr-defined]
        assert find_similar(other, photo=png(PHOTOS[2]), k=1).hits[0].product.sku == "s2"
    finally:
        other.close()
