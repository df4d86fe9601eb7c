"""A trained bundle's search projection: its features' principal directions, whitened for search.

The default model's features are 192 numbers; joined to the 10 category probabilities they made 202-wide search
vectors, 46 % more index and exact-search time than the 138 of the model before. Centred on the validation
features' mean and projected on their first 128 principal directions (99.6 % of their variance), the vectors
are 138 wide again. They are then whitened against two spreads, each counted alike: of the validation images
around their own category's mean, and of photos of validation garments (the detector's calibration photos)
from the garment each shows. Directions in which one category's images differ, or in which a photo's light and
backdrop move it, weigh less than those that tell products apart. On the same bundle (bench/catalog.py,
bench/photos.py; docs/catalogue-studies.md): shop photos find their own garment among their first 10 neighbours
for 50.2 % instead of 36.5 %, same-category precision@10 of shop photos 0.829 instead of 0.819, of the 10k demo
catalogue 0.908 instead of 0.904. Fitted when a bundle is trained (shoplens.training), stored beside its weights;
bundles without one search with their whole features.
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
WHITEN_SHRINK = 0.05  # share of the covariance whitened against that is replaced by its mean variance
MIN_PAIRS = SEARCH_WIDTH  # fewer photo-product pairs: their spread is not used


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
        cls,
        features: np.ndarray,
        labels: np.ndarray | None = None,
        width: int = SEARCH_WIDTH,
        pairs: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> SearchProjection | None:
        """Features' first `width` principal directions, whitened against their spread within each category (with
        labels) and between photos and the products they show (`pairs`: photos' and products' features, row by
        row); None when there is nothing to narrow or whiten, or fewer than MIN_FIT_SAMPLES rows."""
        features = np.asarray(features, np.float64)
        if labels is not None and len(labels) != len(features):
            raise ValueError(f"{len(labels)} labels for {len(features)} rows of features")
        if pairs is not None and (len(pairs) != 2 or np.shape(pairs[0]) != np.shape(pairs[1])):
            raise ValueError("pairs must be two arrays of the same shape: photos' features, their products'")
        if features.ndim != 2 or len(features) < max(MIN_FIT_SAMPLES, width):
            return None
        by_category = labels is not None and _categories(labels) >= 2
        by_pairs = pairs is not None and len(pairs[0]) >= MIN_PAIRS
        if features.shape[1] <= width and not (by_category or by_pairs):
            return None
        mean = features.mean(axis=0)
        _, _, vt = np.linalg.svd(features - mean, full_matrices=False)
        components = vt[:width].T
        spreads = []
        if by_category:
            _, _, centred = category_spread((features - mean) @ components, np.asarray(labels))
            spreads.append(centred)
        if by_pairs:
            spreads.append((np.asarray(pairs[0], np.float64) - np.asarray(pairs[1], np.float64)) @ components)
        covariances = [rows.T @ rows / len(rows) for rows in spreads]
        covariances = [cov / np.trace(cov) for cov in covariances if np.trace(cov) > 0]
        if covariances:  # each part counts alike, whatever its scale
            whitening = inverse_sqrt(np.mean(covariances, axis=0), WHITEN_SHRINK)
            components = components @ whitening.T
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


def category_spread(rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the categories present, sorted; their centres (K, D); every row minus its own category's centre)."""
    present = np.unique(labels)
    centres = np.stack([rows[labels == k].mean(axis=0) for k in present])
    return present, centres, rows - centres[np.searchsorted(present, labels)]


def inverse_sqrt(cov: np.ndarray, shrinkage: float) -> np.ndarray:
    """W with ||W x||² the Mahalanobis length of x under cov shrunk towards its mean variance by `shrinkage`.

    The shrinkage keeps directions in which the rows barely vary from being blown up.
    """
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / len(cov) * np.eye(len(cov))
    values, vectors = np.linalg.eigh(cov)
    return (vectors / np.sqrt(np.maximum(values, 1e-12))).T


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
