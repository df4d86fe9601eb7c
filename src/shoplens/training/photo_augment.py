"""Photo-domain augmentation: make 28×28 training images look like real photos after shoplens.imaging.photo.

Batched tensor operations on a random share of each uint8 (N, 1, H, W) batch: what a photo's product
becomes after background removal — its intensity remapped (gamma, contrast, flat colour, inverted inside
the product, distance from a mid-grey), an imperfect mask (eroded, dilated, soft edges, a leftover shadow),
the trim's scale and position error, lens blur or sharpening, resolution loss, noise and blocking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from shoplens.fields import reject_unknown_keys

REMAPS = ("keep", "gamma", "invert", "flat", "distance")
_REMAP_WEIGHTS = (0.3, 0.3, 0.15, 0.1, 0.15)


@dataclass(frozen=True)
class PhotoAugmentConfig:
    """How often and how strongly training images are made to look like read photos."""

    probability: float = 0.0  # share of each batch that is changed
    scale: tuple[float, float] = (0.75, 1.08)  # size of the product relative to a perfect trim
    shift: float = 0.08  # largest position error, as a share of the side
    rotate: float = 6.0  # largest tilt, degrees
    mask_error: float = 0.5  # probability of an eroded or dilated mask edge
    shadow: float = 0.25  # probability of a leftover shadow or background blob
    blur: float = 0.4  # probability of blur (or sharpening) ...
    lowres: float = 0.2  # ... of resolution loss ...
    noise: float = 0.3  # ... and of noise inside the product

    def __post_init__(self) -> None:
        """Check every field."""
        for name in ("probability", "mask_error", "shadow", "blur", "lowres", "noise", "shift"):
            value = getattr(self, name)
            if type(value) not in (int, float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
            object.__setattr__(self, name, float(value))
        if type(self.rotate) not in (int, float) or not 0.0 <= self.rotate <= 45.0:
            raise ValueError(f"rotate must be 0..45 degrees, got {self.rotate!r}")
        object.__setattr__(self, "rotate", float(self.rotate))
        scale = tuple(self.scale)
        if len(scale) != 2 or not 0.1 <= scale[0] <= scale[1] <= 2.0:
            raise ValueError(f"scale must be (low, high) with 0.1 <= low <= high <= 2, got {self.scale!r}")
        object.__setattr__(self, "scale", (float(scale[0]), float(scale[1])))

    @property
    def enabled(self) -> bool:
        """True when some images are changed."""
        return self.probability > 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        d = asdict(self)
        d["scale"] = list(self.scale)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhotoAugmentConfig:
        """Inverse of to_dict; unknown keys or bad values raise ValueError."""
        reject_unknown_keys(cls, data, "photo augmentation")
        return cls(**data)


def _rand(n: int, generator: torch.Generator, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """(n, 1, 1, 1) uniform floats in [low, high)."""
    return low + (high - low) * torch.rand((n, 1, 1, 1), generator=generator)


def _chance(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """(n, 1, 1, 1) booleans, each True with probability p."""
    return torch.rand((n, 1, 1, 1), generator=generator) < p


def photo_augment(x: torch.Tensor, cfg: PhotoAugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """A copy of a uint8 (N, 1, H, W) batch in which a random share of images looks like a read photo."""
    if x.ndim != 4 or x.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 (N, C, H, W) tensor, got {x.dtype} of shape {tuple(x.shape)}")
    chosen = torch.rand(len(x), generator=generator) < cfg.probability
    if not cfg.enabled or not chosen.any():
        return x.clone()
    out = x.clone()
    out[chosen] = _as_photo(x[chosen].float() / 255, cfg, generator).mul(255).round_().to(torch.uint8)
    return out


def _as_photo(x: torch.Tensor, cfg: PhotoAugmentConfig, g: torch.Generator) -> torch.Tensor:
    """The chain of photo effects on floats 0..1."""
    n = len(x)
    mask = (x > _rand(n, g, 0.02, 0.12)).float()
    mask = _mask_error(mask, cfg.mask_error, g)
    x = _remap(x, mask, g)
    if cfg.shadow:
        x = _leftover(x, mask, cfg.shadow, g)
    x = _blur_or_sharpen(x, cfg.blur, g)
    if cfg.noise:
        x = x + torch.randn(x.shape, generator=g) * _rand(n, g, 0.0, 0.06) * _chance(n, cfg.noise, g) * mask
    x = _lowres(x, cfg.lowres, g)
    return _place(x.clamp(0, 1), cfg, g)


def _where(chosen: torch.Tensor, x: torch.Tensor, change) -> torch.Tensor:
    """x with change() applied to the images where chosen (N booleans) is True; others untouched."""
    if not chosen.any():
        return x
    out = x.clone()
    out[chosen] = change(x[chosen])
    return out


def _mask_error(mask: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Some masks lose a pixel at their edge (eroded), some gain one (dilated)."""
    pick = torch.rand(len(mask), generator=g)
    mask = _where(pick < p / 2, mask, lambda m: -F.max_pool2d(-m, 3, 1, 1))
    return _where((pick >= p / 2) & (pick < p), mask, lambda m: F.max_pool2d(m, 3, 1, 1))


def _remap(x: torch.Tensor, mask: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Product intensities as a photo's colours and lighting give them; the background stays black."""
    n = len(x)
    kind = torch.multinomial(torch.tensor(_REMAP_WEIGHTS), n, replacement=True, generator=g)
    gamma = torch.exp(_rand(n, g, -0.7, 0.7))
    level = _rand(n, g, 0.25, 1.0)
    ref = _rand(n, g, 0.2, 0.8)
    changes = {
        1: lambda v, s: v.clamp_min(1e-4) ** gamma[s],
        2: lambda v, s: (1.0 - v) * level[s],
        3: lambda v, s: level[s] + 0.15 * (v - 0.5),
        4: lambda v, s: (v - ref[s]).abs() / torch.maximum(ref[s], 1 - ref[s]),
    }
    x = x.clone()
    for k, change in changes.items():
        chosen = kind == k
        if chosen.any():
            x[chosen] = change(x[chosen], chosen)
    return (x * _rand(n, g, 0.45, 1.25)).clamp(0, 1) * mask


def _leftover(x: torch.Tensor, mask: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """A faint, soft blob next to the product: a shadow or background the mask kept."""
    n = len(x)
    dy, dx = (torch.randint(-3, 4, (2,), generator=g)).tolist()
    blob = F.avg_pool2d(torch.roll(mask, shifts=(dy, dx), dims=(2, 3)), 5, 1, 2)
    level = _rand(n, g, 0.05, 0.4) * _chance(n, p, g)
    return torch.maximum(x, blob * level * (1 - mask))


def _blur_or_sharpen(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Blend with a 3×3 blur: towards it (soft photo) or away from it (sharpened), per image."""
    n = len(x)
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]).view(1, 1, 3, 3) / 16
    blurred = F.conv2d(x, kernel, padding=1)
    amount = _rand(n, g, -0.6, 1.0) * _chance(n, p, g)
    return x + amount * (blurred - x)


def _lowres(x: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Some images lose resolution: down to 14–22 pixels and back (one size per batch)."""
    n, _, h, w = x.shape
    side = int(torch.randint(14, 23, (1,), generator=g))
    small = F.interpolate(x, size=(side, side * w // h), mode="area")
    back = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return torch.where(_chance(n, p, g), back, x)


def _place(x: torch.Tensor, cfg: PhotoAugmentConfig, g: torch.Generator) -> torch.Tensor:
    """The trim's error: the product a little smaller or larger, tilted and off-centre, black around it."""
    n = len(x)
    scale = _rand(n, g, *cfg.scale).view(n)
    angle = (torch.rand(n, generator=g) * 2 - 1) * (cfg.rotate * torch.pi / 180)
    shift = (torch.rand((n, 2), generator=g) * 2 - 1) * cfg.shift * 2  # affine_grid spans -1..1
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
