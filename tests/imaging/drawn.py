"""Product photos drawn for the reader's tests: garment silhouettes on backgrounds, JPEG round trips."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def shirt_mask(h: int, w: int, top: int, left: int, side: int) -> np.ndarray:
    """A T-shirt silhouette of the given size placed in an (h, w) frame."""
    pts = np.array([[0.3, 0], [0.7, 0], [1, 0.2], [0.85, 0.35], [0.78, 0.3], [0.78, 1], [0.22, 1], [0.22, 0.3],
                    [0.15, 0.35], [0, 0.2]])  # fmt: skip
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [(pts * side + [left, top]).astype(np.int32)], 1)
    return mask > 0


def trousers_mask(h: int, w: int, top: int, left: int, side: int) -> np.ndarray:
    """Trousers: two legs under a waistband, side tall and 0.4 side wide."""
    pts = np.array([[0.3, 0], [0.7, 0], [0.7, 1], [0.53, 1], [0.5, 0.35], [0.47, 1], [0.3, 1]])
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [(pts * side + [left, top]).astype(np.int32)], 1)
    return mask > 0


def shoe_mask(h: int, w: int, left: int, top: int, side: int, mirrored: bool = False) -> np.ndarray:
    """A sneaker-like silhouette (sole, toe cap, ankle collar) side wide, placed at (left, top)."""
    pts = np.array([[0, 1], [0, 0.55], [0.3, 0.5], [0.45, 0.1], [0.75, 0], [0.8, 0.45], [1, 0.6], [1, 1]])
    if mirrored:
        pts[:, 0] = 1 - pts[:, 0]
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [(pts * [side, side * 0.5] + [left, top]).astype(np.int32)], 1)
    return mask > 0


def photo(background: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> Image.Image:
    """An RGB photo: the background with the masked product painted in a colour."""
    rgb = background.copy()
    rgb[mask] = colour
    return Image.fromarray(rgb.astype(np.uint8))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two masks."""
    return float((a & b).sum() / max((a | b).sum(), 1))


def jpeg(img: Image.Image) -> Image.Image:
    """The photo after a JPEG round trip at quality 85, as a shop's upload would be."""
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=85)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def bricks(h: int, w: int, mortar: int = 2) -> np.ndarray:
    """Grey bricks in courses offset by half a brick, with light mortar lines between them."""
    wall = np.full((h, w, 3), 125.0)
    wall[np.arange(h) % 18 < mortar] = 225  # bed joints
    for top in range(0, h, 18):
        offset = 20 if (top // 18) % 2 else 0
        wall[top : top + 18, [x for x in range(w) if (x + offset) % 40 < mortar]] = 225  # head joints
    return wall
