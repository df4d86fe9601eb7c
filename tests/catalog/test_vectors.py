"""Vector indexes per model version: saved after each add, or once at the end of a bulk job."""

from __future__ import annotations

from shoplens.catalog.declared import ProductIn
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.service import Catalog
from shoplens.catalog.vectors import FaissFiles, IndexStore, MilvusCollections, VectorSpace
from tests.support.bundles import DIM
from tests.support.images import photos, png
from tests.support.protocols import mismatches


def items(start: int, n: int) -> list[IngestItem]:
    """n products with one photo each."""
    return [
        IngestItem(f"k{i}", ProductIn("m", f"s{i}", f"T{i}"), [png(p)])
        for i, p in enumerate(photos(n, seed=start), start)
    ]


def test_deferred_saves_write_each_index_once_at_the_end(catalog: Catalog) -> None:
    path = catalog.space.path("v1")
    with catalog.space.deferred_saves():
        catalog.ingestor().ingest(items(0, 3))
        catalog.ingestor().ingest(items(3, 3))
        assert not path.exists()  # nothing written yet
        assert len(catalog.space.index("v1", DIM)) == 6  # but searchable in this process
    assert path.exists()
    again = VectorSpace(catalog.space.root, catalog.sessions)
    assert len(again.index("v1", DIM)) == 6
    catalog.ingestor().ingest(items(6, 1))  # outside the block: saved at once
    assert len(VectorSpace(catalog.space.root, catalog.sessions).index("v1", DIM)) == 7


def test_both_vector_stores_implement_the_index_store_protocol() -> None:
    assert mismatches(FaissFiles, IndexStore) == [] and mismatches(MilvusCollections, IndexStore) == []


def test_an_index_that_cannot_be_saved_keeps_its_rows_and_is_synced_when_loaded(
    catalog: Catalog, monkeypatch
) -> None:
    catalog.ingestor().ingest(items(0, 2))

    def disk_full(version, index):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(catalog.space.store, "save", disk_full)
    (out,) = catalog.ingestor().ingest(items(2, 1))  # the rows are committed: no error for it
    assert out.status == "done" and len(catalog.space.index("v1", DIM)) == 3
    monkeypatch.undo()
    assert len(VectorSpace(catalog.space.root, catalog.sessions).index("v1", DIM)) == 3  # the file had 2
