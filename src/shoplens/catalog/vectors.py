"""Vector indexes per model version, and which version search uses (named in <root>/ACTIVE, an atomic switch).

Each version's index lives in one of two stores: a faiss file <root>/<version>/index.faiss (the default), or
a Milvus collection named in <root>/<version>/milvus-collection (SHOPLENS_VECTOR_BACKEND=milvus). Either is
a cache of the `embeddings` table: loading one brings it in line with the table (ids added or deleted while
no process held it), so a crash between commit and save loses nothing.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoplens.db.catalog import Embedding
from shoplens.files import file_lock, write_atomic
from shoplens.search.index import FaissIndex, load_index
from shoplens.search.protocol import VectorIndex

log = logging.getLogger(__name__)

ACTIVE_FILE = "ACTIVE"
INDEX_FILE = "index.faiss"
COLLECTION_FILE = "milvus-collection"
BACKENDS = ("faiss", "milvus")
Stamp = tuple[int, int]


@dataclass
class _Loaded:
    """An index in memory and the stamp of its store entry when it was loaded (or last saved)."""

    index: VectorIndex
    stamp: Stamp | None


class IndexStore(Protocol):
    """Where the index of each model version is kept."""

    def path(self, version: str) -> Path:
        """The file that stands for a version's index (its stamp changes when another process replaces it)."""
        ...

    def load(self, version: str) -> VectorIndex:
        """The stored index of a version (its file stamp is not None)."""
        ...

    def new(self, version: str, dim: int, method: str, replace: bool) -> VectorIndex:
        """An empty index for a version; replace: a fresh one that takes the old one's place when saved."""
        ...

    def save(self, version: str, index: VectorIndex) -> None:
        """Persist a version's index (called under the space's lock and file lock)."""
        ...

    def versions(self) -> list[str]:
        """Versions whose stored index erasure must reach even when no process has loaded it."""
        ...


class FaissFiles:
    """faiss indexes in files: root/<version>/index.faiss, rewritten atomically on save."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, version: str) -> Path:
        """The index file of a version."""
        return self.root / version / INDEX_FILE

    def load(self, version: str) -> VectorIndex:
        """The index in a version's file."""
        return load_index(self.path(version))

    def new(self, version: str, dim: int, method: str, replace: bool) -> VectorIndex:
        """An empty faiss index in memory (written when saved)."""
        return FaissIndex(dim, method=method)

    def save(self, version: str, index: VectorIndex) -> None:
        """Rewrite the version's file atomically (a reader sees the old file or the new one)."""
        assert isinstance(index, FaissIndex)
        self.path(version).parent.mkdir(parents=True, exist_ok=True)
        index.save(self.path(version))

    def versions(self) -> list[str]:
        """None: a file not loaded is brought in line with the table (erasures included) when it is loaded."""
        return []


class MilvusCollections:
    """Milvus collections, one per version (shoplens_<version>_<created>), each named in root/<version>/.

    A rebuild fills a new collection; saving it switches the name file atomically and drops the old one.
    """

    def __init__(self, root: Path, uri: str, token: str | None = None) -> None:
        self.root, self.uri, self.token = root, uri, token

    def path(self, version: str) -> Path:
        """The file naming a version's collection."""
        return self.root / version / COLLECTION_FILE

    def load(self, version: str) -> VectorIndex:
        """The version's collection."""
        from shoplens.search.milvus import open_collection

        return open_collection(self.uri, self.path(version).read_text().strip(), self.token)

    def new(self, version: str, dim: int, method: str, replace: bool) -> VectorIndex:
        """A new collection; a version's first one is named at once, a replacement when saved."""
        from shoplens.search.milvus import MilvusIndex

        with file_lock(self.root / ".lock"):
            if not replace and self.path(version).exists():  # another process named one meanwhile
                return self.load(version)
            safe = re.sub(r"[^A-Za-z0-9_]", "_", version)[:150]
            name = f"shoplens_{safe}_{time.time_ns():x}"
            index = MilvusIndex(dim, method, uri=self.uri, collection=name, token=self.token)
            if not replace:
                self._name(version, name)
            return index

    def save(self, version: str, index: VectorIndex) -> None:
        """Name the index's collection as the version's (if it is new) and drop the one it replaces."""
        from shoplens.search.milvus import MilvusIndex, client_for

        assert isinstance(index, MilvusIndex)
        path = self.path(version)
        old = path.read_text().strip() if path.exists() else None
        if old != index.collection:
            self._name(version, index.collection)
            if old and client_for(self.uri, self.token).has_collection(old):
                client_for(self.uri, self.token).drop_collection(old)

    def versions(self) -> list[str]:
        """Every version with a collection: erasure reaches them all."""
        return sorted(p.parent.name for p in self.root.glob(f"*/{COLLECTION_FILE}"))

    def _name(self, version: str, collection: str) -> None:
        self.path(version).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path(version), (collection + "\n").encode())


def index_store(root: Path, backend: str, milvus_uri: str | None, milvus_token: str | None) -> IndexStore:
    """The store of a vector backend: faiss files under root, or Milvus (default: milvus-lite in root/milvus.db)."""
    if backend == "faiss":
        return FaissFiles(root)
    if backend == "milvus":
        return MilvusCollections(root, milvus_uri or str(root / "milvus.db"), milvus_token)
    raise ValueError(f"unknown vector backend {backend!r}; expected one of {', '.join(BACKENDS)}")


class VectorSpace:
    """The vector index of each model version under root/<version>/, and which version search uses."""

    def __init__(
        self,
        root: str | os.PathLike,
        sessions: sessionmaker[Session],
        method: str = "exact",
        store: IndexStore | None = None,
    ) -> None:
        self.root = Path(root)
        self.sessions = sessions
        self.method = method
        self.store = store or FaissFiles(self.root)
        self._lock = threading.RLock()
        self._loaded: dict[str, _Loaded] = {}
        self._deferred = (
            0  # > 0 inside deferred_saves(): adds mark their version unsaved instead of writing it
        )
        self._unsaved: set[str] = set()

    def active_version(self) -> str | None:
        """The model version whose index answers searches (None before the first index exists)."""
        try:
            return (self.root / ACTIVE_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def activate(self, version: str) -> None:
        """Make `version`'s index the one searches use (an atomic file switch)."""
        write_atomic(self.root / ACTIVE_FILE, (version + "\n").encode())

    def path(self, version: str) -> Path:
        """The file that holds (faiss) or names (Milvus) the index of a model version."""
        return self.store.path(version)

    def index(self, version: str, dim: int) -> VectorIndex:
        """The index of `version` (vectors of `dim`), reloaded when another process replaced it, synced."""
        with self._lock:
            loaded = self._loaded.get(version)
            stamp = _stamp(self.path(version))
            if loaded is None or (stamp is not None and stamp != loaded.stamp):
                index = self.store.load(version) if stamp is not None else None
                index = self._sync(version, index, dim)
                named = (
                    stamp if stamp is not None else _stamp(self.path(version))
                )  # a new collection is named
                loaded = self._loaded[version] = _Loaded(index, named)
            return loaded.index

    def add(self, version: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) vectors in a version's index and save it (at the end, inside deferred_saves)."""
        with self._lock:
            self.index(version, vectors.shape[1]).add(ids, vectors)
            if self._deferred:
                self._unsaved.add(version)
                return
            try:
                self.save(version)
            except OSError as e:  # the rows are committed: the next load brings the file in line with them
                self._unsaved.add(version)
                log.warning(
                    "the index of %s could not be saved (%s); it is synced from the database when loaded",
                    version,
                    e,
                )

    @contextmanager
    def deferred_saves(self) -> Iterator[None]:
        """Save each changed index once when the block ends, not after every add (bulk jobs: a save rewrites the
        whole file). Nothing is lost meanwhile: an index is brought in line with the database when loaded."""
        with self._lock:
            self._deferred += 1
        try:
            yield
        finally:
            with self._lock:
                self._deferred -= 1
                if not self._deferred:
                    for version in self._unsaved & self._loaded.keys():
                        self.save(version)
                    self._unsaved.clear()

    def remove(self, ids: np.ndarray) -> None:
        """Drop image ids from every index held here (and every Milvus collection of a version) and save them."""
        ids = np.asarray(ids, dtype=np.int64)
        with self._lock:
            for version in sorted(set(self._loaded) | set(self.store.versions())):
                held = self._loaded.get(version)
                if (held.index if held else self.store.load(version)).remove(ids) and held:
                    self.save(version)

    def save(self, version: str) -> None:
        """Persist a version's index: a faiss file rewritten atomically, or a Milvus collection named."""
        with self._lock, file_lock(self.root / ".lock"):
            self._unsaved.discard(version)
            self.store.save(version, self._loaded[version].index)
            self._loaded[version].stamp = _stamp(self.path(version))

    def build(self, version: str, dim: int, method: str | None = None) -> VectorIndex:
        """A fresh index of every stored embedding of `version`, saved (not activated)."""
        with self._lock:
            index = self._sync(version, None, dim, method, replace=True)
            self._loaded[version] = _Loaded(index, None)
            self.save(version)
            return index

    def _sync(
        self,
        version: str,
        index: VectorIndex | None,
        dim: int,
        method: str | None = None,
        replace: bool = False,
    ) -> VectorIndex:
        """The index with exactly the ids the embeddings table holds for `version`."""
        with self.sessions() as session:
            stored = np.array(
                session.scalars(select(Embedding.image_id).where(Embedding.model_version == version)).all(),
                dtype=np.int64,
            )
            if index is None:
                missing = stored
            else:
                held = index.ids()
                index.remove(np.setdiff1d(held, stored))
                missing = np.setdiff1d(stored, held)
            ids, vectors = _vectors(session, version, missing)
        if index is None:
            index = self.store.new(version, dim, method or self.method, replace)
        if len(ids):
            index.add(ids, vectors)
        return index


def _vectors(
    session: Session, version: str, ids: np.ndarray, chunk: int = 5000
) -> tuple[np.ndarray, np.ndarray]:
    """Ids and stacked vectors of these images' embeddings for `version`."""
    out_ids: list[int] = []
    out: list[np.ndarray] = []
    for start in range(0, len(ids), chunk):
        part = [int(i) for i in ids[start : start + chunk]]
        for image_id, vec in session.execute(
            select(Embedding.image_id, Embedding.vector).where(
                Embedding.model_version == version, Embedding.image_id.in_(part)
            )
        ):
            out_ids.append(image_id)
            out.append(vec)
    if not out:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    return np.array(out_ids, dtype=np.int64), np.stack(out)


def _stamp(path: Path) -> Stamp | None:
    """A file's (mtime ns, size), or None when it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size
