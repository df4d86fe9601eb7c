"""Shop-style photos rendered from 28×28 light-on-dark garment images, for training and calibration only.

Backgrounds light, mid, dark, gradient and textured; garments coloured, shaded, patterned or flat, at any
scale and place; drop shadows, lighting, blur, noise and JPEG. Never fed with test images: it stands in for
the photos merchants upload, so that what the model learns and how it is calibrated covers them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

# sRGB 0..1 colours of real clothing, from white to black, drawn from when a garment is coloured.
CLOTHING_COLOURS: dict[str, tuple[float, float, float]] = {
    "white": (0.96, 0.96, 0.95),
    "cream": (0.95, 0.91, 0.80),
    "beige": (0.84, 0.76, 0.62),
    "light grey": (0.75, 0.75, 0.76),
    "grey": (0.50, 0.50, 0.52),
    "charcoal": (0.22, 0.23, 0.25),
    "black": (0.06, 0.06, 0.07),
    "navy": (0.11, 0.15, 0.33),
    "blue": (0.17, 0.38, 0.75),
    "denim": (0.30, 0.42, 0.58),
    "light blue": (0.62, 0.76, 0.90),
    "red": (0.78, 0.12, 0.15),
    "burgundy": (0.45, 0.08, 0.15),
    "pink": (0.95, 0.62, 0.72),
    "orange": (0.93, 0.48, 0.13),
    "yellow": (0.96, 0.84, 0.25),
    "khaki": (0.66, 0.62, 0.42),
    "olive": (0.38, 0.40, 0.18),
    "green": (0.15, 0.50, 0.28),
    "brown": (0.42, 0.26, 0.15),
    "purple": (0.42, 0.23, 0.55),
}
_COLOURS = np.array(list(CLOTHING_COLOURS.values()), dtype=np.float32)
_BACKGROUNDS = ("white", "light", "mid", "dark", "gradient", "texture")
_BACKGROUND_WEIGHTS = (0.26, 0.14, 0.13, 0.14, 0.16, 0.17)
_UPSCALE = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4, cv2.INTER_NEAREST)


@dataclass(frozen=True)
class RenderedPhoto:
    """An RGB uint8 photo, the garment's true mask in it, and how it was made."""

    rgb: np.ndarray
    mask: np.ndarray
    background: str
    jpeg_quality: int | None
    style: str = ""  # how the garment was drawn (zalando, shade, flat, pattern)

    def encode(self) -> bytes:
        """The photo as the file a merchant would upload (JPEG at its quality, else PNG)."""
        buf = io.BytesIO()
        img = Image.fromarray(self.rgb)
        if self.jpeg_quality:
            img.save(buf, "JPEG", quality=self.jpeg_quality)
        else:
            img.save(buf, "PNG")
        return buf.getvalue()


def value_noise(
    shape: tuple[int, int], rng: np.random.Generator, cells: float, octaves: int = 3
) -> np.ndarray:
    """Smooth random field in about [-1, 1]: coarse random grids upsampled and summed over octaves."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    amp, total = 1.0, 0.0
    for octave in range(octaves):
        n = max(2, int(cells * 2**octave))
        grid = rng.uniform(-1, 1, (max(2, round(n * h / max(h, w))), max(2, round(n * w / max(h, w)))))
        out += amp * cv2.resize(grid.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
    return out / total


def ramp(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A linear ramp 0..1 across the image in a random direction."""
    h, w = shape
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.cos(angle) * xx / max(w, 1) + np.sin(angle) * yy / max(h, 1)
    return (t - t.min()) / max(float(t.max() - t.min()), 1e-6)


def _grey_or_tint(level: float, rng: np.random.Generator, tint: float) -> np.ndarray:
    """A colour of the given lightness, grey or slightly tinted."""
    return np.clip(level + rng.normal(0, tint, 3), 0, 1).astype(np.float32)


def _plain_colour(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A background colour of the kind's lightness."""
    if kind == "white":
        return _grey_or_tint(rng.uniform(0.9, 1.0), rng, 0.015)
    if kind == "light":
        return _grey_or_tint(rng.uniform(0.72, 0.92), rng, 0.05)
    if kind == "mid":
        return _grey_or_tint(rng.uniform(0.32, 0.68), rng, 0.08)
    return _grey_or_tint(rng.uniform(0.0, 0.22), rng, 0.03)


def render_background(
    shape: tuple[int, int], rng: np.random.Generator, kind: str | None = None
) -> np.ndarray:
    """An (H, W, 3) float32 studio background: plain, gradient or textured."""
    kind = kind or str(rng.choice(_BACKGROUNDS, p=_BACKGROUND_WEIGHTS))
    h, w = shape
    if kind in ("white", "light", "mid", "dark"):
        return np.broadcast_to(_plain_colour(kind, rng), (h, w, 3)).copy()
    if kind == "gradient":
        a = _plain_colour(str(rng.choice(("white", "light", "mid", "dark"), p=(0.35, 0.35, 0.2, 0.1))), rng)
        b = np.clip(a + rng.normal(0, 0.15, 3).astype(np.float32) + rng.uniform(-0.3, 0.3), 0, 1)
        t = ramp(shape, rng) if rng.random() < 0.6 else _radial(shape, rng)
        return a * (1 - t[..., None]) + b * t[..., None]
    base = _plain_colour(str(rng.choice(("white", "light", "mid", "dark"), p=(0.25, 0.35, 0.25, 0.15))), rng)
    return np.clip(base * (1 + rng.uniform(0.05, 0.35) * _texture(shape, rng)[..., None]), 0, 1)


def _radial(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """0 at a random centre rising to 1 at the farthest corner (a vignette or spotlight)."""
    h, w = shape
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.hypot(yy - cy, xx - cx)
    return d / max(float(d.max()), 1e-6)


def _texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A zero-mean texture in about [-1, 1]: cloudy noise, wood-like stripes, weave or grain."""
    h, w = shape
    kind = rng.choice(("clouds", "stripes", "weave", "grain"))
    if kind == "clouds":
        return value_noise(shape, rng, cells=rng.uniform(2, 12), octaves=4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(0.01, 0.08) * max(h, w)
    if kind == "stripes":
        angle = rng.uniform(0, np.pi)
        u = np.cos(angle) * xx + np.sin(angle) * yy + 0.15 * max(h, w) * value_noise(shape, rng, 3)
        return np.sin(2 * np.pi * u / period)
    if kind == "weave":
        return 0.5 * (np.sin(2 * np.pi * xx / period) + np.sin(2 * np.pi * yy / period))
    grain = rng.normal(0, 1, shape).astype(np.float32)
    return np.clip(cv2.GaussianBlur(grain, (0, 0), rng.uniform(0.7, 2.5)) * 2.5, -1, 1)


def render_garment(
    garment: np.ndarray, side: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, str]:
    """(appearance (S, S, 3), alpha (S, S), style) of a 28×28 light-on-dark garment drawn at side S."""
    v = cv2.resize(garment.astype(np.float32) / 255, (side, side), interpolation=_pick(_UPSCALE, rng))
    v = np.clip(v, 0, 1)
    if rng.random() < 0.5:
        alpha = np.clip(v * rng.uniform(1.5, 5.0), 0, 1)
    else:
        t = rng.uniform(0.02, 0.15)
        alpha = np.clip((v - t) / rng.uniform(0.02, 0.1) + 0.5, 0, 1)
    colour = np.clip(_COLOURS[rng.integers(len(_COLOURS))] + rng.normal(0, 0.04, 3), 0, 1)
    style = rng.choice(("zalando", "shade", "flat", "pattern"), p=(0.4, 0.3, 0.15, 0.15))
    if style == "zalando":  # what Fashion-MNIST's value means: darkness of the garment on white
        d = v ** rng.uniform(0.6, 1.5)
        look = 1 - d[..., None] * (1 - colour)
    elif style == "shade":
        detail = v / max(float(v.max()), 1e-6)
        detail = 1 - detail if rng.random() < 0.5 else detail
        look = colour * (rng.uniform(0.5, 0.8) + rng.uniform(0.2, 0.5) * detail[..., None])
    elif style == "flat":
        look = colour * (1 + 0.05 * value_noise((side, side), rng, 4)[..., None])
    else:
        other = _COLOURS[rng.integers(len(_COLOURS))]
        yy, xx = np.mgrid[0:side, 0:side]
        period = max(2, int(side * rng.uniform(0.04, 0.15)))
        on = ((xx // period) % 2 == 0) if rng.random() < 0.5 else ((xx // period + yy // period) % 2 == 0)
        look = np.where(on[..., None], colour, other) * (0.75 + 0.25 * v[..., None])
    light = 1 + rng.uniform(-0.15, 0.15) * (2 * ramp((side, side), rng) - 1)
    return np.clip(look * light[..., None], 0, 1).astype(np.float32), alpha.astype(np.float32), str(style)


def _pick(options: tuple, rng: np.random.Generator):
    """One option, uniformly."""
    return options[int(rng.integers(len(options)))]


def _canvas_shape(rng: np.random.Generator, sides: tuple[int, int]) -> tuple[int, int]:
    """(H, W) of a portrait, landscape or square canvas whose long side lies in sides."""
    long = int(np.exp(rng.uniform(np.log(sides[0]), np.log(sides[1]))))
    aspect = _pick((1.0, 0.75, 0.667, 0.8, 0.5625), rng)
    short = max(16, int(long * aspect))
    return (long, short) if rng.random() < 0.5 else (short, long)


def render_photo(
    garment: np.ndarray,
    rng: np.random.Generator,
    sides: tuple[int, int] = (200, 800),
    background: str | None = None,
    fill: tuple[float, float] = (0.4, 0.95),
) -> RenderedPhoto:
    """A shop-style photo of one 28×28 light-on-dark garment image."""
    if garment.shape != (28, 28) or garment.dtype != np.uint8:
        raise ValueError(f"expected a 28x28 uint8 garment image, got {garment.dtype} {garment.shape}")
    h, w = _canvas_shape(rng, sides)
    side = max(8, int(rng.uniform(*fill) * min(h, w)))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    kind = background or str(rng.choice(_BACKGROUNDS, p=_BACKGROUND_WEIGHTS))
    canvas = render_background((h, w), rng, kind)
    look, alpha, style = render_garment(garment, side, rng)
    full_alpha = np.zeros((h, w), np.float32)
    full_alpha[top : top + side, left : left + side] = alpha
    if rng.random() < 0.5:  # a soft drop shadow on the background
        sigma = side * rng.uniform(0.01, 0.06)
        shift = np.float32([[1, 0, rng.normal(0, 0.03) * side], [0, 1, rng.uniform(0, 0.05) * side]])
        shadow = cv2.warpAffine(cv2.GaussianBlur(full_alpha, (0, 0), sigma), shift, (w, h))
        canvas *= 1 - rng.uniform(0.1, 0.45) * shadow[..., None]
    region = canvas[top : top + side, left : left + side]
    region[:] = region * (1 - alpha[..., None]) + look * alpha[..., None]
    canvas = _camera(canvas, rng)
    quality = int(rng.integers(60, 96)) if rng.random() < 0.85 else None
    return RenderedPhoto((canvas * 255 + 0.5).astype(np.uint8), full_alpha > 0.5, kind, quality, style)


def _camera(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven light, lens blur and sensor noise."""
    h, w = canvas.shape[:2]
    if rng.random() < 0.3:
        canvas = canvas * (1 + rng.uniform(-0.12, 0.12) * (2 * ramp((h, w), rng) - 1))[..., None]
    if rng.random() < 0.4:
        canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.3, 1.5) * max(h, w) / 400)
    if rng.random() < 0.5:
        canvas = canvas + rng.normal(0, rng.uniform(0.004, 0.035), canvas.shape).astype(np.float32)
    return np.clip(canvas, 0, 1)
