"""A merchant's small folder, rendered: colour photos of a few distinct-looking products (cap, scarf, tote).

Not Fashion-MNIST garments: these stand for a shop's own categories, to measure what the default preset does
with 60 photos per class. Each photo: a product silhouette in a clothing colour with soft shading, anywhere in
the frame at 45–85 % of its size, turned up to ±20°, on a light studio background (plain, gradient or
textured), with noise and JPEG. The same seed always gives the same photo.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from shoplens.data.procedural import encode_jpeg, fabric, gradient, hex_to_rgb, rotate_expanded, to_uint8

SIZE = 256  # the product is drawn on a SIZE × SIZE mask, then scaled and placed
COLOURS = {  # the garment colours drawn, with the clothing-colour name a person would give each
    "#1F2A44": "navy",
    "#7A1F2B": "burgundy",
    "#2E5E3A": "green",
    "#C8A165": "beige",
    "#B0413E": "red",
    "#3B6EA5": "blue",
    "#6B4F3A": "brown",
    "#8E8E8E": "grey",
    "#D9822B": "orange",
}


def _cap(mask: np.ndarray) -> None:
    """A baseball cap from the side: a dome and a brim."""
    cv2.ellipse(mask, (118, 150), (80, 70), 0, 180, 360, 1.0, -1)
    cv2.ellipse(mask, (175, 152), (70, 14), 0, 0, 360, 1.0, -1)


def _scarf(mask: np.ndarray) -> None:
    """A scarf hanging in a U, fringed ends."""
    cv2.ellipse(mask, (128, 70), (70, 40), 0, 0, 180, 1.0, 26)
    for x in (58, 198):
        cv2.rectangle(mask, (x - 13, 70), (x + 13, 215), 1.0, -1)
        for k in range(-10, 12, 5):
            cv2.line(mask, (x + k, 215), (x + k, 236), 1.0, 2)


def _tote(mask: np.ndarray) -> None:
    """A tote bag: a trapezoid body and two strap loops."""
    body = np.array([[56, 110], [200, 110], [220, 232], [36, 232]], np.int32)
    cv2.fillPoly(mask, [body], 1.0)
    for cx in (100, 156):
        cv2.ellipse(mask, (cx, 110), (22, 70), 0, 180, 360, 1.0, 7)


SHAPES: dict[str, Callable[[np.ndarray], None]] = {"cap": _cap, "scarf": _scarf, "tote": _tote}


def render_product(kind: str, seed: int) -> bytes:
    """One JPEG photo of a product of this kind."""
    return render_product_coloured(kind, seed)[0]


def render_product_coloured(kind: str, seed: int) -> tuple[bytes, str]:
    """One JPEG photo of a product of this kind, and the name of the colour it was drawn in."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((SIZE, SIZE), np.float32)
    SHAPES[kind](mask)
    mask = rotate_expanded(mask, float(rng.uniform(-20, 20)))
    height, width = (int(v) for v in rng.integers(180, 360, 2))
    scale = rng.uniform(0.45, 0.85) * min(height, width) / max(mask.shape)
    mask = cv2.resize(mask, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    background = _background(height, width, rng)
    drawn = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    colour = hex_to_rgb(drawn) * rng.uniform(0.85, 1.1)
    top, left = (
        int(rng.integers(0, max(1, limit - side + 1))) for limit, side in zip((height, width), mask.shape)
    )
    shade = gradient(*mask.shape, rng, colour * 0.8, np.clip(colour * 1.15, 0, 1))
    region = background[top : top + mask.shape[0], left : left + mask.shape[1]]
    alpha = cv2.GaussianBlur(mask, (3, 3), 0)[..., None]
    region[:] = region * (1 - alpha) + shade * alpha
    photo = np.clip(background + rng.normal(0, 0.015, background.shape), 0, 1)
    return encode_jpeg(to_uint8(photo), int(rng.integers(70, 95))), COLOURS[drawn]


def _background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A light studio background: plain, a gradient, or a pale fabric."""
    base = rng.uniform(0.86, 0.98, 3).astype(np.float32)
    kind = int(rng.integers(3))
    if kind == 0:
        return np.broadcast_to(base, (height, width, 3)).copy()
    if kind == 1:
        return gradient(height, width, rng, base, np.clip(base - rng.uniform(0.04, 0.12), 0, 1))
    return 0.7 * base + 0.3 * fabric(height, width, rng, base)


def write_folder(root: Path, per_class: int, seed: int) -> Path:
    """A folder with one sub-folder of per_class JPEG photos per product kind (the layout `--folder` reads)."""
    for c, kind in enumerate(SHAPES):
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (root / kind / f"{i:03d}.jpg").write_bytes(
                render_product(kind, seed * 1_000_003 + c * 10_007 + i)
            )
    return root
