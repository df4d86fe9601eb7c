"""PyTorch eager session behind the InferenceSession protocol (training, export checks, the torch runtime)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from shoplens.inference.devices import torch_device
from shoplens.inference.kinds import Device


class TorchSession:
    """PyTorch eager execution of the bundle's nn.Module (needs `forward_features` and `head`)."""

    runtime = "torch"

    def __init__(self, model: nn.Module, threads: int | None = None, device: Device | None = None) -> None:
        """`device` None: wherever the model's weights already are (training's own evaluation)."""
        self.model = model.eval() if device is None else model.to(torch_device(device)).eval()
        self.device = next(model.parameters()).device
        self.embedding_dim = int(model.num_features)
        if threads:
            torch.set_num_threads(threads)

    @torch.inference_mode()
    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits and features for one batch."""
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        feats = self.model.forward_features(t.contiguous(memory_format=torch.channels_last))
        return self.model.head(feats).cpu().numpy(), feats.cpu().numpy()
