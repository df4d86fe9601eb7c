"""Outlier exposure: synthetic non-products drawn straight at model input size, and the loss that teaches
the model to be unsure about them (a uniform target over the categories).

What pictures that are not products look like after shoplens.imaging.photo: full-frame textures, noise
and gradients, lines of text, blobs and simple shapes fitted to the frame, garments cut up and shuffled.
All batched tensor operations, cheap enough to mix into every training step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from shoplens.training.photo_augment import uniform_draws

FAMILIES = ("field", "blob", "noise", "ramp", "shapes", "lines", "jigsaw")


def _field(
    n: int, size: tuple[int, int], g: torch.Generator, device: torch.device | None = None
) -> torch.Tensor:
    """Smooth random fields 0..1: coarse noise (3–8 cells, one grid per batch) upsampled."""
    cells = int(torch.randint(3, 9, (1,), generator=g))
    coarse = torch.rand((n, 1, cells, cells), generator=g).to(device)
    return F.interpolate(coarse, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def _grid(
    n: int, size: tuple[int, int], device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, H, W) y and x coordinates in -1..1."""
    ys = torch.linspace(-1, 1, size[0], device=device).view(1, 1, -1, 1).expand(n, 1, *size)
    xs = torch.linspace(-1, 1, size[1], device=device).view(1, 1, 1, -1).expand(n, 1, *size)
    return ys, xs


def _shapes(
    n: int, size: tuple[int, int], g: torch.Generator, device: torch.device | None = None
) -> torch.Tensor:
    """One to four filled ellipses or rectangles of random grey levels."""
    ys, xs = _grid(n, size, device)
    out = torch.zeros((n, 1, *size), device=device)
    for _ in range(int(torch.randint(1, 5, (1,), generator=g))):
        cy, cx = uniform_draws(n, g, -0.6, 0.6, device), uniform_draws(n, g, -0.6, 0.6, device)
        ry, rx = uniform_draws(n, g, 0.15, 0.9, device), uniform_draws(n, g, 0.15, 0.9, device)
        ellipse = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1
        box = ((ys - cy).abs() <= ry) & ((xs - cx).abs() <= rx)
        inside = torch.where(uniform_draws(n, g, device=device) < 0.5, ellipse, box)
        out = torch.where(inside, uniform_draws(n, g, 0.2, 1.0, device), out)
    return out


def _lines(
    n: int, size: tuple[int, int], g: torch.Generator, device: torch.device | None = None
) -> torch.Tensor:
    """Rows of text-like dashes, or stripes at an angle."""
    ys, xs = _grid(n, size, device)
    period = uniform_draws(n, g, 0.15, 0.5, device)
    straight = uniform_draws(n, g, device=device) < 0.6
    angle = torch.where(straight, torch.zeros((), device=device), uniform_draws(n, g, 0, 3.1416, device))
    u = ys * torch.cos(angle) + xs * torch.sin(angle)
    rows = torch.sin(u / period * 3.1416) > uniform_draws(n, g, 0.0, 0.6, device)
    words = _field(n, size, g, device) > 0.45
    return (rows & words).float() * uniform_draws(n, g, 0.4, 1.0, device)


def _jigsaw(garments: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Training images cut into 2×2 or 3×3 tiles and shuffled: garment texture without a garment's shape."""
    n, c, h, w = garments.shape
    k = int(torch.randint(2, 4, (1,), generator=g))
    th, tw = h // k, w // k
    tiles = garments[:, :, : th * k, : tw * k].reshape(n, c, k, th, k, tw).permute(0, 2, 4, 1, 3, 5)
    tiles = tiles.reshape(n, k * k, c, th, tw)[:, torch.randperm(k * k, generator=g)]
    out = tiles.reshape(n, k, k, c, th, tw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, th * k, tw * k)
    return F.pad(out, (0, w - tw * k, 0, h - th * k))


def synthetic_outliers(garments: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """As many non-product uint8 images as garments (N, 1, H, W) given; some are made from the garments."""
    n, _, h, w = garments.shape
    size, device = (h, w), garments.device
    x = garments.float() / 255
    family = torch.randint(len(FAMILIES), (n,), generator=g).view(n, 1, 1, 1).to(device)
    field = _field(n, size, g, device)
    ys, xs = _grid(n, size, device)
    options = {
        "field": field * uniform_draws(n, g, 0.3, 1.0, device),
        "blob": (field > uniform_draws(n, g, 0.35, 0.6, device)).float()
        * (0.4 + 0.6 * _field(n, size, g, device)),
        "noise": torch.rand((n, 1, *size), generator=g).to(device) * uniform_draws(n, g, 0.3, 1.0, device),
        "ramp": (
            (xs * uniform_draws(n, g, -1, 1, device) + ys * uniform_draws(n, g, -1, 1, device)) / 2 + 0.5
        ),
        "shapes": _shapes(n, size, g, device),
        "lines": _lines(n, size, g, device),
        "jigsaw": _jigsaw(x, g),
    }
    out = torch.zeros((n, 1, *size), device=device)
    for k, name in enumerate(FAMILIES):
        out = torch.where(family == k, options[name], out)
    return out.clamp(0, 1).mul(255).round().to(torch.uint8)


def uniform_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy to the uniform distribution: lowest when the model has no preference at all."""
    return -F.log_softmax(logits, dim=1).mean(dim=1).mean()
