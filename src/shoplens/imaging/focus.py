"""Depth of field: in a lifestyle shot the product is in focus and the scene behind it is not.

A lifestyle shot puts the product before a real scene (a room, a street, a café table) thrown out of focus. Its
colours are no border palette and no smooth surface, so a colour mask spills into the scene's blotches; but the
scene's edges are soft and the product's are sharp. An edge is sharp where what a 1-px blur takes away is a large
share of what a 4-px blur takes away: a step blurred by 2 px keeps about a seventh of it, an unblurred one two
thirds, whatever its contrast. `sharp_hull` gives the convex hull of the sharp edges when the photo's border is
soft (nothing along it survives a 1-px blur), and nothing otherwise: a plain or sharp backdrop says nothing here.
"""

from __future__ import annotations

import cv2
import numpy as np

from shoplens.imaging.background import border_mask
from shoplens.imaging.order_stats import percentile

SOFT_BORDER = (
    2.0  # fine detail (ΔE, 90th percentile along the border) under which the backdrop is out of focus
)
SHARP_RATIO = 0.3  # an edge is sharp where its 1-px detail is at least this share of its 4-px detail ...
EDGE_CONTRAST = 6.0  # ... and its 4-px detail at least this many ΔE (flat areas and noise have none)
MIN_PART = 0.0005  # sharp parts smaller than this share of the photo are specks (noise, JPEG blocks)
HULL_GROW = 0.01  # the hull is grown by this share of the photo's longer side (an edge's own width)


def detail(lab: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) float32: ΔE between each pixel of a CIELAB image and its Gaussian blur of sigma px."""
    return np.linalg.norm(lab - cv2.GaussianBlur(lab, (0, 0), sigma), axis=-1).astype(np.float32)


def sharp_edges(lab: np.ndarray) -> np.ndarray | None:
    """(H, W) bool sharp edges of a photo (CIELAB, background.to_lab) whose border is out of focus; else None."""
    fine = detail(lab, 1.0)
    if float(percentile(fine[border_mask(fine.shape)], 90)) > SOFT_BORDER:
        return None
    coarse = detail(lab, 4.0)
    sharp = ((coarse > EDGE_CONTRAST) & (fine > SHARP_RATIO * coarse)).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(sharp, connectivity=8)
    kept = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_PART * sharp.size) + 1
    return np.isin(labels, kept)


def sharp_hull(lab: np.ndarray) -> np.ndarray | None:
    """(H, W) bool convex hull of a CIELAB photo's sharp edges, grown a little, when its backdrop is out of focus."""
    edges = sharp_edges(lab)
    if edges is None or not edges.any():
        return None
    ys, xs = np.nonzero(edges)
    hull = np.zeros(edges.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.stack([xs, ys], axis=1).astype(np.int32)), 1)
    grow = max(1, round(HULL_GROW * max(edges.shape)))
    return cv2.dilate(hull, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
