"""PyTorch eager session behind the InferenceSession protocol (training, export checks, the torch runtime)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TorchSession:
    """PyTorch eager execution of the bundle's nn.Module (needs `forward_features` and `head`)."""

    runtime = "torch"

    def __init__(self, model: nn.Module, threads: int | None = None) -> None:
        self.model = model.eval()
        self.embedding_dim = int(model.num_features)
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
