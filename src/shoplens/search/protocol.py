"""The VectorIndex protocol every vector-search backend implements, and the input checks they share."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from shoplens.errors import ShopLensError


class VectorIndexError(ShopLensError):
    """A vector index was given bad input (shape, dtype, dim, k) or its file is missing or corrupt."""

    exit_code = 2


class VectorIndex(Protocol):
    """Inner-product search over (id, vector) pairs; re-adding an id replaces its vector.

    Persistence belongs to each backend: FaissIndex.save / load_index write and read one file; a MilvusIndex
    lives in its Milvus collection.
    """

    dim: int

    def __len__(self) -> int:
        """Number of live vectors."""
        ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace the vectors (n, dim) float32 under the int64 ids (n,)."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Delete these ids; returns how many were present (unknown ids are ignored)."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores (m, k) float32 and ids (m, k) int64, best first, padded with -inf / -1."""
        ...

    def ids(self) -> np.ndarray:
        """The live ids, sorted."""
        ...


def check_build(method: str, methods: tuple[str, ...], **sizes: Any) -> None:
    """VectorIndexError unless `method` is one of `methods` and every size is a positive integer."""
    if method not in methods:
        raise VectorIndexError(f"unknown index method {method!r}; expected one of {', '.join(methods)}")
    for name, value in sizes.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise VectorIndexError(f"{name} must be a positive integer, got {value!r}")


def check_vectors(x: Any, dim: int, what: str) -> np.ndarray:
    """A C-contiguous float32 (n, dim) copy-if-needed of x, or VectorIndexError saying what is wrong."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise VectorIndexError(f"{what} must be floating point (float32), got dtype {x.dtype}")
    if x.ndim != 2 or x.shape[1] != dim:
        raise VectorIndexError(f"{what} must have shape (n, {dim}), got {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise VectorIndexError(f"{what} contain NaN or infinite values")
    return x


def check_ids(ids: Any) -> np.ndarray:
    """A contiguous int64 copy-if-needed of a 1-D integer array, or VectorIndexError."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise VectorIndexError(f"ids must be a 1-D integer array, got shape {ids.shape}, dtype {ids.dtype}")
    return np.ascontiguousarray(ids, dtype=np.int64)


def check_entries(ids: Any, vectors: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """What add() accepts: unique ids ≥ 0, one finite (n, dim) float vector each; VectorIndexError otherwise."""
    vectors = check_vectors(vectors, dim, "vectors")
    ids = check_ids(ids)
    if ids.size != vectors.shape[0]:
        raise VectorIndexError(f"{ids.size} ids for {vectors.shape[0]} vectors")
    if np.unique(ids).size != ids.size:
        raise VectorIndexError("ids must be unique within one add() call")
    if ids.size and ids.min() < 0:
        raise VectorIndexError("ids must be ≥ 0 (-1 marks padding in search results)")
    return ids, vectors


def check_queries(queries: Any, k: Any, dim: int) -> tuple[np.ndarray, int]:
    """What search() accepts: finite (m, dim) float queries and a positive integer k."""
    queries = check_vectors(queries, dim, "queries")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise VectorIndexError(f"k must be a positive integer, got {k!r}")
    return queries, int(k)
