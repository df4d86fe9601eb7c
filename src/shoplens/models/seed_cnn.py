"""The classic Keras Fashion-MNIST recipe's network, faithfully in PyTorch."""

from __future__ import annotations

import torch
from torch import nn

from shoplens.models.registry import register_model


class SeedCNN(nn.Module):
    """Conv32-3×3 → MaxPool → Conv64 → MaxPool → Conv64 → Flatten → Dense64 → Dense(classes), ReLU, no padding."""

    def __init__(
        self, num_classes: int = 10, in_chans: int = 1, img_size: tuple[int, int] = (28, 28)
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3),
            nn.ReLU(),
            nn.Flatten(),
        )
        h, w = img_size
        for _ in range(2):
            h, w = (h - 2) // 2, (w - 2) // 2
        h, w = h - 2, w - 2
        if h < 1 or w < 1:
            raise ValueError(f"seed_cnn needs inputs of at least 18×18, got {img_size}")
        self.fc = nn.Sequential(nn.Linear(64 * h * w, 64), nn.ReLU())
        self.num_features = 64
        self.head = nn.Linear(64, num_classes)
        for m in self.modules():  # Keras defaults: Glorot-uniform kernels, zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (the Dense64 layer's output)."""
        return self.fc(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.forward_features(x))


@register_model
def seed_cnn(num_classes: int = 10, in_chans: int = 1, img_size: tuple[int, int] = (28, 28)) -> SeedCNN:
    """The classic Keras recipe's CNN (about 93k parameters)."""
    return SeedCNN(num_classes, in_chans, img_size)
