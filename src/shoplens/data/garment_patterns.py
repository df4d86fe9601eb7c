"""Patterns a garment is dressed in for the studio benchmark: stripes, gingham, polka dots or a chest print.

The garment's colour and a second palette colour at least MIN_CONTRAST apart in lightness, under the garment's own
shading: `striped` (across, down or at 45°, 6–16 per garment, 30–60 % of the second colour), `checked` (gingham:
bands both ways at half strength, full where they cross), `dotted` (polka dots, 5–14 per garment) and `printed`
(a block, disc or bar of the second colour, 20–40 % of the garment's width, on its upper middle).
"""

from __future__ import annotations

import cv2
import numpy as np

from shoplens.data.procedural import hex_to_rgb
from shoplens.data.shop_photos import PALETTE
from shoplens.imaging.background import luma

PATTERNS = ("striped", "checked", "dotted", "printed")  # drawn on the garment in a second colour
MIN_CONTRAST = 0.2  # lightness (luma 0..1) between a pattern's two colours, at least
CLOTHS = {
    "stripes": "striped",
    "gingham": "checked",
    "dots": "dotted",
    "blossoms": None,
}  # cloths, their pattern
PERIOD = (0.02, 0.06)  # a cloth's pattern repeats this share of the photo's longer side apart
LIGHTNESS = {name: float(luma(255 * hex_to_rgb(value))) / 255 for name, value in PALETTE.items()}


def pattern_cover(
    kind: str, yy: np.ndarray, xx: np.ndarray, period: float, rng: np.random.Generator, meta: dict
) -> np.ndarray:
    """Where the second colour lies (0..1) at pixel rows yy and columns xx: stripes, gingham or polka dots."""
    if kind == "striped":
        angle = float(rng.choice([0.0, 90.0, 45.0, -45.0]))
        across = (np.cos(np.radians(angle)) * yy + np.sin(np.radians(angle)) * xx) / period
        meta["stripe_angle"] = angle
        return ((across % 1) < rng.uniform(0.3, 0.6)).astype(np.float32)
    if kind == "checked":
        bands = rng.uniform(0.3, 0.5)
        return (0.5 * (((yy / period) % 1) < bands) + 0.5 * (((xx / period) % 1) < bands)).astype(np.float32)
    radius = rng.uniform(0.15, 0.3)
    return (np.hypot((yy / period) % 1 - 0.5, (xx / period) % 1 - 0.5) <= radius).astype(np.float32)


def draw_pattern(
    rgb: np.ndarray, alpha: np.ndarray, colour: str, kind: str, rng: np.random.Generator, meta: dict
) -> np.ndarray:
    """The shaded garment (RGB 0..1) redrawn in a pattern of its colour and a second one, its shading kept.

    The second colour and the pattern's draws are added to `meta`.
    """
    first = hex_to_rgb(PALETTE[colour])
    others = [name for name in PALETTE if abs(LIGHTNESS[name] - LIGHTNESS[colour]) >= MIN_CONTRAST]
    second = str(rng.choice(others))
    shade = rgb / np.maximum(first, 1e-3)  # the garment's shading, as garment_layers applied it
    h, w = alpha.shape
    rows, cols = np.nonzero(alpha > 0.5)
    size = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "printed":
        cy = rows.min() + rng.uniform(0.3, 0.45) * (rows.max() - rows.min())
        cx = float(cols.mean())
        half = rng.uniform(0.1, 0.2) * (cols.max() - cols.min() + 1)
        shape = str(rng.choice(["block", "disc", "bar"]))
        if shape == "disc":
            cover = (np.hypot(yy - cy, xx - cx) <= half).astype(np.float32)
        else:
            tall = half * (0.8 if shape == "block" else 0.3)
            cover = ((np.abs(yy - cy) <= tall) & (np.abs(xx - cx) <= half)).astype(np.float32)
        meta["print"] = shape
    else:
        period = size / rng.uniform(*((5, 14) if kind == "dotted" else (6, 16)))
        cover = pattern_cover(kind, yy, xx, period, rng, meta)
        meta["pattern_period"] = float(period / size)
    cover = cv2.GaussianBlur(cover.astype(np.float32), (0, 0), max(0.5, size / 400))  # printed, not aliased
    meta["second_colour"] = second
    paint = first + (hex_to_rgb(PALETTE[second]) - first) * cover[..., None]
    return np.clip(paint * shade, 0, 1).astype(np.float32)


def draw_cloth(h: int, w: int, kind: str, rng: np.random.Generator, meta: dict) -> np.ndarray:
    """(h, w, 3) float 0..1: a printed cloth to lay a garment on, in two palette colours, with soft folds.

    `kind` is one of CLOTHS: stripes, gingham or polka dots (as on garments, PERIOD of the longer side apart), or a
    print of small blossoms scattered in two or three colours. Its colours and draws are added to `meta`.
    """
    base = str(rng.choice(list(PALETTE)))
    others = [name for name in PALETTE if abs(LIGHTNESS[name] - LIGHTNESS[base]) >= MIN_CONTRAST]
    second = str(rng.choice(others))
    period = float(rng.uniform(*PERIOD)) * max(h, w)
    first_rgb, second_rgb = hex_to_rgb(PALETTE[base]), hex_to_rgb(PALETTE[second])
    if kind == "blossoms":
        cloth = np.broadcast_to(first_rgb, (h, w, 3)).copy()
        colours = [second_rgb] + [
            hex_to_rgb(PALETTE[str(rng.choice(others))]) for _ in range(int(rng.integers(0, 2)))
        ]
        for _ in range(int(h * w / period**2 * rng.uniform(0.6, 1.2))):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            r = period * rng.uniform(0.12, 0.25)
            colour = tuple(float(c) for c in colours[int(rng.integers(len(colours)))])
            for k in range(5):  # petals round a point
                a = 2 * np.pi * k / 5
                centre = (round(cx + 1.1 * r * np.cos(a)), round(cy + 1.1 * r * np.sin(a)))
                cv2.circle(cloth, centre, max(1, round(r)), colour, -1, lineType=cv2.LINE_AA)
    else:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cover = pattern_cover(CLOTHS[kind], yy, xx, period, rng, meta)
        cover = cv2.GaussianBlur(cover, (0, 0), max(0.5, period / 40))
        cloth = first_rgb + (second_rgb - first_rgb) * cover[..., None]
    folds = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), max(h, w) / 12)
    folds *= float(rng.uniform(0.03, 0.08)) / max(float(folds.std()), 1e-6)
    meta.update(cloth=kind, cloth_colours=[base, second], cloth_period=period / max(h, w))
    return np.clip(cloth * (1 + folds)[..., None], 0, 1).astype(np.float32)
