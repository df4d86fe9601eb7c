"""The vector-index backends under test: faiss in memory (saved to a file) and Milvus (milvus-lite, a local folder)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shoplens.search import FaissIndex, VectorIndex, load_index

DIM = 32
# Small IVF so a few hundred vectors train it (faiss: train_size defaults to 10 × nlist).
METHODS: dict[str, dict[str, Any]] = {"exact": {}, "hnsw": {}, "ivf": {"nlist": 4, "nprobe": 4}}


def unit(n: int, seed: int = 0) -> np.ndarray:
    """n random L2-normalised float32 vectors of DIM."""
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@dataclass
class Backend:
    """How to make an index of a backend, and how to persist one and open it again (as another process would)."""

    name: str
    make: Callable[..., VectorIndex]
    reopen: Callable[[VectorIndex], VectorIndex]


def faiss_backend(tmp_path: Path) -> Backend:
    """FaissIndex: persisted by save() to one file, reopened by load_index()."""
    path = tmp_path / "index.npz"

    def reopen(index: VectorIndex) -> VectorIndex:
        assert isinstance(index, FaissIndex)
        index.save(path)
        return load_index(path)

    return Backend("faiss", lambda dim, method="exact", **kw: FaissIndex(dim, method, **kw), reopen)


def milvus_backend(tmp_path: Path) -> Backend:
    """MilvusIndex on milvus-lite: reopened after its engine is stopped, so it reads back what it wrote to disk."""
    from shoplens.search.milvus import MilvusIndex, open_collection, release

    uri = str(tmp_path / "milvus.db")
    names = iter(range(1_000_000))

    def make(dim: int, method: str = "exact", **kw: Any) -> VectorIndex:
        kw = {k: v for k, v in kw.items() if k in ("M", "ef_construction", "ef_search", "nlist", "nprobe")}
        return MilvusIndex(dim, method, uri=uri, collection=f"c{next(names)}", **kw)

    def reopen(index: VectorIndex) -> VectorIndex:
        assert isinstance(index, MilvusIndex)
        release(uri)
        return open_collection(uri, index.collection, ef_search=index.ef_search, nprobe=index.nprobe)

    return Backend("milvus", make, reopen)


@pytest.fixture(params=["faiss", "milvus"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each VectorIndex backend in turn (Milvus through milvus-lite in the test's folder, stopped afterwards)."""
    if request.param == "faiss":
        yield faiss_backend(tmp_path)
        return
    yield milvus_backend(tmp_path)
    from shoplens.search.milvus import release

    release(str(tmp_path / "milvus.db"))
