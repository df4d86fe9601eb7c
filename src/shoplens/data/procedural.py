"""Procedural pictures for evaluation sets: smooth noise, gradients, fabric, wood and paper, and encoding.

Every function takes a numpy Generator and returns float32 RGB in 0..1 (display, i.e. gamma-encoded, values)
of shape (height, width, 3), so the same seed always gives the same picture. Used by the shop-photo and
"not a product" benchmark sets; not by training.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

ORIENTATION_TAG = 0x0112
# How to store an upright picture so that a decoder applying EXIF Orientation turns it upright again.
_STORE_ROTATED = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class EncodedPhoto:
    """An encoded image file as a user would upload it, with what is known about it."""

    data: bytes
    meta: dict[str, Any] = field(default_factory=dict)


def hex_to_rgb(value: str) -> np.ndarray:
    """'#RRGGBB' as float32 RGB in 0..1."""
    value = value.lstrip("#")
    return np.array([int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)], dtype=np.float32)


def rgb_to_hex(rgb: np.ndarray) -> str:
    """Float 0..1 RGB as '#RRGGBB'."""
    return "#" + "".join(f"{int(np.clip(round(float(v) * 255), 0, 255)):02X}" for v in rgb)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float 0..1 pixels as uint8, rounded and clipped."""
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


def smooth_noise(
    height: int, width: int, rng: np.random.Generator, cells: float, octaves: int = 4
) -> np.ndarray:
    """Fractal value noise (height, width) in 0..1, `cells` random values across the longer side at first."""
    total = np.zeros((height, width), np.float32)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        n = max(2, round(cells * 2**octave))
        grid = rng.random(
            (
                max(2, round(n * height / max(height, width))) + 1,
                max(2, round(n * width / max(height, width))) + 1,
            )
        )
        total += amplitude * cv2.resize(
            grid.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
        )
        norm += amplitude
        amplitude *= 0.5
    total /= norm
    lo, hi = np.percentile(total[:: max(1, height // 64), :: max(1, width // 64)], (1, 99))
    return np.clip((total - lo) / max(hi - lo, 1e-6), 0, 1)


def blend(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-pixel mix of colours a and b (RGB) by t (height, width) in 0..1."""
    return a + (b - a) * t[..., None]


def linear_ramp(height: int, width: int, angle: float) -> np.ndarray:
    """A ramp from 0 to 1 across the picture along `angle` (radians)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    along = np.cos(angle) * x / max(width - 1, 1) + np.sin(angle) * y / max(height - 1, 1)
    return (along - along.min()) / max(float(along.max() - along.min()), 1e-6)


def radial_ramp(height: int, width: int, centre: tuple[float, float]) -> np.ndarray:
    """Distance from `centre` (fractions of width, height), 0 at the centre and 1 at the farthest corner."""
    y, x = np.ogrid[0:height, 0:width]
    dist = np.hypot(
        (x / max(width - 1, 1) - centre[0]) * width, (y / max(height - 1, 1) - centre[1]) * height
    )
    return (dist / max(float(dist.max()), 1e-6)).astype(np.float32)


def gradient(height: int, width: int, rng: np.random.Generator, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Linear (two thirds of the time) or radial gradient from colour c0 to c1."""
    if rng.random() < 2 / 3:
        t = linear_ramp(height, width, rng.uniform(0, 2 * np.pi))
    else:
        t = radial_ramp(height, width, (rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)))
    return blend(c0, c1, t)


def fabric(height: int, width: int, rng: np.random.Generator, colour: np.ndarray) -> np.ndarray:
    """Woven cloth: warp and weft threads with uneven yarn, a fold or two of shading, in `colour`."""
    period = rng.uniform(3, 12) * max(height, width) / 800 + 2
    angle = rng.uniform(-0.3, 0.3)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
    wobble = smooth_noise(height, width, rng, 40, 2) * 2 - 1
    warp = 0.5 + 0.5 * np.sin(2 * np.pi * (u / period + 0.3 * wobble))
    weft = 0.5 + 0.5 * np.sin(2 * np.pi * (v / period - 0.3 * wobble))
    weave = 0.5 * (warp + weft) + 0.15 * (rng.random((height, width), dtype=np.float32) - 0.5)
    folds = smooth_noise(height, width, rng, rng.uniform(1.5, 4), 2)
    shade = (1 - rng.uniform(0.08, 0.25) * (weave - 0.5) * 2) * (1 - rng.uniform(0.05, 0.3) * folds)
    return np.clip(colour * shade[..., None], 0, 1)


WOOD_COLOURS = ("#E3C192", "#C9965E", "#A0683A", "#6E4226", "#4A2C1A", "#D7C2A3")


def wood(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Wooden boards: growth rings distorted by noise, planks of slightly different tone."""
    base = hex_to_rgb(str(rng.choice(WOOD_COLOURS)))
    dark = base * rng.uniform(0.55, 0.8)
    vertical = rng.random() < 0.5
    across = width if vertical else height
    plank = across / rng.integers(2, 7)
    distort = smooth_noise(height, width, rng, rng.uniform(2, 6), 3)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pos = x if vertical else y
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (pos / (plank * rng.uniform(0.05, 0.2)) + 1.5 * distort))
    grain = smooth_noise(height, width, rng, 200, 1)
    t = np.clip(0.7 * rings**3 + 0.3 * grain, 0, 1)
    planks = np.floor(pos / plank).astype(np.int64)
    tone = 1 + rng.uniform(-0.12, 0.12, planks.max() + 1).astype(np.float32)[planks]
    seams = (np.abs(pos - (planks + 0.5) * plank) > plank / 2 - max(1.0, across / 400)).astype(np.float32)
    return np.clip(blend(base, dark, t) * (tone * (1 - 0.6 * seams))[..., None], 0, 1)


def noise_texture(
    height: int, width: int, rng: np.random.Generator, c0: np.ndarray, c1: np.ndarray
) -> np.ndarray:
    """Cloudy fractal noise (concrete, plaster, felt) between two colours."""
    t = smooth_noise(height, width, rng, rng.uniform(3, 30), int(rng.integers(3, 6)))
    return blend(c0, c1, t)


PAPER_COLOURS = ("#F5F2EA", "#EDE6D6", "#F8F8F5", "#C8A97E", "#B89467", "#E8E4DA")


def paper(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Paper or card: a light or kraft tone, fine fibres, speckles and a soft crumple."""
    base = hex_to_rgb(str(rng.choice(PAPER_COLOURS)))
    fibres = smooth_noise(height, width, rng, rng.uniform(100, 300), 2)
    crumple = smooth_noise(height, width, rng, rng.uniform(2, 8), 4)
    speck = (rng.random((height, width), dtype=np.float32) < 0.002) * rng.uniform(0.1, 0.4)
    shade = 1 - 0.06 * (fibres - 0.5) - rng.uniform(0.02, 0.12) * crumple - speck
    return np.clip(base * shade[..., None], 0, 1)


TEXTURES: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "fabric": lambda h, w, rng: fabric(h, w, rng, rng.uniform(0.25, 0.85, 3).astype(np.float32)),
    "wood": wood,
    "noise": lambda h, w, rng: noise_texture(h, w, rng, rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3)),
    "paper": paper,
}


def rotate_expanded(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre, growing the canvas so nothing is cut (new area 0)."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    m[:, 2] += ((nw - w) / 2, (nh - h) / 2)
    return cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)


def paste_clipped(canvas: np.ndarray, patch: np.ndarray, left: int, top: int) -> None:
    """Copy patch into canvas at (left, top), clipping whatever falls outside."""
    h, w = canvas.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(w, left + patch.shape[1]), min(h, top + patch.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = patch[y0 - top : y1 - top, x0 - left : x1 - left]


CUT_SIDES = ("left", "right", "top", "bottom", "corner")


def cut_by_frame(
    alpha: np.ndarray, h: int, w: int, shares: tuple[float, float], rng: np.random.Generator
) -> tuple[int, int, str, float]:
    """(top, left) for a layer that leaves a share of its alpha outside an (h, w) photo, the side, and that share."""
    side = str(rng.choice(CUT_SIDES))
    target = float(rng.uniform(*shares))
    per_axis = 1 - np.sqrt(1 - target) if side == "corner" else target  # a corner cuts along both axes
    rows, cols = np.nonzero(alpha > 0.5)

    def past(mass: np.ndarray, start: bool) -> int:
        """How many of the layer's lines, counted from its start (or its end), hold `per_axis` of the mass."""
        cum = np.cumsum(mass if start else mass[::-1]) / max(float(mass.sum()), 1e-6)
        return int(np.searchsorted(cum, per_axis)) + 1

    def place(extent: int, mass: np.ndarray, used: np.ndarray, start: bool | None) -> int:
        """The layer's offset along one axis: cut from its start or end, or whole and anywhere (start None)."""
        if start is None:
            return int(rng.integers(0, max(1, extent - (used.max() - used.min() + 1)))) - int(used.min())
        return -past(mass, True) if start else extent - (len(mass) - past(mass, False))

    from_top, from_left = bool(rng.random() < 0.5), bool(rng.random() < 0.5)  # which corner
    vertical = {"top": True, "bottom": False, "corner": from_top}.get(side)
    horizontal = {"left": True, "right": False, "corner": from_left}.get(side)
    top = place(h, alpha.sum(1), rows, vertical)
    left = place(w, alpha.sum(0), cols, horizontal)
    inside = np.zeros((h, w), np.float32)
    paste_clipped(inside, alpha, left, top)
    return top, left, side, 1 - float(inside.sum()) / max(float(alpha.sum()), 1e-6)


def encode_jpeg(rgb: np.ndarray, quality: int, orientation: int = 1) -> bytes:
    """JPEG bytes of an upright uint8 picture; orientation 3/6/8 stores it turned, with the EXIF tag set."""
    img = Image.fromarray(rgb)
    buf = io.BytesIO()
    if orientation == 1:
        img.save(buf, "JPEG", quality=quality)
    else:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        img.transpose(_STORE_ROTATED[orientation]).save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def encode_png(img: np.ndarray | Image.Image) -> bytes:
    """PNG bytes of a uint8 picture (grey, RGB or RGBA)."""
    buf = io.BytesIO()
    (img if isinstance(img, Image.Image) else Image.fromarray(img)).save(buf, "PNG", compress_level=1)
    return buf.getvalue()
