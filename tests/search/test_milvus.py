"""MilvusIndex beyond the shared contract: reusing a collection, clear errors for wrong ones and bad URIs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pymilvus import DataType, MilvusClient

from shoplens.search import VectorIndexError, milvus
from shoplens.search.milvus import MilvusIndex, open_collection, release
from tests.search.conftest import DIM, unit


@pytest.fixture
def uri(tmp_path: Path) -> Iterator[str]:
    """A milvus-lite folder in the test's folder, its engine stopped afterwards."""
    path = str(tmp_path / "m.db")
    yield path
    release(path)


def test_existing_collection_is_reused_with_its_method(uri: str) -> None:
    first = MilvusIndex(DIM, "hnsw", uri=uri, collection="products")
    first.add(np.arange(5), unit(5))
    again = MilvusIndex(DIM, "exact", uri=uri, collection="products")
    assert (again.method, len(again)) == ("hnsw", 5)
    assert open_collection(uri, "products").description.startswith("Milvus HNSW IP")


def test_wrong_dim_missing_or_foreign_collection_is_a_clear_error(uri: str) -> None:
    MilvusIndex(DIM, uri=uri, collection="products")
    with pytest.raises(VectorIndexError, match="holds vectors of 32, not 8"):
        MilvusIndex(8, uri=uri, collection="products")
    with pytest.raises(VectorIndexError, match="no Milvus collection 'nothing'"):
        open_collection(uri, "nothing")
    client = milvus.client_for(uri)
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("emb", DataType.FLOAT_VECTOR, dim=4)
    client.create_collection("foreign", schema=schema)
    with pytest.raises(VectorIndexError, match="not a ShopLens vector index"):
        open_collection(uri, "foreign")


def test_bad_uri_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(VectorIndexError, match=r"must end in \.db"):
        MilvusIndex(DIM, uri=str(tmp_path / "folder"), collection="c")
    monkeypatch.setattr(milvus, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(VectorIndexError, match=r"cannot reach Milvus at http://127\.0\.0\.1:9"):
        MilvusIndex(DIM, uri="http://127.0.0.1:9", collection="c")
