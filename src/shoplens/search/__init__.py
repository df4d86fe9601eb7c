"""Vector search: nearest neighbours of image embeddings behind a VectorIndex protocol (faiss; Milvus in .milvus)."""

from shoplens.search.index import (
    APPROX_DEFAULTS,
    APPROX_METHOD,
    HNSW_DEFAULTS,
    IVF_DEFAULTS,
    FaissIndex,
    load_index,
)
from shoplens.search.protocol import VectorIndex, VectorIndexError

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
