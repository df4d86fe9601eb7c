"""ShopNet: a small residual CNN with batch-norm, sized for training on two CPU cores."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from shoplens.models.registry import register_model


def conv_bn(cin: int, cout: int) -> nn.Sequential:
    """3×3 convolution (no bias) → BatchNorm → ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Residual(nn.Module):
    """x + conv_bn(conv_bn(x))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ShopNet(nn.Module):
    """Stages of (conv_bn → 2×2 max-pool → optional residual block), a final conv_bn, global max-pool, linear head."""

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: tuple[int, int] = (28, 28),
        widths: Sequence[int] = (32, 64, 128),
        residual: Sequence[bool] = (False, False, False),
        final_width: int | None = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(widths) != len(residual):
            raise ValueError("widths and residual need one entry per stage")
        if min(img_size) < 2 ** len(widths):
            raise ValueError(f"inputs of {img_size} are too small for {len(widths)} pooling stages")
        layers: list[nn.Module] = []
        cin = in_chans
        for width, res in zip(widths, residual):
            layers += [conv_bn(cin, width), nn.MaxPool2d(2)]
            if res:
                layers.append(Residual(width))
            cin = width
        if final_width:
            layers.append(conv_bn(cin, final_width))
            cin = final_width
        self.stages = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.num_features = cin
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(cin, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (pooled last stage), the image's embedding."""
        return self.pool(self.stages(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.drop(self.forward_features(x)))


@register_model
def shopnet(num_classes: int = 10, in_chans: int = 1, img_size: tuple[int, int] = (28, 28), **kw) -> ShopNet:
    """The default (≈2.6 MMAC per 28×28 image): as many epochs as possible within the classic recipe's training time."""
    return ShopNet(num_classes, in_chans, img_size, widths=(16, 32, 64), final_width=128, **kw)


@register_model
def shopnet_wide(
    num_classes: int = 10, in_chans: int = 1, img_size: tuple[int, int] = (28, 28), **kw
) -> ShopNet:
    """1.5× the default's width (≈2.3× its compute)."""
    return ShopNet(num_classes, in_chans, img_size, widths=(24, 48, 96), final_width=192, **kw)


@register_model
def shopnet_large(
    num_classes: int = 10, in_chans: int = 1, img_size: tuple[int, int] = (28, 28), **kw
) -> ShopNet:
    """3× the default's width (≈9× its compute), for the `best` preset's 14 minutes in bf16 (AMX or AVX-512 BF16)."""
    return ShopNet(num_classes, in_chans, img_size, widths=(48, 96, 192), final_width=384, **kw)
