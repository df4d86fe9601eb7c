"""Stratified, seeded train/validation splits; copies of one photo kept on one side.

Copies are photos with the same bytes, and near-copies: the same photo resized or re-encoded, its whole frame's pHash
within COPY_HAMMING bits, its 32 × 32 grey thumbnail correlating ≥ COPY_CORRELATION and differing from the other's
by at most MAX_GREY_DIFFERENCE grey levels on average. A copy re-framed (cropped, or given another margin) is not
one: views trimmed and rescaled to compare those also matched different photos of one simple shape, and chained pair
by pair they grew groups that held most of a category.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from shoplens.imaging.hashing import pairs_within, perceptual_hash

COPY_HAMMING = 8  # pHash bits two copies of a photo may differ in
COPY_CORRELATION = 0.99  # resized (to a quarter) and re-encoded (JPEG 60) copies measured 0.990-1.000
THUMB_SIDE = 32
# mean |difference| of two copies' thumbnails (measured ≤ 2): another colour of the same cut, shot the same way,
# correlates as well but is no copy
MAX_GREY_DIFFERENCE = 8.0
PAIR_CHUNK = 65_536  # candidate pairs whose thumbnails are compared at once


def stratified_split(
    labels: np.ndarray, val_fraction: float, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with each class split in the same proportion; same seed, same split.

    groups: a key per item (`content_groups`); items sharing one go to the same side, counted for the class of the
    group's first item. Without groups (or with every key different) the split is the same.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    labels = np.asarray(labels)
    if groups is None:
        groups = np.arange(len(labels))
    _, first, of_item = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
    order = np.argsort(first)  # groups in the order of their first item: singletons are the items themselves
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    of_item, first = rank[of_item.reshape(-1)], first[order]
    sizes = np.bincount(of_item, minlength=len(first))
    rng = np.random.default_rng(seed)
    in_val = np.zeros(len(first), bool)
    for c in np.unique(labels):
        picked = rng.permutation(np.flatnonzero(labels[first] == c))
        total = int(sizes[picked].sum())
        n_val = round(total * val_fraction)
        if val_fraction > 0 and len(picked) > 1:
            n_val = max(1, min(n_val, total - 1))
        # as many groups as it takes to reach n_val items
        k = int(np.searchsorted(np.cumsum(sizes[picked]), n_val)) + 1 if n_val else 0
        if len(picked) > 1:
            k = min(k, len(picked) - 1)  # a group at least stays on the training side
        in_val[picked[:k]] = True
    val = in_val[of_item]
    return np.flatnonzero(~val), np.flatnonzero(val)


def content_groups(items: Iterable[bytes | np.ndarray]) -> np.ndarray:
    """A key per item, the same for items with the same bytes (a photo saved twice under two names); items are
    hashed one at a time, so a generator of file contents is never held whole."""
    keys: dict[bytes, int] = {}
    return np.array(
        [keys.setdefault(hashlib.blake2b(bytes(item), digest_size=16).digest(), len(keys)) for item in items],
        dtype=np.int64,
    )


@dataclass(frozen=True)
class CopySignature:
    """What near-copies of a photo share: the pHash and the grey thumbnail of its whole frame."""

    hash: int
    thumb: np.ndarray  # (THUMB_SIDE², ) uint8


def copy_signature(image: Image.Image) -> CopySignature:
    """The signature of a decoded photo."""
    thumb = image.convert("L").resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR)
    return CopySignature(perceptual_hash(thumb), np.asarray(thumb).ravel())


def near_copy_groups(groups: np.ndarray, signatures: Sequence[CopySignature]) -> np.ndarray:
    """Groups (`content_groups`, one per item) joined wherever two items are near-copies; a key per item."""
    parent = np.arange(len(groups))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    first: dict[int, int] = {}
    for i, key in enumerate(np.asarray(groups).tolist()):  # copies with the same bytes
        parent[root(i)] = root(first.setdefault(key, i))
    hashes = np.array([s.hash for s in signatures], np.int64)
    pairs = np.array(pairs_within(hashes, COPY_HAMMING), np.int64).reshape(-1, 2)
    if len(pairs):
        grey = np.stack([s.thumb for s in signatures]).astype(np.float32)
        x = grey - grey.mean(axis=1, keepdims=True)
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
        for chunk in np.array_split(pairs, -(-len(pairs) // PAIR_CHUNK)):  # bounded memory
            a, b = chunk[:, 0], chunk[:, 1]
            corr = np.einsum("ij,ij->i", x[a], x[b])
            apart = np.abs(grey[a] - grey[b]).mean(axis=1)
            for i, j in chunk[(corr >= COPY_CORRELATION) & (apart <= MAX_GREY_DIFFERENCE)].tolist():
                parent[root(i)] = root(j)
    return np.array([root(i) for i in range(len(groups))], np.int64)
