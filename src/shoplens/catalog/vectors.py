"""Vector indexes per model version, persisted beside the database; the active one named in <root>/ACTIVE.

An index file is a cache of the `embeddings` table: loading one brings it in line with the table (ids added
or deleted while no process held it), so a crash between commit and save loses nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shoplens.db.catalog import Embedding
from shoplens.files import file_lock, write_atomic
from shoplens.search.index import FaissIndex, VectorIndex, load_index

ACTIVE_FILE = "ACTIVE"
INDEX_FILE = "index.faiss"


@dataclass
class _Loaded:
    """An index in memory and the file stamp it was loaded from (or last saved to)."""

    index: VectorIndex
    stamp: tuple[int, int] | None


class VectorSpace:
    """The vector index of each model version under root/<version>/, and which version search uses."""

    def __init__(
        self, root: str | os.PathLike, sessions: sessionmaker[Session], method: str = "exact"
    ) -> None:
        self.root = Path(root)
        self.sessions = sessions
        self.method = method
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
        """Where the index of a model version is kept."""
        return self.root / version / INDEX_FILE

    def index(self, version: str, dim: int) -> VectorIndex:
        """The index of `version` (vectors of `dim`), reloaded when another process saved a newer file, synced."""
        with self._lock:
            loaded = self._loaded.get(version)
            stamp = _stamp(self.path(version))
            if loaded is None or (stamp is not None and stamp != loaded.stamp):
                index = load_index(self.path(version)) if stamp is not None else None
                index = self._sync(version, index, dim)
                loaded = self._loaded[version] = _Loaded(index, stamp)
            return loaded.index

    def add(self, version: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) vectors in a version's index and save it (at the end, inside deferred_saves)."""
        with self._lock:
            self.index(version, vectors.shape[1]).add(ids, vectors)
            if self._deferred:
                self._unsaved.add(version)
            else:
                self.save(version)

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
        """Drop image ids from every index held here and save them."""
        with self._lock:
            for version in list(self._loaded):
                if self._loaded[version].index.remove(np.asarray(ids, dtype=np.int64)):
                    self.save(version)

    def save(self, version: str) -> None:
        """Write a version's index atomically (a reader sees the old file or the new one)."""
        with self._lock, file_lock(self.root / ".lock"):
            self._unsaved.discard(version)
            path = self.path(version)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._loaded[version].index.save(path)
            self._loaded[version].stamp = _stamp(path)

    def build(self, version: str, dim: int, method: str | None = None) -> VectorIndex:
        """A fresh index of every stored embedding of `version`, saved (not activated)."""
        with self._lock:
            index = self._sync(version, None, dim, method)
            self._loaded[version] = _Loaded(index, None)
            self.save(version)
            return index

    def _sync(
        self, version: str, index: VectorIndex | None, dim: int, method: str | None = None
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
            index = FaissIndex(dim, method=method or self.method)
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


def _stamp(path: Path) -> tuple[int, int] | None:
    """A file's (mtime ns, size), or None when it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size
