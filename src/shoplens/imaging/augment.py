"""Batched training augmentation of uint8 (N, C, H, W) tensors: translation, flip, random erasing."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from shoplens.fields import reject_unknown_keys

ERASE_AREA = (0.02, 0.25)  # share of the image one erased rectangle covers
ERASE_ASPECT = (0.3, 3.3)  # height / width of the erased rectangle
_ERASE_TRIES = 10  # rectangle draws per image before giving up on one that fits


@dataclass(frozen=True)
class AugmentConfig:
    """Which random changes training applies to each batch."""

    crop_padding: int = 0
    hflip: bool = False
    erasing: float = 0.0
    fill: int = 0

    def __post_init__(self) -> None:
        """Check every field."""
        if type(self.crop_padding) is not int or self.crop_padding < 0:
            raise ValueError(f"crop_padding must be a non-negative integer, got {self.crop_padding!r}")
        if not isinstance(self.hflip, bool):
            raise ValueError(f"hflip must be true or false, got {self.hflip!r}")
        erasing = self.erasing
        if type(erasing) not in (int, float) or not 0.0 <= erasing <= 1.0:
            raise ValueError(f"erasing must be a probability between 0 and 1, got {erasing!r}")
        if type(self.fill) is not int or not 0 <= self.fill <= 255:
            raise ValueError(f"fill must be an integer 0..255, got {self.fill!r}")
        object.__setattr__(self, "erasing", float(erasing))

    @property
    def enabled(self) -> bool:
        """True when at least one augmentation is switched on."""
        return self.crop_padding > 0 or self.hflip or self.erasing > 0.0

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AugmentConfig:
        """Build a configuration from to_dict() output; unknown keys or bad values raise ValueError."""
        reject_unknown_keys(cls, data, "augmentation")
        return cls(**data)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Return a randomly augmented copy of a uint8 (N, C, H, W) batch; all randomness comes from generator."""
    if x.ndim != 4 or x.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 (N, C, H, W) tensor, got {x.dtype} of shape {tuple(x.shape)}")
    if not cfg.enabled or x.numel() == 0:
        return x.clone()
    out = _translate_and_flip(x, cfg, generator) if cfg.crop_padding or cfg.hflip else x.clone()
    if cfg.erasing > 0.0:
        n, _c, h, w = x.shape
        erased = _erased_pixels((n, h, w), cfg.erasing, generator, x.device).view(n, 1, h, w)
        out = torch.where(erased, _noise(tuple(x.shape), generator).to(x.device), out)
    return out


def _uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) floats drawn from generator (on its own device) and moved to device."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def _noise(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Uniform random bytes of the given shape, drawn eight at a time for speed."""
    count = math.prod(shape)
    words = torch.empty((count + 7) // 8, dtype=torch.int64, device=generator.device)
    words.random_(-(2**63), None, generator=generator)  # the full 64-bit range: every byte uniform
    return words.view(torch.uint8)[:count].view(shape)


def _take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Pick one column per row of an (N, K) tensor."""
    return values.gather(1, index).squeeze(1)


def _translate_and_flip(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to crop_padding pixels (uncovered pixels get fill), then maybe mirror it."""
    n, c, h, w = x.shape
    p = cfg.crop_padding
    device = x.device
    # Pad by p, then crop at a random offset in [0, 2p] per axis: a shift in [-p, p].
    padded = F.pad(x, (p, p, p, p), value=cfg.fill) if p else x
    offset = (_uniform((2, n), generator, device) * (2 * p + 1)).long()
    rows = torch.arange(h, device=device).unsqueeze(0) + offset[0].unsqueeze(1)  # (N, H) padded rows
    cols = torch.arange(w, device=device).unsqueeze(0).expand(n, w)
    if cfg.hflip:
        flip = _uniform((n,), generator, device) < 0.5
        cols = torch.where(flip.unsqueeze(1), (w - 1) - cols, cols)
    cols = cols + offset[1].unsqueeze(1)  # (N, W) padded columns
    # Gathering rows then columns with broadcast (never materialised) indices keeps memory traffic small.
    picked_rows = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2 * p))
    return picked_rows.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def _erased_pixels(
    shape: tuple[int, int, int], probability: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """(N, H, W) mask of one random rectangle in each image chosen with the given probability."""
    n, h, w = shape
    draws = _uniform((4, n, _ERASE_TRIES), generator, device)
    area = h * w * (ERASE_AREA[0] + draws[0] * (ERASE_AREA[1] - ERASE_AREA[0]))
    log_lo, log_hi = math.log(ERASE_ASPECT[0]), math.log(ERASE_ASPECT[1])
    aspect = torch.exp(log_lo + draws[1] * (log_hi - log_lo))
    eh = torch.sqrt(area * aspect).round().long()
    ew = torch.sqrt(area / aspect).round().long()
    fits = (eh >= 1) & (eh < h) & (ew >= 1) & (ew < w)
    first = fits.long().argmax(dim=1, keepdim=True)  # the first draw that fits, as torchvision does
    eh, ew = _take(eh, first), _take(ew, first)
    top = (_take(draws[2], first) * (h - eh + 1)).long()
    left = (_take(draws[3], first) * (w - ew + 1)).long()
    chosen = (_uniform((n,), generator, device) < probability) & fits.any(dim=1)
    ys = torch.arange(h, device=device).unsqueeze(0)
    xs = torch.arange(w, device=device).unsqueeze(0)
    in_rows = (ys >= top.unsqueeze(1)) & (ys < (top + eh).unsqueeze(1)) & chosen.unsqueeze(1)
    in_cols = (xs >= left.unsqueeze(1)) & (xs < (left + ew).unsqueeze(1))
    # A uint8 outer product: on CPU it is faster than broadcasting a boolean and.
    return (in_rows.to(torch.uint8).view(n, h, 1) * in_cols.to(torch.uint8).view(n, 1, w)).bool()
