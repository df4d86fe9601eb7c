"""A VectorIndex in a Milvus collection: a Milvus cluster by its URI, or milvus-lite's embedded engine for a path.

milvus-lite (3.x: pure Python, an LSM store of Parquet segments with faiss indexes behind Milvus' gRPC
protocol) opens a local `*.db` folder inside this process; only one process may hold that folder. A Milvus
standalone or cluster is reached by `http://host:19530` (with a token where it asks for one).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from shoplens.search.index import HNSW_DEFAULTS, IVF_DEFAULTS, METHODS
from shoplens.search.protocol import VectorIndexError, check_build, check_entries, check_ids, check_queries

ID, VECTOR = "id", "vector"
MAX_TOPK = 16_384  # Milvus' limit on k (and on rows per query)
_CHUNK = 5_000  # rows per insert or query: keeps each gRPC message well under its 64 MiB cap
_INDEX_TYPES = {"exact": "FLAT", "hnsw": "HNSW", "ivf": "IVF_FLAT"}
_METHOD_OF = {v: k for k, v in _INDEX_TYPES.items()}
CONNECT_TIMEOUT_S = 10.0
_clients: dict[tuple[str, str | None], MilvusClient] = {}
_clients_lock = threading.Lock()


def is_local(uri: str) -> bool:
    """Whether a Milvus URI names a milvus-lite folder on this machine (not a server)."""
    return "://" not in uri


def client_for(uri: str, token: str | None = None) -> MilvusClient:
    """One shared client per (URI, token): milvus-lite serves a local path from a thread of this process."""
    with _clients_lock:
        client = _clients.get((uri, token))
        if client is None:
            if is_local(uri):
                logging.getLogger("grpc._server").addFilter(_not_implemented)
                if not uri.endswith(".db"):
                    raise VectorIndexError(f"a milvus-lite path must end in .db, got {uri!r}")
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                client = MilvusClient(uri=uri, token=token or "", timeout=CONNECT_TIMEOUT_S)
            except MilvusException as e:
                raise VectorIndexError(f"cannot reach Milvus at {uri}: {e.message}") from e
            _clients[(uri, token)] = client
        return client


def _not_implemented(record: logging.LogRecord) -> bool:
    """False for milvus-lite's log of an RPC it does not implement (pymilvus asks for timestamps; they are optional)."""
    return not (record.exc_info and isinstance(record.exc_info[1], NotImplementedError))


def release(uri: str) -> None:
    """Close the shared clients of a URI and, for milvus-lite, stop its engine (its files stay)."""
    with _clients_lock:
        for key in [k for k in _clients if k[0] == uri]:
            _clients.pop(key).close()
    if is_local(uri):
        from milvus_lite import server_manager_instance

        server_manager_instance.release_server(uri)


class MilvusIndex:
    """A VectorIndex on one Milvus collection (int64 primary key `id`, float vector `vector`, inner product).

    method "exact" is Milvus' FLAT index, "hnsw" HNSW (M, ef_construction; ef_search per query) and "ivf"
    IVF_FLAT (nlist; nprobe per query), with the faiss backend's defaults. The collection is created when
    missing (strong consistency: a search sees every add before it) and reused when present, its dim checked.
    Adds are upserts; the data is the server's: there is nothing to save.
    """

    def __init__(
        self,
        dim: int,
        method: str = "exact",
        *,
        uri: str,
        collection: str,
        token: str | None = None,
        M: int = HNSW_DEFAULTS["M"],
        ef_construction: int = HNSW_DEFAULTS["ef_construction"],
        ef_search: int = HNSW_DEFAULTS["ef_search"],
        nlist: int = IVF_DEFAULTS["nlist"],
        nprobe: int = IVF_DEFAULTS["nprobe"],
    ) -> None:
        check_build(
            method,
            METHODS,
            dim=dim,
            M=M,
            ef_construction=ef_construction,
            ef_search=ef_search,
            nlist=nlist,
            nprobe=nprobe,
        )
        self.dim, self.method, self.uri, self.collection = int(dim), method, uri, collection
        self.ef_search, self.nprobe = int(ef_search), int(nprobe)
        self._client = client_for(uri, token)
        build = {"exact": {}, "hnsw": {"M": int(M), "efConstruction": int(ef_construction)}}
        try:
            if self._client.has_collection(collection):
                found_dim, found_method = _describe(self._client, collection)
                if found_dim != self.dim:
                    raise VectorIndexError(
                        f"Milvus collection {collection!r} holds vectors of {found_dim}, not {self.dim}"
                    )
                self.method = found_method
            else:
                self._create(build.get(method, {"nlist": int(nlist)}))
            self._client.load_collection(collection)
        except MilvusException as e:
            raise VectorIndexError(f"Milvus {uri}, collection {collection!r}: {e.message}") from e

    @property
    def description(self) -> str:
        """The Milvus index and search parameters, e.g. "Milvus HNSW IP ef=128"."""
        extra = {"hnsw": f" ef={self.ef_search}", "ivf": f" nprobe={self.nprobe}"}.get(self.method, "")
        return f"Milvus {_INDEX_TYPES[self.method]} IP{extra}"

    def __len__(self) -> int:
        rows = self._call(self._client.query, self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def ids(self) -> np.ndarray:
        """The live ids, sorted."""
        found = [np.fromiter((r[ID] for r in page), np.int64) for page in self._pages()]
        return np.sort(np.concatenate([np.empty(0, np.int64), *found]))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores (m, k) float32 and ids (m, k) int64 by inner product, best first, padded with -inf / -1."""
        queries, k = check_queries(queries, k, self.dim)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        ids = np.full((len(queries), k), -1, np.int64)
        if not len(queries):
            return scores, ids
        params = {"hnsw": {"ef": max(self.ef_search, min(k, MAX_TOPK))}, "ivf": {"nprobe": self.nprobe}}
        results = self._call(
            self._client.search,
            self.collection,
            data=list(queries),
            limit=min(k, MAX_TOPK),
            anns_field=VECTOR,
            search_params={"metric_type": "IP", "params": params.get(self.method, {})},
            output_fields=[],
        )
        for row, hits in enumerate(results):
            ids[row, : len(hits)] = [h[ID] for h in hits]
            scores[row, : len(hits)] = [h["distance"] for h in hits]
        return scores, ids

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace the vectors (n, dim) under the ids (n,); vectors should be L2-normalised."""
        ids, vectors = check_entries(ids, vectors, self.dim)
        for start in range(0, ids.size, _CHUNK):
            rows = [
                {ID: int(i), VECTOR: v}
                for i, v in zip(ids[start : start + _CHUNK].tolist(), vectors[start : start + _CHUNK])
            ]
            self._call(self._client.upsert, self.collection, rows)

    def remove(self, ids: np.ndarray) -> int:
        """Delete these ids; returns how many were present (unknown ids are ignored)."""
        ids = np.unique(check_ids(ids))
        removed = 0
        for start in range(0, ids.size, _CHUNK):
            part = ids[start : start + _CHUNK].tolist()
            present = [
                r[ID] for r in self._call(self._client.get, self.collection, ids=part, output_fields=[ID])
            ]
            if present:
                self._call(self._client.delete, self.collection, ids=present)
            removed += len(present)
        return removed

    def flush(self) -> None:
        """Ask Milvus to seal what was added into durable segments (it persists its write-ahead log anyway)."""
        self._call(self._client.flush, self.collection)

    def drop(self) -> None:
        """Delete the collection and every vector in it."""
        self._call(self._client.drop_collection, self.collection)

    # ---- internals -----------------------------------------------------------------------------------------

    def _create(self, build: dict[str, int]) -> None:
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID, DataType.INT64, is_primary=True)
        schema.add_field(VECTOR, DataType.FLOAT_VECTOR, dim=self.dim)
        index = self._client.prepare_index_params()
        # Build parameters as one JSON "params" entry, the wire format both Milvus and milvus-lite read (pymilvus
        # 3 would otherwise send them as separate keys, which milvus-lite ignores).
        index.add_index(
            VECTOR, index_type=_INDEX_TYPES[self.method], metric_type="IP", params={"params": build}
        )
        self._client.create_collection(
            self.collection, schema=schema, index_params=index, consistency_level="Strong"
        )

    def _pages(self) -> Iterator[list[dict[str, Any]]]:
        """Every row's id, a page at a time."""
        pymilvus_log = logging.getLogger("pymilvus")
        level = pymilvus_log.level
        if is_local(self.uri):  # milvus-lite has no timestamp service: pymilvus would warn on every iterator
            pymilvus_log.setLevel(logging.ERROR)
        try:
            pages = self._call(
                self._client.query_iterator, self.collection, batch_size=_CHUNK, filter="", output_fields=[ID]
            )
        finally:
            pymilvus_log.setLevel(level)
        try:
            while page := self._call(pages.next):
                yield page
        finally:
            pages.close()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A client call, its MilvusException turned into VectorIndexError naming the server and collection."""
        try:
            return fn(*args, **kwargs)
        except MilvusException as e:
            raise VectorIndexError(f"Milvus {self.uri}, collection {self.collection!r}: {e.message}") from e


def open_collection(uri: str, collection: str, token: str | None = None, **search: int) -> MilvusIndex:
    """The MilvusIndex of an existing collection (its dim and method read from Milvus); search: ef_search, nprobe."""
    client = client_for(uri, token)
    try:
        if not client.has_collection(collection):
            raise VectorIndexError(f"no Milvus collection {collection!r} at {uri}")
        dim, method = _describe(client, collection)
    except MilvusException as e:
        raise VectorIndexError(f"Milvus {uri}, collection {collection!r}: {e.message}") from e
    return MilvusIndex(dim, method, uri=uri, collection=collection, token=token, **search)


def _describe(client: MilvusClient, collection: str) -> tuple[int, str]:
    """(dim, method) of a ShopLens collection, or VectorIndexError if it is not one."""
    fields = {f["name"]: f for f in client.describe_collection(collection)["fields"]}
    vector = fields.get(VECTOR)
    if ID not in fields or vector is None or "dim" not in vector.get("params", {}):
        raise VectorIndexError(f"Milvus collection {collection!r} is not a ShopLens vector index")
    indexes = client.list_indexes(collection, field_name=VECTOR)
    kind = client.describe_index(collection, indexes[0])["index_type"] if indexes else "FLAT"
    return int(vector["params"]["dim"]), _METHOD_OF.get(kind, "exact")
