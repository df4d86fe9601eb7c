"""A trained bundle's search projection: its features' principal directions, whitened within categories.

The default model's features are 192 numbers; joined to the 10 category probabilities they made 202-wide search
vectors, 46 % more index and exact-search time than the 138 of the model before. Centred on the validation
features' mean and projected on their first 128 principal directions (99.6 % of their variance), the vectors
are 138 wide again. Whitened against the validation images' spread around their own category's mean, directions
in which one category's images differ weigh less than those that tell categories apart: on the 10k demo
catalogue same-category precision@10 went 0.904 -> 0.909 against the principal directions alone, and shop photos
searching the test garments found their own garment among the first 10 for 45.5 % instead of 36.5 %
(bench/catalog.py, bench/photos.py; docs/catalogue-studies.md). Fitted when a bundle is trained
(shoplens.training), stored beside its weights; bundles without one search with their whole features.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shoplens.errors import BundleError

SEARCH_FILE = "search.json"
SEARCH_WIDTH = 128  # directions kept: features this wide or narrower are searched whole
MIN_FIT_SAMPLES = 4 * SEARCH_WIDTH  # fewer validation images: no projection (its directions would be noise)
WHITEN_SHRINK = 0.05  # share of the within-category covariance replaced by its mean variance


@dataclass(frozen=True)
class SearchProjection:
    """The mean (D,) features are centred on and the directions (D, W) they are projected on."""

    mean: np.ndarray
    components: np.ndarray

    def __post_init__(self) -> None:
        if self.mean.ndim != 1 or self.components.ndim != 2 or self.components.shape[0] != self.mean.shape[0]:
            raise ValueError(
                f"inconsistent search projection: mean {self.mean.shape}, components {self.components.shape}"
            )

    @property
    def width(self) -> int:
        """Length of the projected features."""
        return int(self.components.shape[1])

    def apply(self, features: np.ndarray) -> np.ndarray:
        """Features (N, D) centred and projected to (N, W) float32, not normalised."""
        return ((np.asarray(features, np.float32) - self.mean) @ self.components).astype(np.float32)

    @classmethod
    def fit(
        cls, features: np.ndarray, labels: np.ndarray | None = None, width: int = SEARCH_WIDTH
    ) -> SearchProjection | None:
        """Features' first `width` principal directions, whitened against the spread within each category when
        labels are given; None when there is nothing to narrow or whiten, or fewer than MIN_FIT_SAMPLES rows."""
        features = np.asarray(features, np.float64)
        if labels is not None and len(labels) != len(features):
            raise ValueError(f"{len(labels)} labels for {len(features)} rows of features")
        if features.ndim != 2 or len(features) < max(MIN_FIT_SAMPLES, width):
            return None
        whiten = labels is not None and _categories(labels) >= 2
        if features.shape[1] <= width and not whiten:
            return None
        mean = features.mean(axis=0)
        _, _, vt = np.linalg.svd(features - mean, full_matrices=False)
        components = vt[:width].T
        if whiten:
            components = components @ _within_whitening((features - mean) @ components, np.asarray(labels))
        return cls(mean.astype(np.float32), np.ascontiguousarray(components, np.float32))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"mean": self.mean.tolist(), "components": self.components.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchProjection:
        """Inverse of to_dict; inconsistent shapes raise ValueError."""
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["components"], np.float32))

    def save(self, bundle_dir: str | Path) -> Path:
        """Write search.json into a bundle folder."""
        path = Path(bundle_dir) / SEARCH_FILE
        path.write_text(json.dumps(self.to_dict()))
        return path


def _categories(labels: np.ndarray) -> int:
    """Categories with at least two rows: those whose spread can be measured."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return int((counts >= 2).sum())


def _within_whitening(projected: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(W, W) map that makes the spread of rows around their category's mean (nearly) the same every way.

    Directions in which images of one category differ (pose, shading) then weigh less in the cosine than those
    that tell categories apart. The covariance is shrunk towards its mean variance (WHITEN_SHRINK) so that
    directions in which the categories barely vary are not blown up.
    """
    centred = np.concatenate(
        [projected[labels == c] - projected[labels == c].mean(axis=0) for c in np.unique(labels)]
    )
    within = centred.T @ centred / len(centred)
    level = float(np.trace(within)) / len(within)
    if level <= 0:  # no spread within any category: nothing to whiten against
        return np.eye(len(within))
    values, vectors = np.linalg.eigh(
        (1 - WHITEN_SHRINK) * within + WHITEN_SHRINK * level * np.eye(len(within))
    )
    return vectors @ np.diag(np.clip(values, 1e-12 * level, None) ** -0.5) @ vectors.T * np.sqrt(level)


def load_projection(bundle_dir: str | Path, features: int | None = None) -> SearchProjection | None:
    """The bundle's search projection of `features`-wide features (None: unchecked), or None if it has none."""
    path = Path(bundle_dir) / SEARCH_FILE
    if not path.is_file():
        return None
    try:
        projection = SearchProjection.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BundleError(f"{path}: unreadable search projection ({e})") from None
    if features is not None and projection.mean.shape[0] != features:
        raise BundleError(f"{path}: projects {projection.mean.shape[0]} features, the model gives {features}")
    return projection
