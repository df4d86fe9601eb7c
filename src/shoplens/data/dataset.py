"""The in-memory dataset every loader produces: uint8 images at model input size plus labels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


class Labelled:
    """What every dataset answers from its `labels` and `class_names` (in memory or on disk)."""

    labels: np.ndarray
    class_names: list[str]

    @property
    def num_classes(self) -> int:
        """Number of categories."""
        return len(self.class_names)

    def class_counts(self) -> dict[str, int]:
        """How many images each class has."""
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return {name: int(c) for name, c in zip(self.class_names, counts)}


@dataclass
class ImageDataset(Labelled):
    """Images (N, C, H, W) uint8 at the model's input size, integer labels, and class names."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    source: str = ""
    checksum: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {self.images.dtype} {self.images.shape}"
            )
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(
                f"labels must lie in [0, {len(self.class_names)}), got {self.labels.min()}..{self.labels.max()}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> ImageDataset:
        """A dataset holding only the given rows (same classes, same source)."""
        return ImageDataset(
            self.images[indices],
            self.labels[indices],
            self.class_names,
            self.source,
            self.checksum,
            self.meta,
        )


def array_checksum(*arrays: np.ndarray) -> str:
    """sha256 over the raw bytes of the arrays, for data provenance in bundles."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()
