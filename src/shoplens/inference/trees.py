"""Gradient-boosted regression trees evaluated with numpy: the non-linear part of a stored score.

Trees are fitted elsewhere (shoplens.training.ood_fit, with scikit-learn) and stored as plain arrays, one row
per tree, padded to the largest tree: a sample goes left at a node when its feature is at most the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

LEAF = -1  # feature index of a leaf


@dataclass(frozen=True)
class BoostedTrees:
    """T trees of up to M nodes: the sum of their leaf values, times the learning rate, is the raw score."""

    feature: np.ndarray  # (T, M) int: feature tested at each node, LEAF at leaves and padding
    threshold: np.ndarray  # (T, M) float
    left: np.ndarray  # (T, M) int: child when feature <= threshold (a leaf points at itself)
    right: np.ndarray  # (T, M) int
    value: np.ndarray  # (T, M) float: leaf values
    learning_rate: float

    def __post_init__(self) -> None:
        """Check that the arrays agree and that every child index is a node of its tree."""
        shape = self.feature.shape
        if len(shape) != 2 or any(
            a.shape != shape for a in (self.threshold, self.left, self.right, self.value)
        ):
            raise ValueError("inconsistent tree arrays")
        for child in (self.left, self.right):
            if child.size and (child.min() < 0 or child.max() >= shape[1]):
                raise ValueError("a tree's child index points outside the tree")

    def raw(self, x: np.ndarray) -> np.ndarray:
        """(N,) sum over trees of each sample's leaf value, times the learning rate, for features x (N, F)."""
        x = np.asarray(x, np.float32)  # scikit-learn's trees split float32 features (thresholds in between)
        n, t = len(x), self.feature.shape[0]
        if t == 0:
            return np.zeros(n)
        trees = np.arange(t)[None, :]
        node = np.zeros((n, t), np.int64)
        rows = np.arange(n)[:, None]
        for _ in range(self.feature.shape[1]):  # a path is never longer than its tree
            feature = self.feature[trees, node]
            if (feature == LEAF).all():
                break
            go_left = x[rows, np.maximum(feature, 0)] <= self.threshold[trees, node]
            step = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(feature == LEAF, node, step)
        return self.learning_rate * self.value[trees, node].sum(axis=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready arrays."""
        return {
            "feature": self.feature.tolist(),
            "threshold": self.threshold.tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": self.value.tolist(),
            "learning_rate": float(self.learning_rate),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BoostedTrees:
        """Inverse of to_dict; inconsistent arrays raise ValueError."""
        ints = {k: _table(data[k], np.int64) for k in ("feature", "left", "right")}
        floats = {k: _table(data[k], np.float64) for k in ("threshold", "value")}
        return cls(**ints, **floats, learning_rate=float(data["learning_rate"]))


def _table(rows: Any, dtype: type) -> np.ndarray:
    """(T, M) array of a list of T equal rows; ValueError when they are not."""
    table = np.asarray(rows, dtype)
    if table.ndim != 2:
        raise ValueError("inconsistent tree arrays")
    return table
