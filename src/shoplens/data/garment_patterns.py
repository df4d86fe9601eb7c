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
LIGHTNESS = {name: float(luma(255 * hex_to_rgb(value))) / 255 for name, value in PALETTE.items()}


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
        if kind == "striped":
            angle = float(rng.choice([0.0, 90.0, 45.0, -45.0]))
            across = (np.cos(np.radians(angle)) * yy + np.sin(np.radians(angle)) * xx) / period
            cover = ((across % 1) < rng.uniform(0.3, 0.6)).astype(np.float32)
            meta["stripe_angle"] = angle
        elif kind == "checked":
            bands = rng.uniform(0.3, 0.5)
            cover = 0.5 * (((yy / period) % 1) < bands) + 0.5 * (((xx / period) % 1) < bands)
        else:
            radius = rng.uniform(0.15, 0.3)
            cover = (np.hypot((yy / period) % 1 - 0.5, (xx / period) % 1 - 0.5) <= radius).astype(np.float32)
        meta["pattern_period"] = float(period / size)
    cover = cv2.GaussianBlur(cover.astype(np.float32), (0, 0), max(0.5, size / 400))  # printed, not aliased
    meta["second_colour"] = second
    paint = first + (hex_to_rgb(PALETTE[second]) - first) * cover[..., None]
    return np.clip(paint * shade, 0, 1).astype(np.float32)
