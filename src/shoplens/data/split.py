"""Stratified, seeded train/validation splits; copies of one photo kept on one side."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


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
