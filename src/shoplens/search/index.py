"""Nearest neighbours of L2-normalised embeddings on faiss: exact, HNSW and IVF indexes saved to one file."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import zipfile
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import numpy as np

from shoplens.files import write_atomic
from shoplens.search.protocol import (
    VectorIndexError,
    check_build,
    check_entries,
    check_ids,
    check_queries,
    check_vectors,
)


def _lazy_import(name: str) -> ModuleType:
    """Module `name`, executed on its first attribute access (importlib's LazyLoader)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


faiss = _lazy_import("faiss")  # loaded on first use: a server that never searches starts without it
METHODS = ("exact", "hnsw", "ivf")
FORMAT = "shoplens-vector-index"
FORMAT_VERSION = 1
# IVF leaves flat mode at 10 vectors per list (a flat scan of 20k vectors is still ~ms), training on up to
# 39 per list (faiss's advice); at 200k × 128 that gave recall@10 0.971 with 10 per list vs 0.995 with 39.
TRAIN_MIN_PER_LIST = 10
TRAIN_SAMPLE_PER_LIST = 39

# Defaults of each approximate method, tuned with shoplens.search.benchmark (1M × 128 clustered, 2 cores).
HNSW_DEFAULTS = MappingProxyType({"M": 32, "ef_construction": 64, "ef_search": 128})
IVF_DEFAULTS = MappingProxyType({"nlist": 2048, "nprobe": 16})
# IVF won at 1M: recall@10 0.991, p50 0.39 ms, built in 20 s. HNSW32 (efConstruction 64) with efSearch 64 gave
# 0.90 at 0.43 ms after a 195 s build, hence efSearch 128 for it (0.98 at 500k).
APPROX_METHOD = "ivf"
# What the catalog (or anything wanting "fast, recall ≥ 0.95") passes: FaissIndex(dim, **APPROX_DEFAULTS).
APPROX_DEFAULTS = MappingProxyType({"method": APPROX_METHOD, **IVF_DEFAULTS})


class FaissIndex:
    """A VectorIndex on faiss: "exact" (flat), "hnsw" (graph, tombstoned deletes) or "ivf" (inverted lists).

    HNSW: M links per node, ef_construction / ef_search beam widths; deleted vectors stay in the graph as
    tombstones (filtered out of every search) until compact(), which runs by itself once tombstones exceed
    compact_ratio of the graph (None: only when called). IVF: nlist lists, nprobe of them searched; it serves
    exactly until train_size vectors (default 10 × nlist) are in, then trains on up to 39 × nlist of them
    (or call train() with a representative sample). ef_search and nprobe may be changed between searches.
    `threads` sets faiss's OpenMP threads for the whole process. All methods are safe to call from several
    threads (one lock serialises them).
    """

    def __init__(
        self,
        dim: int,
        method: str = "exact",
        *,
        M: int = HNSW_DEFAULTS["M"],
        ef_construction: int = HNSW_DEFAULTS["ef_construction"],
        ef_search: int = HNSW_DEFAULTS["ef_search"],
        nlist: int = IVF_DEFAULTS["nlist"],
        nprobe: int = IVF_DEFAULTS["nprobe"],
        train_size: int | None = None,
        compact_ratio: float | None = 0.25,
        threads: int | None = None,
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
        if threads is not None:
            if threads < 1:
                raise VectorIndexError(f"threads must be ≥ 1, got {threads}")
            faiss.omp_set_num_threads(threads)  # process-wide: faiss has one OpenMP pool
        self.dim, self.method = int(dim), method
        self.M, self.ef_construction, self.ef_search = int(M), int(ef_construction), int(ef_search)
        self.nlist, self.nprobe = int(nlist), int(nprobe)
        self.train_size = int(train_size) if train_size is not None else TRAIN_MIN_PER_LIST * self.nlist
        if self.train_size < self.nlist:
            raise VectorIndexError(f"train_size ({self.train_size}) must be ≥ nlist ({self.nlist})")
        if compact_ratio is not None and not 0 < compact_ratio < 1:
            raise VectorIndexError(f"compact_ratio must be in (0, 1) or None, got {compact_ratio}")
        self.compact_ratio = compact_ratio
        self._lock = threading.RLock()
        self._trained = method != "ivf"
        self._index = self._new_hnsw() if method == "hnsw" else _new_flat(self.dim)
        # HNSW only: faiss labels are slots 0..ntotal-1; deletes mark slots dead until compact().
        self._labels = np.empty(0, np.int64)  # slot -> id
        self._alive = np.empty(0, bool)  # slot -> still live?
        self._slot_of: dict[int, int] = {}  # live id -> slot
        self._selector: tuple[np.ndarray, Any] | None = None  # (bitmap, IDSelectorBitmap) if any tombstone

    # ---- reading -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._slot_of) if self.method == "hnsw" else int(self._index.ntotal)

    @property
    def tombstones(self) -> int:
        """Deleted vectors still held by the HNSW graph (always 0 for the other methods)."""
        with self._lock:
            return int(self._alive.size - len(self._slot_of)) if self.method == "hnsw" else 0

    @property
    def trained(self) -> bool:
        """False while an IVF index still serves exactly, waiting for train_size vectors (True otherwise)."""
        return self._trained

    @property
    def description(self) -> str:
        """The faiss structure and search parameters, e.g. "HNSW32,Flat IP efConstruction=64 efSearch=128"."""
        if self.method == "hnsw":
            return f"HNSW{self.M},Flat IP efConstruction={self.ef_construction} efSearch={self.ef_search}"
        if self.method == "ivf":
            state = "" if self._trained else f" (flat until {self.train_size} vectors)"
            return f"IVF{self.nlist},Flat IP nprobe={self.nprobe}{state}"
        return "IDMap2,Flat IP"

    def ids(self) -> np.ndarray:
        """The live ids, sorted."""
        with self._lock:
            if self.method == "hnsw":
                found = np.fromiter(self._slot_of, np.int64, len(self._slot_of))
            elif self.method == "ivf" and self._trained:
                lists = self._index.invlists
                found = np.concatenate(
                    [np.empty(0, np.int64)]
                    + [
                        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                        for i in range(lists.nlist)
                        if lists.list_size(i)
                    ]
                )
            else:
                found = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            return np.sort(found)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores (m, k) float32 and ids (m, k) int64 by inner product, best first, padded with -inf / -1."""
        queries, k = check_queries(queries, k, self.dim)
        with self._lock:
            if not self._index.ntotal:
                shape = (len(queries), k)
                return np.full(shape, -np.inf, np.float32), np.full(shape, -1, np.int64)
            if self.method == "hnsw":
                params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
                if self._selector is not None:
                    params.sel = self._selector[1]
                scores, slots = self._index.search(queries, k, params=params)
                slot = np.where(slots >= 0, slots, 0)
                ids = np.where((slots >= 0) & self._alive[slot], self._labels[slot], -1)  # belt and braces
                order = np.argsort(ids < 0, axis=1, kind="stable")  # keep any holes at the end
                scores, ids = np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
            elif self._trained and self.method == "ivf":
                params = faiss.SearchParametersIVF(nprobe=min(self.nprobe, self.nlist))
                scores, ids = self._index.search(queries, k, params=params)
            else:
                scores, ids = self._index.search(queries, k)
        scores = np.where(ids < 0, np.float32(-np.inf), scores).astype(np.float32)
        return scores, ids.astype(np.int64)

    # ---- writing -------------------------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace the vectors (n, dim) under the ids (n,); vectors should be L2-normalised."""
        ids, vectors = check_entries(ids, vectors, self.dim)
        if not ids.size:
            return
        with self._lock:
            if self.method == "hnsw":
                self._tombstone(ids)
                start = self._alive.size
                self._index.add(vectors)
                self._labels = np.concatenate([self._labels, ids])
                self._alive = np.concatenate([self._alive, np.ones(ids.size, bool)])
                self._slot_of.update(zip(ids.tolist(), range(start, start + ids.size)))
                self._after_tombstoning()
                return
            self._index.remove_ids(ids)
            self._index.add_with_ids(vectors, ids)
            staged = self._index.ntotal
            if not self._trained and staged >= self.train_size:
                size = min(staged, max(self.train_size, TRAIN_SAMPLE_PER_LIST * self.nlist))
                sample = np.random.default_rng(0).choice(staged, size, replace=False)
                self._train(self._index.index.reconstruct_batch(np.sort(sample).astype(np.int64)))

    def remove(self, ids: np.ndarray) -> int:
        """Delete these ids; returns how many were present (unknown ids are ignored)."""
        ids = np.unique(check_ids(ids))
        if not ids.size:
            return 0
        with self._lock:
            if self.method != "hnsw":
                return int(self._index.remove_ids(ids))
            removed = self._tombstone(ids)
            self._after_tombstoning()
            return removed

    def train(self, vectors: np.ndarray) -> None:
        """IVF only: learn nlist centroids from a representative sample (≥ nlist vectors), leave flat mode."""
        vectors = check_vectors(vectors, self.dim, "training vectors")
        if self.method != "ivf":
            raise VectorIndexError(f"only an ivf index is trained, this one is {self.method!r}")
        if vectors.shape[0] < self.nlist:
            raise VectorIndexError(f"training needs at least nlist={self.nlist} vectors, got {len(vectors)}")
        with self._lock:
            if self._trained:
                raise VectorIndexError("this ivf index is already trained")
            self._train(vectors)

    def compact(self) -> None:
        """HNSW only (no-op otherwise): rebuild the graph from the live vectors, dropping the tombstones."""
        with self._lock:
            if self.method != "hnsw" or not self.tombstones:
                return
            slots = np.flatnonzero(self._alive)
            vectors = self._index.storage.reconstruct_batch(slots) if slots.size else None
            labels = self._labels[slots]
            self._index = self._new_hnsw()
            if vectors is not None:
                self._index.add(vectors)
            self._labels, self._alive = labels, np.ones(labels.size, bool)
            self._slot_of = dict(zip(labels.tolist(), range(labels.size)))
            self._selector = None

    def save(self, path: str | Path) -> None:
        """Write index, parameters, ids and tombstones to one .npz file, atomically (temp + os.replace)."""
        with self._lock:
            meta = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "dim": self.dim,
                "method": self.method,
                "trained": self._trained,
                "params": self._params(),
            }
            arrays = {
                "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
                "faiss": faiss.serialize_index(self._index),
                "labels": self._labels.copy(),
                "alive": self._alive.copy(),
            }
        _atomic_savez(Path(path), arrays)

    # ---- internals -----------------------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        return {
            "M": self.M,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "train_size": self.train_size,
            "compact_ratio": self.compact_ratio,
        }

    def _new_hnsw(self) -> Any:
        index = faiss.IndexHNSWFlat(self.dim, self.M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self.ef_search
        return index

    def _train(self, sample: np.ndarray) -> None:
        """Train the IVF quantizer on `sample`, then move every staged vector from the flat index in."""
        staged = self._index
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.min_points_per_centroid = 1  # fewer than 39 per list is deliberate: no faiss warning
        ivf.train(sample)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # fast remove_ids / replace by id
        if staged.ntotal:
            ids = faiss.vector_to_array(staged.id_map).astype(np.int64)
            ivf.add_with_ids(staged.index.reconstruct_n(0, staged.ntotal), ids)
        self._index, self._trained = ivf, True

    def _tombstone(self, ids: np.ndarray) -> int:
        """Mark the live slots of these ids dead; returns how many were live."""
        slots = [self._slot_of.pop(i) for i in ids.tolist() if i in self._slot_of]
        self._alive[slots] = False
        return len(slots)

    def _after_tombstoning(self) -> None:
        """Compact once dead slots exceed compact_ratio of the graph (and 16), else refresh the filter."""
        dead = self._alive.size - len(self._slot_of)
        if self.compact_ratio is not None and dead > max(self.compact_ratio * self._alive.size, 16):
            self.compact()
        else:
            self._refresh_selector()

    def _refresh_selector(self) -> None:
        if self._alive.size == len(self._slot_of):
            self._selector = None
            return
        bitmap = np.packbits(self._alive, bitorder="little")
        self._selector = (bitmap, faiss.IDSelectorBitmap(self._alive.size, faiss.swig_ptr(bitmap)))


def load_index(path: str | Path) -> FaissIndex:
    """Restore an index written by FaissIndex.save (method, parameters, ids and tombstones)."""
    path = Path(path)
    if not path.is_file():
        raise VectorIndexError(f"no vector index file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes().decode())
            raw, labels, alive = data["faiss"], data["labels"], data["alive"]
        if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r}")
        index = FaissIndex(int(meta["dim"]), meta["method"], **meta["params"])
        inner = faiss.deserialize_index(raw)
    except VectorIndexError as e:
        raise VectorIndexError(f"{path} holds an invalid vector index: {e}") from e
    except (OSError, ValueError, KeyError, TypeError, EOFError, RuntimeError, zipfile.BadZipFile) as e:
        reason = f"{type(e).__name__}: {e}"
        raise VectorIndexError(f"{path} is not a readable ShopLens vector index ({reason})") from e
    trained = bool(meta["trained"])
    kind = "hnsw" if index.method == "hnsw" else "ivf" if index.method == "ivf" and trained else "flat"
    tables_ok = index.method != "hnsw" or labels.size == alive.size == inner.ntotal
    if inner.d != index.dim or not isinstance(inner, _faiss_types()[kind]) or not tables_ok:
        raise VectorIndexError(f"{path} is inconsistent: its faiss index does not match its metadata")
    index._index, index._trained = inner, trained
    if index.method == "hnsw":
        index._labels, index._alive = labels.astype(np.int64), alive.astype(bool)
        live = np.flatnonzero(index._alive)
        index._slot_of = dict(zip(index._labels[live].tolist(), live.tolist()))
        index._refresh_selector()
    return index


def _faiss_types() -> dict[str, type]:
    """The faiss index class each stored kind must be."""
    return {"hnsw": faiss.IndexHNSWFlat, "ivf": faiss.IndexIVFFlat, "flat": faiss.IndexIDMap2}


def _new_flat(dim: int) -> Any:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez written atomically and fsynced: readers see the old file or the new one."""
    write_atomic(path, lambda fh: np.savez(fh, **arrays), fsync=True)
