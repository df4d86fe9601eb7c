"""Runtime sessions behind one protocol: a model's forward pass on uint8-free, normalised float batches."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn


@runtime_checkable
class InferenceSession(Protocol):
    """Runs a bundle's network: normalised float32 (N, C, H, W) in, (logits (N, K), embeddings (N, D)) out."""

    runtime: str

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and un-normalised penultimate features for one batch."""
        ...


class TorchSession:
    """PyTorch eager execution of the bundle's nn.Module (needs `forward_features` and `head`)."""

    runtime = "torch"

    def __init__(self, model: nn.Module, threads: int | None = None) -> None:
        self.model = model.eval()
        if threads:
            torch.set_num_threads(threads)

    @torch.inference_mode()
    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and features for one batch."""
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).contiguous(
            memory_format=torch.channels_last
        )
        feats = self.model.forward_features(t)
        return self.model.head(feats).numpy(), feats.numpy()
