"""Parts of a product mask: cleaning it, and the rules that drop parts that are not the product.

A mask found by imaging.foreground holds the product and often more: specks, badges and price tags laid over the
photo, the soft blob a vignette leaves, a floor's seams running to the edge. Each rule here sees only the mask
(and, where it needs it, the distance to the background) and says which parts to keep.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from shoplens.imaging.background import border_mask
from shoplens.imaging.order_stats import percentile

# A part (or a whole product) whose 90th-percentile ΔE to the background is under this blends in: the pieces of
# a white garment on white, or a white garment a shade lighter than a light-grey backdrop (it departs far in luma
# for the little headroom left above it, yet little in colour). What a shop lays over a photo stands out more.
FAINT_DISTANCE = 15.0
# Strands of the mask narrower than this (px of the working copy) that run to the photo's edge are dropped.
THIN_WIDTH = 5
KEEP_SHARE = 0.08  # components smaller than this share of the largest are dropped
# A part of the mask wholly within this share of the width or of the height from one edge, smaller than
# OVERLAY_SHARE of the photo and than OVERLAY_RATIO of the largest other part, and clear of the box of the other
# parts by OVERLAY_GAP of the photo's side is laid over the photo (a "sale" badge, a logo, a watermark's letters,
# a price tag).
OVERLAY_ZONE = 0.3
OVERLAY_SHARE = 0.05
OVERLAY_RATIO = 0.5  # at most this share of the largest other part
OVERLAY_GAP = 0.01
# A part filling this share of its box (a plate, a tag) may be an overlay up to the product's own size, ...
OVERLAY_BOXY = 0.9
OVERLAY_PLATE_SHARE = 0.1  # ... and up to this share of the photo (a shop's name on a plate is wide)
# A thin strand (see THIN_WIDTH) as long as this share of the photo's side is a drawn line (a frame, a rule).
LINE_SPAN = 0.6
SOFT_EDGE_RATIO = 0.3  # parts whose outline is softer than this share of the sharpest part's are shading


@dataclass(frozen=True)
class MaskRows:
    """A mask's rows from its first to its last: the band, and where each row starts, ends and how far it spans."""

    top: int  # the first row in the mask
    band: np.ndarray  # (height, W) bool: the mask's rows top to bottom
    first: np.ndarray  # (height,) first column of each row (W where the row is empty)
    last: np.ndarray  # (height,) last column of each row (-1 where the row is empty)
    span: np.ndarray  # (height,) last - first + 1, 0 where the row is empty

    @property
    def height(self) -> int:
        """Rows from the first to the last."""
        return len(self.band)

    @property
    def widest(self) -> float:
        """The widest row's span."""
        return float(self.span.max())

    def run_from_top(self, flags: np.ndarray) -> int:
        """How many rows from the top in a row have their flag set (a post, a hook)."""
        return int(np.argmin(flags)) if not flags.all() else self.height


def upright_rows(mask: np.ndarray, min_rows: int, upright: float) -> MaskRows | None:
    """The mask's rows when it is at least min_rows tall and `upright` times its widest row; None otherwise."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) < max(min_rows, 1):
        return None
    band = mask[rows[0] : rows[-1] + 1]
    cols = np.arange(mask.shape[1])
    first = np.where(band, cols, mask.shape[1]).min(axis=1)
    last = np.where(band, cols, -1).max(axis=1)
    found = MaskRows(int(rows[0]), band, first, last, np.maximum(last - first + 1, 0))
    return found if found.height >= upright * found.widest else None


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks of one shape (0 when both are empty)."""
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the mask's True pixels, bottom and right exclusive."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def drop_thin_border_parts(mask: np.ndarray, parts: int) -> tuple[np.ndarray, int]:
    """Drop thin strands of the mask that run to the photo's edge (a floor's seams, a rail) or span most of it
    (a drawn frame or rule), and count the parts.

    Thin: `thin_strands`.
    """
    if not mask.any() or min(mask.shape) < 64:
        return mask, parts
    thin = thin_strands(mask)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(thin.astype(np.uint8), connectivity=8)
    h, w = mask.shape
    edge = border_mask(mask.shape, 0.0)
    long = (stats[:, cv2.CC_STAT_WIDTH] >= LINE_SPAN * w) | (stats[:, cv2.CC_STAT_HEIGHT] >= LINE_SPAN * h)
    strands = np.union1d(np.unique(labels[edge & thin]), np.flatnonzero(long))
    strands = strands[strands > 0]
    if not strands.size:
        return mask, parts
    cleaned, kept = clean_mask(mask & ~np.isin(labels, strands))
    return (cleaned, kept) if cleaned.any() else (mask, parts)


def thin_strands(mask: np.ndarray) -> np.ndarray:
    """The mask's pixels in strands narrower than THIN_WIDTH: what a morphological opening removes."""
    kernel = np.ones((THIN_WIDTH, THIN_WIDTH), np.uint8)
    return mask & (cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel) == 0)


def drop_overlays(mask: np.ndarray, distance: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Drop small parts of the mask near an edge of the photo and clear of the rest, and count the parts kept.

    Shops lay badges, logos, price tags and watermarks over the photo along its edges, mostly in a corner; their
    crisp, saturated edges would otherwise outshine the product's softer outline (drop_soft_parts) or stretch
    its bounding box. Given the distance to the background, a part that blends in (as the pieces of a white
    garment on white do: under FAINT_DISTANCE) is never taken for one: what a shop lays over a photo stands out.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask, count - 1
    h, w = mask.shape
    x, y, width, height, area = (stats[1:, i] for i in range(5))
    boxy = area >= OVERLAY_BOXY * width * height
    share = np.where(boxy, OVERLAY_PLATE_SHARE, OVERLAY_SHARE)
    overlay = _near_edge(mask.shape, x, y, width, height) & (area < share * h * w)
    overlay[np.argmax(area)] = False  # the largest part is taken for the product, however small
    if distance is not None:
        for i in np.flatnonzero(overlay):
            overlay[i] = percentile(distance[labels == i + 1], 90) >= FAINT_DISTANCE
    if not overlay.any():
        return mask, count - 1
    rest = ~overlay  # an overlay lies clear of the box of the rest: a sandal's strap at the edge stays
    top, left = y[rest].min(), x[rest].min()
    bottom, right = (y + height)[rest].max(), (x + width)[rest].max()
    gap = OVERLAY_GAP * max(h, w)
    clear = (x + width + gap <= left) | (x >= right + gap) | (y + height + gap <= top) | (y >= bottom + gap)
    # ... and is well smaller than the product, or a plate smaller than it
    small = (area <= OVERLAY_RATIO * area[rest].max()) | (boxy & (area < area[rest].max()))
    keep = np.flatnonzero(~(overlay & clear & small)) + 1
    return np.isin(labels, keep), len(keep)


def _near_edge(
    shape: tuple[int, int], x: np.ndarray, y: np.ndarray, width: np.ndarray, height: np.ndarray
) -> np.ndarray:
    """Whether boxes lie wholly within OVERLAY_ZONE of one edge of a photo of this shape."""
    h, w = shape
    return (
        (x + width <= OVERLAY_ZONE * w)
        | (x >= (1 - OVERLAY_ZONE) * w)
        | (y + height <= OVERLAY_ZONE * h)
        | (y >= (1 - OVERLAY_ZONE) * h)
    )


def overlay_alone(mask: np.ndarray) -> bool:
    """Whether the whole mask is small and near one edge: what a badge or tag over an unseen product leaves."""
    if not mask.any():
        return False
    top, bottom, left, right = mask_box(mask)
    return bool(mask.mean() < OVERLAY_SHARE and _near_edge(mask.shape, left, top, right - left, bottom - top))


def drop_soft_parts(mask: np.ndarray, distance: np.ndarray) -> tuple[np.ndarray, int]:
    """Drop the mask's parts whose outline is soft next to the sharpest part's, and count the parts kept.

    A product's outline is a step in the distance to the background; the blob a radial gradient or a
    vignette leaves where the smooth background surface does not fit rises gently.
    """
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 2 or min(mask.shape) < 2:  # one part, or a strip too thin for a gradient
        return mask, count - 1
    gy, gx = np.gradient(distance)
    edge = np.hypot(gx, gy)
    rim = mask & ~(cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    sums = np.bincount(labels[rim], weights=edge[rim], minlength=count)[1:]
    sharpness = sums / np.maximum(np.bincount(labels[rim], minlength=count)[1:], 1)
    keep = np.flatnonzero(sharpness >= SOFT_EDGE_RATIO * sharpness.max()) + 1
    return np.isin(labels, keep), len(keep)


def clean_mask(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Drop specks, keep the largest connected part and those not much smaller, fill small holes."""
    if not mask.any():
        return mask, 0
    m = mask.astype(np.uint8)
    if min(mask.shape) >= 64:
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if count <= 1:
        return np.zeros_like(mask), 0
    areas = stats[1:, cv2.CC_STAT_AREA]
    kept = np.flatnonzero(areas >= KEEP_SHARE * areas.max()) + 1
    out = np.isin(labels, kept)
    return fill_holes(out, max_share=0.02), len(kept)


def fill_holes(mask: np.ndarray, max_share: float) -> np.ndarray:
    """Fill enclosed background regions smaller than max_share of the mask's area."""
    inverse = (~mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inverse, connectivity=4)
    h, w = mask.shape
    out = mask.copy()
    limit = max_share * mask.sum()
    for i in range(1, count):
        x, y, bw, bh, area = stats[i]
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        if not touches and area <= limit:
            out[labels == i] = True
    return out
