"""Near-duplicate images across products: perceptual-hash candidates, confirmed by embedding and pixel similarity.

Each image keeps a small canonical view (trimmed of its border, squared, 32×32 grey) and the perceptual hash
of that view. A new image's candidates are the images whose hashes differ in at most `max_hamming` bits; a
candidate is confirmed when the embeddings agree (cosine ≥ min_similarity) and the canonical views match
pixel for pixel (correlation ≥ min_pixel_correlation). Confirmed pairs are merged into groups named by their
smallest image id. Hash, view and embedding of every image are cached in memory and topped up from the
database, so checking a batch costs a few vector operations per image.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shoplens.db.catalog import Embedding, ProductImage
from shoplens.inference.predictor import l2_normalize

COARSE_SLACK = 0.01  # block means correlate at least about as well as the pixels they average


@dataclass(frozen=True)
class DuplicateConfig:
    """How close two images must be: hash bits that may differ, least embedding cosine, least pixel correlation."""

    max_hamming: int = 8
    min_similarity: float = 0.8
    min_pixel_correlation: float = 0.995


def standardize(views: np.ndarray) -> np.ndarray:
    """Canonical views (N, P) as zero-mean unit-norm rows, so a dot product is their correlation."""
    x = views.astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    return l2_normalize(x, eps=1e-6)


class DuplicateCache:
    """Hash, product, canonical view and embedding of every image of one model version, kept up to date.

    Views stay as their bytes (1 KiB an image, a quarter of float32) and are standardized for the rows compared.
    """

    def __init__(self, version: str) -> None:
        self.version = version
        self._clear()
        self.lock = threading.Lock()

    def _clear(self) -> None:
        """Hold nothing (the next refresh loads every image)."""
        self.last_id = 0
        self.ids = np.zeros(0, np.int64)
        self.products = np.zeros(0, np.int64)
        self.hashes = np.zeros(0, np.int64)
        self.views = np.zeros((0, 0), np.uint8)
        self.coarse = np.zeros((0, 0), np.float32)  # 8×8 block means of the views: a cheap first pixel check
        self.vectors = np.zeros((0, 0), np.float32)

    def refresh(self, session: Session) -> None:
        """Add the images committed since the last refresh (by this or any other process); start again when the
        newest image held is gone or another now (SQLite gives a deleted newest row's id to the next one)."""
        if self.last_id:
            newest = session.execute(
                select(ProductImage.product_id, ProductImage.phash).where(ProductImage.id == self.last_id)
            ).one_or_none()
            if newest is None or tuple(newest) != (int(self.products[-1]), int(self.hashes[-1])):
                self._clear()
        rows = session.execute(
            select(
                ProductImage.id,
                ProductImage.product_id,
                ProductImage.phash,
                ProductImage.view,
                Embedding.vector,
            )
            .join(
                Embedding, (Embedding.image_id == ProductImage.id) & (Embedding.model_version == self.version)
            )
            .where(ProductImage.id > self.last_id)
            .order_by(ProductImage.id)
        ).all()
        if not rows:
            return
        ids, products, hashes, views, vectors = zip(*rows)
        raw = np.stack([np.frombuffer(v, np.uint8) for v in views])
        side = int(np.sqrt(raw.shape[1]))
        coarse = standardize(
            raw.reshape(-1, 8, side // 8, 8, side // 8).mean(axis=(2, 4)).reshape(len(raw), 64)
        )
        vec_arr = np.stack(vectors)
        self.ids = np.concatenate([self.ids, np.array(ids, np.int64)])
        self.products = np.concatenate([self.products, np.array(products, np.int64)])
        self.hashes = np.concatenate([self.hashes, np.array(hashes, np.int64)])
        self.views = raw if len(self.views) == 0 else np.concatenate([self.views, raw])
        self.coarse = coarse if len(self.coarse) == 0 else np.concatenate([self.coarse, coarse])
        self.vectors = vec_arr if len(self.vectors) == 0 else np.concatenate([self.vectors, vec_arr])
        self.last_id = int(self.ids[-1])

    def forget(self, image_ids: np.ndarray) -> None:
        """Drop deleted images (those of a product this process deleted)."""
        keep = ~np.isin(self.ids, image_ids)
        if keep.all():
            return
        self.ids, self.products, self.hashes = self.ids[keep], self.products[keep], self.hashes[keep]
        self.views, self.coarse, self.vectors = self.views[keep], self.coarse[keep], self.vectors[keep]
        self.last_id = int(self.ids[-1]) if self.ids.size else 0  # later rows, if any come back, are new ones

    def confirmed_pairs(self, new_ids: np.ndarray, cfg: DuplicateConfig) -> list[tuple[int, int]]:
        """(new image, other image) pairs that are near-duplicates, other products only."""
        rows = np.nonzero(np.isin(self.ids, new_ids))[0]
        if rows.size == 0:
            return []
        bits = np.bitwise_xor(self.hashes[rows][:, None], self.hashes[None, :]).view(np.uint64)
        close = (np.bitwise_count(bits) <= cfg.max_hamming) & (
            self.products[rows][:, None] != self.products[None, :]
        )
        close &= self.vectors[rows] @ self.vectors.T >= cfg.min_similarity
        r, j = np.nonzero(close)
        likely = (
            np.einsum("ij,ij->i", self.coarse[rows[r]], self.coarse[j])
            >= cfg.min_pixel_correlation - COARSE_SLACK
        )
        r, j = r[likely], j[likely]
        if r.size == 0:
            return []
        corr = np.einsum("ij,ij->i", standardize(self.views[rows[r]]), standardize(self.views[j]))
        keep = corr >= cfg.min_pixel_correlation
        return [(int(self.ids[rows[a]]), int(self.ids[b])) for a, b in zip(r[keep], j[keep])]

    def matches(
        self, phash: int, vector: np.ndarray, view: np.ndarray, cfg: DuplicateConfig
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows that are near-duplicates of one photo not in the catalogue (same rule), and their similarities."""
        if len(self.ids) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        bits = np.bitwise_xor(self.hashes, np.int64(phash)).view(np.uint64)
        sims = self.vectors @ vector
        close = np.nonzero((np.bitwise_count(bits) <= cfg.max_hamming) & (sims >= cfg.min_similarity))[0]
        corr = standardize(self.views[close]) @ standardize(view.reshape(1, -1))[0]
        rows = close[corr >= cfg.min_pixel_correlation]
        return rows, sims[rows]


def assign_duplicates(
    session: Session, cache: DuplicateCache, new_ids: np.ndarray, cfg: DuplicateConfig
) -> int:
    """Group the newly committed images with their near-duplicates; returns the number of confirmed pairs."""
    with cache.lock:
        cache.refresh(session)
        pairs = cache.confirmed_pairs(new_ids, cfg)
    if pairs:
        merge_groups(session, pairs)
    return len(pairs)


def dissolve_lone_groups(session: Session, groups: set[int]) -> None:
    """Take the images of each of `groups` out of it where what is left of it lies in one product (its other
    members deleted): a duplicate needs another product to be a duplicate of."""
    for group in sorted(groups):
        query = select(ProductImage.product_id).where(ProductImage.duplicate_group == group).distinct()
        if len(session.scalars(query).all()) < 2:
            session.execute(
                update(ProductImage).where(ProductImage.duplicate_group == group).values(duplicate_group=None)
            )


def merge_groups(session: Session, pairs: list[tuple[int, int]]) -> None:
    """Put each pair in one group (named by the smallest image id of all members), merging existing groups."""
    members = {a for p in pairs for a in p}
    groups = dict(
        session.execute(
            select(ProductImage.id, ProductImage.duplicate_group).where(ProductImage.id.in_(members))
        ).all()
    )
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    def union(x: int, y: int) -> None:
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)

    valid = [
        (a, b) for a, b in pairs if a in groups and b in groups
    ]  # either may have been deleted meanwhile
    for a, b in valid:
        ga, gb = groups[a] or a, groups[b] or b  # an image already in a group brings its whole group
        union(a, ga)
        union(b, gb)
        union(ga, gb)
    for g in {g for g in groups.values() if g is not None}:
        root = find(g)
        if root != g:
            session.execute(
                update(ProductImage).where(ProductImage.duplicate_group == g).values(duplicate_group=root)
            )
    for image_id in {x for p in valid for x in p}:
        session.execute(
            update(ProductImage).where(ProductImage.id == image_id).values(duplicate_group=find(image_id))
        )
