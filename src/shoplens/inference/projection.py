"""A trained bundle's search projection: its features' principal directions, so catalogue vectors stay narrow.

The default model's features are 192 numbers; joined to the 10 category probabilities they made 202-wide search
vectors, 46 % more index and exact-search time than the 138 of the model before. Centred on the validation
features' mean and projected on their first 128 principal directions (99.6 % of their variance), the vectors
are 138 wide again, and the 10k demo catalogue's same-category precision@10 went 0.904 -> 0.906 (the photo
benchmark's shop photos: 0.808 -> 0.813; bench/catalog.py, bench/photos.py). Fitted when a bundle is trained
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
    def fit(cls, features: np.ndarray, width: int = SEARCH_WIDTH) -> SearchProjection | None:
        """The first `width` principal directions of features (N, D); None when D ≤ width or N < MIN_FIT_SAMPLES."""
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or features.shape[1] <= width or len(features) < max(MIN_FIT_SAMPLES, width):
            return None
        mean = features.mean(axis=0)
        _, _, vt = np.linalg.svd(features - mean, full_matrices=False)
        return cls(mean.astype(np.float32), np.ascontiguousarray(vt[:width].T, np.float32))

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
