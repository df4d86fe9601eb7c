"""FaissIndex beyond the shared contract: its file (round trip, atomic replace, corruption), HNSW tombstones,
IVF training, faiss threads, and the latency benchmark's building blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest

from shoplens.search import FaissIndex, VectorIndexError, load_index
from shoplens.search.benchmark import measure_latency, synthetic_embeddings
from tests.support.vectors import DIM, METHODS, unit


def filled(method: str, n: int = 300, **kwargs: Any) -> tuple[FaissIndex, np.ndarray]:
    """An index of `method` holding ids 1000..1000+n-1 and the vectors it holds."""
    index = FaissIndex(DIM, method, **{**METHODS[method], **kwargs})
    vectors = unit(n)
    index.add(np.arange(1000, 1000 + n), vectors)
    return index, vectors


@pytest.fixture(params=list(METHODS))
def method(request: pytest.FixtureRequest) -> str:
    """Each index method in turn."""
    return request.param


def test_save_load_round_trip(method: str, tmp_path: Path) -> None:
    index, _vectors = filled(method, ef_search=24, nprobe=2)
    index.remove([1003, 1004])
    path = tmp_path / "sub" / "products.index"
    index.save(path)
    loaded = load_index(path)
    assert (loaded.method, loaded.dim, len(loaded)) == (method, DIM, 298)
    assert (loaded.ef_search, loaded.nprobe, loaded.description) == (24, 2, index.description)
    assert np.array_equal(loaded.ids(), index.ids())
    queries = unit(30, seed=5)
    for got, want in zip(loaded.search(queries, 10), index.search(queries, 10)):
        assert np.array_equal(got, want)
    assert [p.name for p in path.parent.iterdir()] == ["products.index"], "no temp file left behind"


def test_save_replaces_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "i.npz"
    index, _ = filled("exact", n=10)
    index.save(path)
    index.add(np.array([5]), unit(1, seed=3))
    index.save(path)
    assert len(load_index(path)) == 11


def test_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "i.npz"
    index, _ = filled("exact", n=10)
    index.save(path)

    def half_write(file: Any, **arrays: Any) -> None:
        file.write(b"PK\x03\x04 half an index")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", half_write)
    index.add(np.array([5]), unit(1, seed=3))
    with pytest.raises(OSError, match="disk full"):
        index.save(path)
    assert len(load_index(path)) == 10, "readers still see the previous complete index"
    assert [p.name for p in tmp_path.iterdir()] == ["i.npz"], "the temp file is cleaned up"


def test_threads_sets_faiss_threads() -> None:
    before = faiss.omp_get_max_threads()
    try:
        FaissIndex(DIM, threads=1)
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "missing"])
def test_corrupt_or_missing_file_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "i.npz"
    filled("hnsw", n=50)[0].save(path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not an index at all" * 10)
    elif damage == "flip":
        path.write_bytes(data[:2000] + bytes(b ^ 0xFF for b in data[2000:2100]) + data[2100:])
    else:
        path.unlink()
    with pytest.raises(VectorIndexError, match=r"i\.npz"):
        load_index(path)


def test_hnsw_tombstones_then_compact() -> None:
    index, vectors = filled("hnsw", compact_ratio=None)
    index.remove(np.arange(1000, 1200))
    assert (len(index), index.tombstones) == (100, 200)
    _, ids = index.search(vectors, 10)
    assert not np.isin(ids, np.arange(1000, 1200)).any(), "deleted ids are never returned"
    assert np.array_equal(ids[200:, 0], np.arange(1200, 1300)), "survivors still found"
    index.compact()
    assert (len(index), index.tombstones) == (100, 0)
    assert np.array_equal(index.search(vectors[200:], 1)[1][:, 0], np.arange(1200, 1300))


def test_hnsw_compacts_by_itself_past_the_ratio() -> None:
    index, _ = filled("hnsw", compact_ratio=0.25)
    index.remove(np.arange(1000, 1050))
    assert index.tombstones == 50
    index.remove(np.arange(1050, 1100))
    assert (index.tombstones, len(index)) == (0, 200)


def test_ivf_serves_exactly_until_trained() -> None:
    index = FaissIndex(DIM, "ivf", nlist=8)
    vectors = unit(400)
    index.add(np.arange(50), vectors[:50])
    assert not index.trained and "flat until 80" in index.description
    assert np.array_equal(index.search(vectors[:50], 1)[1][:, 0], np.arange(50))
    index.add(np.arange(50, 400), vectors[50:])
    assert index.trained and len(index) == 400
    assert np.array_equal(index.search(vectors, 1)[1][:, 0], np.arange(400))


def test_ivf_explicit_train() -> None:
    index = FaissIndex(DIM, "ivf", nlist=4, nprobe=4)
    index.add(np.arange(10), unit(10))
    with pytest.raises(VectorIndexError, match="at least nlist=4"):
        index.train(unit(3))
    index.train(unit(200, seed=1))
    assert index.trained and len(index) == 10
    assert np.array_equal(index.search(unit(10), 1)[1][:, 0], np.arange(10))
    with pytest.raises(VectorIndexError, match="already trained"):
        index.train(unit(200, seed=1))


def test_synthetic_embeddings_are_unit_and_clustered() -> None:
    base, queries = synthetic_embeddings(3000, 50, DIM, clusters=20)
    assert base.shape == (3000, DIM) and queries.shape == (50, DIM) and base.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(base, axis=1), 1.0, atol=1e-5)
    nearest = (queries @ base.T).max(axis=1)
    assert nearest.mean() > 0.6 and nearest.max() < 0.9999, "queries near clusters but not copies of vectors"


def test_measure_latency_small() -> None:
    rows = measure_latency(2000, DIM, queries=50, approx="hnsw")
    # IVF probing one list of 16 misses many true neighbours: the recall is measured, not assumed
    params = {"nlist": 16, "nprobe": 1}
    rows += measure_latency(2000, DIM, methods=("approx",), queries=50, approx="ivf", params=params)
    keys = {"vectors", "method", "index", "p50_ms", "p99_ms", "recall_at_10", "build_s"}
    assert [r["method"] for r in rows] == ["exact", "approx", "approx"]
    for row in rows:
        assert keys <= row.keys() and (row["vectors"], row["queries"], row["k"]) == (2000, 50, 10)
        assert row["p50_ms"] > 0
    assert rows[1]["index"].startswith("HNSW32") and rows[1]["recall_at_10"] >= 0.95
    assert rows[2]["index"] == "IVF16,Flat IP nprobe=1" and 0.1 < rows[2]["recall_at_10"] < 0.8
