"""The VectorIndex contract, run over every backend (faiss, Milvus) and method (exact, HNSW, IVF).

Add, replace, remove, padding, persistence and reopening, erasure, bad input, searching while writing.
Filters (category, merchant) are applied by the catalogue on top of the index: tests/catalog/test_milvus.py.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from shoplens.search import VectorIndex, VectorIndexError
from tests.search.conftest import DIM, METHODS, Backend, unit


@pytest.fixture(params=list(METHODS))
def method(request: pytest.FixtureRequest) -> str:
    """Each index method in turn."""
    return request.param


def filled(backend: Backend, method: str, n: int = 300, **kwargs: Any) -> tuple[VectorIndex, np.ndarray]:
    """An index of `method` holding ids 1000..1000+n-1 and the vectors it holds."""
    index = backend.make(DIM, method, **{**METHODS[method], **kwargs})
    vectors = unit(n)
    index.add(np.arange(1000, 1000 + n), vectors)
    return index, vectors


def test_is_a_vector_index(backend: Backend, method: str) -> None:
    index: VectorIndex = backend.make(DIM, method)
    assert index.dim == DIM and len(index) == 0 and index.ids().size == 0


def test_self_query_finds_itself(backend: Backend, method: str) -> None:
    index, vectors = filled(backend, method)
    scores, ids = index.search(vectors[:20], 5)
    assert scores.dtype == np.float32 and ids.dtype == np.int64 and ids.shape == (20, 5)
    assert np.array_equal(ids[:, 0], np.arange(1000, 1020))
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6), "best first"


def test_re_add_replaces(backend: Backend, method: str) -> None:
    index, vectors = filled(backend, method)
    new = unit(1, seed=99)
    index.add(np.array([1005]), new)
    assert len(index) == 300
    assert index.search(new, 1)[1][0, 0] == 1005
    assert 1005 not in index.search(vectors[5:6], 3)[1][0], "the old vector is gone"


def test_remove_hides_ids_and_ignores_unknown(backend: Backend, method: str) -> None:
    index, vectors = filled(backend, method)
    assert index.remove(np.array([1000, 1001, 7, 1001])) == 2
    assert len(index) == 298
    assert index.remove(np.array([1000])) == 0
    ids = index.search(vectors[:2], 10)[1]
    assert not np.isin(ids, [1000, 1001]).any()
    assert np.array_equal(index.ids(), np.arange(1002, 1300))


def test_pads_when_fewer_live_vectors_than_k(backend: Backend, method: str) -> None:
    index = backend.make(DIM, method, **METHODS[method])
    vectors = unit(3)
    index.add(np.array([1, 2, 3]), vectors)
    index.remove(np.array([2]))
    scores, ids = index.search(vectors[:1], 5)
    assert sorted(ids[0, :2]) == [1, 3] and list(ids[0, 2:]) == [-1, -1, -1]
    assert np.isneginf(scores[0, 2:]).all() and np.isfinite(scores[0, :2]).all()


def test_empty_index_returns_padding(backend: Backend, method: str) -> None:
    scores, ids = backend.make(DIM, method).search(unit(2), 3)
    assert (ids == -1).all() and np.isneginf(scores).all()


def test_reopened_index_answers_the_same(backend: Backend, method: str) -> None:
    index, _ = filled(backend, method, ef_search=64, nprobe=4)  # IVF: all four lists; HNSW: wide beam
    index.remove(np.array([1003, 1004]))
    queries = unit(30, seed=5)
    before = index.search(queries, 10)
    again = backend.reopen(index)
    assert (again.dim, len(again)) == (DIM, 298)
    assert np.array_equal(again.ids(), np.setdiff1d(np.arange(1000, 1300), [1003, 1004]))
    scores, ids = again.search(queries, 10)
    if method == "exact":
        np.testing.assert_array_equal(ids, before[1])
        np.testing.assert_allclose(scores, before[0], atol=1e-6)
    else:  # an approximate index may be rebuilt on reopening: its answers agree, not bit for bit
        overlap = np.mean([np.isin(a, b).mean() for a, b in zip(ids, before[1])])
        assert overlap >= 0.9, f"only {overlap:.2f} of the neighbours are the same after reopening"


def test_erased_ids_stay_gone_after_reopening(backend: Backend, method: str) -> None:
    index, vectors = filled(backend, method, n=50)
    index.remove(np.arange(1000, 1010))
    again = backend.reopen(index)
    _, ids = again.search(vectors[:10], 50)
    assert not np.isin(ids, np.arange(1000, 1010)).any(), "an erased vector came back"
    assert len(again) == 40 and again.remove(np.arange(1000, 1010)) == 0


def test_bad_input_is_a_clear_error(backend: Backend, method: str) -> None:
    index, _ = filled(backend, method, n=10)
    with pytest.raises(VectorIndexError, match=r"shape \(n, 32\)"):
        index.add(np.array([1]), np.zeros((1, DIM + 1), np.float32))
    with pytest.raises(VectorIndexError, match=r"shape \(n, 32\)"):
        index.search(np.zeros((1, 8), np.float32), 3)
    with pytest.raises(VectorIndexError, match="NaN or infinite"):
        index.add(np.array([1]), np.full((1, DIM), np.nan, np.float32))
    with pytest.raises(VectorIndexError, match="k must"):
        index.search(unit(1), 0)
    with pytest.raises(VectorIndexError, match="floating point"):
        index.add(np.array([1]), np.ones((1, DIM), np.int64))
    with pytest.raises(VectorIndexError, match="2 ids for 1 vectors"):
        index.add(np.array([1, 2]), unit(1))
    with pytest.raises(VectorIndexError, match="unique"):
        index.add(np.array([1, 1]), unit(2))
    with pytest.raises(VectorIndexError, match="≥ 0"):
        index.add(np.array([-1]), unit(1))
    with pytest.raises(VectorIndexError, match="unknown index method"):
        backend.make(DIM, "annoy")
    assert len(index) == 10, "nothing was added by the rejected calls"


def test_search_while_adding_from_another_thread(backend: Backend, method: str) -> None:
    index, vectors = filled(backend, method, n=100)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for start in range(2000, 2400, 20):
                index.add(np.arange(start, start + 20), unit(20, seed=start))
                index.remove(np.array([start - 10]))
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=writer)
    thread.start()
    while thread.is_alive():
        scores, ids = index.search(vectors[:5], 10)
        assert (ids[:, 0] == np.arange(1000, 1005)).all() and np.isfinite(scores).all()
    thread.join()
    assert not errors
    assert len(index) == 100 + 400 - 19  # removes 2010, 2030, ..., 2370 (1990 is unknown)
