"""The vector-index backends under test: faiss in memory (saved to a file) and Milvus (milvus-lite, a local folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.vectors import Backend, faiss_backend, milvus_backend


@pytest.fixture(params=["faiss", pytest.param("milvus", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each VectorIndex backend in turn (Milvus through milvus-lite in the test's folder, stopped afterwards)."""
    if request.param == "faiss":
        yield faiss_backend(tmp_path)
        return
    yield milvus_backend(tmp_path)
    from shoplens.search.milvus import release

    release(str(tmp_path / "milvus.db"))
