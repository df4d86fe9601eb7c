"""The protocol every runtime session follows: a model's forward pass on normalised float batches."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class InferenceSession(Protocol):
    """Runs a bundle's network: normalised float32 (N, C, H, W) in, (logits (N, K), embeddings (N, D)) out."""

    runtime: str

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and un-normalised penultimate features for one batch."""
        ...
