"""Vector search: nearest neighbours of image embeddings (exact, HNSW, IVF) behind a VectorIndex protocol."""

from shoplens.search.index import (
    APPROX_DEFAULTS,
    APPROX_METHOD,
    HNSW_DEFAULTS,
    IVF_DEFAULTS,
    FaissIndex,
    VectorIndex,
    VectorIndexError,
    load_index,
)

__all__ = [
    "APPROX_DEFAULTS",
    "APPROX_METHOD",
    "HNSW_DEFAULTS",
    "IVF_DEFAULTS",
    "FaissIndex",
    "VectorIndex",
    "VectorIndexError",
    "load_index",
]
