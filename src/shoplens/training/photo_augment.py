"""Photo-domain augmentation: make 28×28 training images look like real photos after shoplens.imaging.photo.

Batched tensor operations on a random share of each uint8 (N, 1, H, W) batch. Each chosen garment is
"photographed" — given a colour and a look (shaded as Fashion-MNIST's darkness, lit, flat or patterned), an
opacity edge and a light, mid-grey or dark background — and read back the way shoplens.imaging.photo does
(the product's departure from the background, either way). Then what reading a real photo adds: an
imperfect mask (eroded, dilated, a leftover shadow), lens blur or sharpening, noise, resolution loss, and
the trim's scale, tilt and position error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from shoplens.fields import reject_unknown_keys

LOOKS = ("zalando", "lit", "flat", "pattern")
_LOOK_WEIGHTS = (0.4, 0.25, 0.15, 0.2)
_BACKGROUND_WEIGHTS = (0.5, 0.25, 0.25)  # light, mid-grey, dark


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


def uniform_draws(
    n: int, g: torch.Generator, low: float = 0.0, high: float = 1.0, device: torch.device | None = None
) -> torch.Tensor:
    """(n, 1, 1, 1) uniform floats in [low, high), drawn from g (on the CPU) and moved to device."""
    return (low + (high - low) * torch.rand((n, 1, 1, 1), generator=g)).to(device)


def _chance(n: int, p: float, g: torch.Generator, device: torch.device | None = None) -> torch.Tensor:
    """(n, 1, 1, 1) booleans, each True with probability p."""
    return (torch.rand((n, 1, 1, 1), generator=g) < p).to(device)


def photo_augment(x: torch.Tensor, cfg: PhotoAugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """A copy of a uint8 (N, 1, H, W) batch in which a random share of images looks like a read photo.

    The batch may live on any device: the random draws come from `generator` on the CPU (so a seed gives the
    same photos everywhere) and the arithmetic runs where the batch is.
    """
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
    n, device = len(x), x.device
    x, mask = _photograph(x, g)
    kept = _mask_error(mask, cfg.mask_error, g)
    x = x * F.avg_pool2d(kept, 3, 1, 1).clamp(min=kept)  # black outside the (soft-edged) mask
    x = _where(_chance(n, cfg.shadow, g).view(n), torch.cat([x, kept], 1), lambda v: _leftover(v, g))[:, :1]
    x = _where(_chance(n, cfg.blur, g).view(n), x, lambda v: _blur_or_sharpen(v, g))
    noisy = _chance(n, cfg.noise, g).view(n)
    x = _where(
        noisy,
        x,
        lambda v: (
            v
            + torch.randn(v.shape, generator=g).to(device)
            * uniform_draws(len(v), g, 0.0, 0.06, device)
            * (v > 0)
        ),
    )
    x = _where(_chance(n, cfg.lowres, g).view(n), x, lambda v: _lowres(v, g))
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


def _photograph(x: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(what reading back a photo of each garment gives, its product mask), both (N, 1, H, W) floats."""
    n, device = len(x), x.device
    soft = _chance(n, 0.5, g, device)
    alpha = torch.where(
        soft,
        (x * uniform_draws(n, g, 1.5, 5.0, device)).clamp(0, 1),
        ((x - uniform_draws(n, g, 0.02, 0.15, device)) / uniform_draws(n, g, 0.02, 0.1, device) + 0.5).clamp(
            0, 1
        ),
    )
    look = _look(x, g)
    kind = torch.multinomial(torch.tensor(_BACKGROUND_WEIGHTS), n, replacement=True, generator=g)
    kind = kind.view(n, 1, 1, 1).to(device)
    light, mid, dark = (
        uniform_draws(n, g, 0.75, 1.0, device),
        uniform_draws(n, g, 0.3, 0.7, device),
        uniform_draws(n, g, 0.0, 0.2, device),
    )
    bg = torch.where(kind == 0, light, torch.where(kind == 1, mid, dark))
    photo = bg * (1 - alpha) + look * alpha
    darker = (bg - photo) / bg.clamp_min(0.25)
    lighter = (photo - bg) / (1 - bg).clamp_min(0.25)
    read = torch.maximum(darker, lighter).clamp(0, 1)
    mask = (alpha > 0.5).float()
    level = (read * mask).amax(dim=(2, 3), keepdim=True)  # faint products are brightened, as the reader does
    gain = torch.where(level < 0.35, (0.5 / level.clamp_min(0.125)).clamp(max=4.0), torch.ones_like(level))
    lost = level < 0.12  # a garment the colour of its background: the reader would not find it either
    return torch.where(lost, x, (read * gain).clamp(0, 1)), torch.where(lost, (x > 0.05).float(), mask)


def _look(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The garment's lightness 0..1 in the photo: a colour shaded, lit, flat or patterned."""
    n, _, h, w = x.shape
    device = x.device
    colour, other = uniform_draws(n, g, 0.03, 0.97, device), uniform_draws(n, g, 0.0, 1.0, device)
    detail = x / x.amax(dim=(2, 3), keepdim=True).clamp_min(1e-3)
    detail = torch.where(_chance(n, 0.5, g, device), 1 - detail, detail)
    period = torch.randint(2, 7, (n, 1, 1, 1), generator=g).to(device)
    ys = torch.arange(h, device=device).view(1, 1, h, 1)
    xs = torch.arange(w, device=device).view(1, 1, 1, w)
    vertical = _chance(n, 0.5, g, device)
    stripes = torch.where(vertical, (xs // period) % 2 == 0, ((xs + ys) // period) % 2 == 0)
    looks = torch.stack(
        [
            1
            - x ** torch.exp(uniform_draws(n, g, -0.5, 0.4, device))
            * (1 - colour),  # Fashion-MNIST's value is darkness
            colour * (uniform_draws(n, g, 0.5, 0.8, device) + uniform_draws(n, g, 0.2, 0.5, device) * detail),
            colour.expand(n, 1, h, w),
            torch.where(stripes, colour, other) * (0.75 + 0.25 * x),
        ]
    )
    pick = torch.multinomial(torch.tensor(_LOOK_WEIGHTS), n, replacement=True, generator=g).to(device)
    return looks[pick, torch.arange(n, device=device)]


def _leftover(x_and_mask: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A faint, soft blob next to the product: a shadow or background the mask kept (channel 1 is the mask)."""
    x, mask = x_and_mask[:, :1], x_and_mask[:, 1:]
    dy, dx = (torch.randint(-3, 4, (2,), generator=g)).tolist()
    blob = F.avg_pool2d(torch.roll(mask, shifts=(dy, dx), dims=(2, 3)), 5, 1, 2)
    return torch.cat(
        [torch.maximum(x, blob * uniform_draws(len(x), g, 0.05, 0.4, x.device) * (1 - mask)), mask], 1
    )


def _blur_or_sharpen(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Blend with a 3×3 blur: towards it (soft photo) or away from it (sharpened), per image."""
    kernel = (
        torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], device=x.device).view(1, 1, 3, 3)
        / 16
    )
    return x + uniform_draws(len(x), g, -0.6, 1.0, x.device) * (F.conv2d(x, kernel, padding=1) - x)


def _lowres(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Resolution loss: down to 14–22 pixels and back (one size per batch)."""
    _, _, h, w = x.shape
    side = int(torch.randint(14, 23, (1,), generator=g))
    small = F.interpolate(x, size=(side, side * w // h), mode="area")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def _place(x: torch.Tensor, cfg: PhotoAugmentConfig, g: torch.Generator) -> torch.Tensor:
    """The trim's error: the product a little smaller or larger, tilted and off-centre, black around it."""
    n = len(x)
    scale = uniform_draws(n, g, *cfg.scale).view(n)
    angle = (torch.rand(n, generator=g) * 2 - 1) * (cfg.rotate * torch.pi / 180)
    shift = (torch.rand((n, 2), generator=g) * 2 - 1) * cfg.shift * 2  # affine_grid spans -1..1
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
