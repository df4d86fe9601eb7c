"""Shoes shown as a pair, or a product tiled in a collage: one item is read, as the model learnt a category from one.

Two alike parts side by side (or one above the other) are a pair apart (`one_of_a_pair`). A pair placed heel to
heel or toe to toe, touching or overlapping, is one part of the mask (`half_of_a_mirrored_pair`), a shape about
twice as wide as a shoe. It is told by its symmetry: the mask is its own mirror image about an upright axis near
its middle, while each half is far from symmetric (a shoe's toe is no heel). A clutch bag is as wide and as
symmetric, but its halves are near-symmetric themselves (a rounded rectangle, halved, is still one); it is left
alone.

A collage (`collage_tile`) is three or four alike parts in one row, or four in a 2×2 grid: a shop's tiles of a
product's colour variants or views. The tile around the largest part is read as the photo. Parts in a column are
never taken for tiles, nor parts many times as tall as wide: those are a striped garment's bands.
"""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np

from shoplens.imaging.mask_parts import iou

# A pair apart (shoes side by side, earrings): exactly two parts, the smaller at least PAIR_AREA of the larger's
# area, their boxes within PAIR_SIZE of each other's height and width, apart along one axis and overlapping by at
# least PAIR_OVERLAP of the shorter along the other. Only the larger is read.
PAIR_AREA = 0.6
PAIR_SIZE = 0.3
PAIR_OVERLAP = 0.5
# A mirrored pair, one part:
PAIR_ASPECT = 1.8  # the mask's box is at least this many times as wide as it is tall
# The mask overlaps its mirror image about the axis at least this much (intersection over union).
MIRROR_IOU = 0.8
AXIS_RANGE = 0.1  # the axis lies within this share of the box's width from its centre
SHIFT_RANGE = 0.06  # one shoe may stand this share of the box's height higher than the other
HALF_MIRROR_IOU = 0.75  # each half overlaps its own mirror image at most this much, and ...
# ... either the box is this many times as wide as tall (two shoes' length: few single items are) ...
WIDE_PAIR = 2.6
SHOE_HALF = 0.45  # ... or each half overlaps its mirror image at most this much (a boot's shaft is no toe)
MIN_HEIGHT = 8  # masks fewer rows tall are too coarse to judge
# A collage: parts in one of these (rows, columns), each of at least COLLAGE_AREA of the largest one's area, its box's
# sides within a factor COLLAGE_SIZE of the largest one's, none more than COLLAGE_ASPECT times as tall as it is wide,
# rows and columns apart by at least COLLAGE_GAP of the narrower one's extent (tiles have margins; the pieces of a
# mask broken by the light lie close).
COLLAGE_LAYOUTS = ((1, 3), (1, 4), (2, 2))
COLLAGE_AREA = 0.35
COLLAGE_SIZE = 2.0
COLLAGE_ASPECT = 3.5
COLLAGE_GAP = 0.15


def half_of_a_mirrored_pair(mask: np.ndarray) -> np.ndarray:
    """The mask's left half when it shows a mirrored pair (shoes heel to heel or toe to toe), else the mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) < MIN_HEIGHT:
        return mask
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    height, width = bottom - top, right - left
    if width < PAIR_ASPECT * height:
        return mask
    band = mask[top:bottom, left:right]
    axis, score = _mirror_axis(band)
    if score < MIRROR_IOU:
        return mask
    halves = max(_self_mirror_iou(band[:, :axis]), _self_mirror_iou(band[:, axis:]))
    if halves > HALF_MIRROR_IOU or (width < WIDE_PAIR * height and halves > SHOE_HALF):
        return mask
    kept = mask.copy()
    kept[:, left + axis :] = False
    return kept


def _mirror_axis(band: np.ndarray) -> tuple[int, float]:
    """The column about which the band best mirrors itself (one side moved up or down a little), and how well."""
    height, width = band.shape
    reach, shifts = max(1, round(AXIS_RANGE * width)), round(SHIFT_RANGE * height)
    best = (width // 2, 0.0)
    for axis in range(max(1, width // 2 - reach), min(width - 1, width // 2 + reach) + 1):
        side = max(axis, width - axis)
        flipped = np.zeros((height + 2 * shifts, side), bool)  # room above and below: nothing wraps round
        flipped[shifts : shifts + height, :axis] = band[:, :axis][:, ::-1]
        for shift in range(-shifts, shifts + 1):
            moved = np.zeros_like(flipped)
            moved[shifts + shift : shifts + shift + height, : width - axis] = band[:, axis:]
            score = iou(flipped, moved)
            if score > best[1]:
                best = (axis, score)
    return best


def _self_mirror_iou(half: np.ndarray) -> float:
    """How well a half, cropped to its own box, overlaps its mirror image (1 for a symmetric shape)."""
    cols = np.flatnonzero(half.any(axis=0))
    if not len(cols):
        return 1.0
    part = half[:, cols[0] : cols[-1] + 1]
    return iou(part, part[:, ::-1])


def one_of_a_pair(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The larger of two alike parts lying side by side (or one above the other), and the parts kept.

    Shops show shoes as pairs; the model knows one shoe. Two parts that differ in size, or that overlap along
    both axes (a bag and its detached strap, a garment and its shadow), are left as they are.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count != 3:
        return mask, count - 1
    (x0, y0, w0, h0, a0), (x1, y1, w1, h1, a1) = sorted(stats[1:].tolist(), key=lambda s: -s[4])
    alike = a1 >= PAIR_AREA * a0 and abs(w1 - w0) <= PAIR_SIZE * w0 and abs(h1 - h0) <= PAIR_SIZE * h0

    def overlap(start0: int, size0: int, start1: int, size1: int) -> float:
        return (min(start0 + size0, start1 + size1) - max(start0, start1)) / min(size0, size1)

    across, down = overlap(x0, w0, x1, w1), overlap(y0, h0, y1, h1)
    apart = (across <= 0 and down >= PAIR_OVERLAP) or (down <= 0 and across >= PAIR_OVERLAP)
    if not (alike and apart):
        return mask, 2
    larger = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == larger, 1


def collage_tile(mask: np.ndarray) -> tuple[slice, slice] | None:
    """(rows, columns) of the tile around the largest part when the mask is a collage of alike parts, else None.

    The parts must be alike (COLLAGE_AREA, COLLAGE_SIZE), each alone in its cell of one row of three or four or of a
    2×2 grid, with rows and columns COLLAGE_GAP apart; a tile reaches halfway to the next column or row, or to the
    mask's edge.
    """
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count - 1 not in {r * c for r, c in COLLAGE_LAYOUTS}:
        return None
    parts = stats[1:].astype(np.int64)
    largest = int(np.argmax(parts[:, cv2.CC_STAT_AREA]))
    _, _, w0, h0, a0 = parts[largest]
    x, y, w, h, area = parts.T
    alike = (
        (area >= COLLAGE_AREA * a0)
        & (w * COLLAGE_SIZE >= w0)
        & (w <= COLLAGE_SIZE * w0)
        & (h * COLLAGE_SIZE >= h0)
        & (h <= COLLAGE_SIZE * h0)
        & (h <= COLLAGE_ASPECT * w)
    )
    if not alike.all():
        return None
    columns, rows = _bands(x, w), _bands(y, h)
    if columns is None or rows is None or not (_apart(columns[1]) and _apart(rows[1])):
        return None
    cells = set(zip(rows[0].tolist(), columns[0].tolist()))
    if (len(rows[1]), len(columns[1])) not in COLLAGE_LAYOUTS or len(cells) != len(parts):
        return None
    row, col = int(rows[0][largest]), int(columns[0][largest])
    return _cell(rows[1], row, mask.shape[0]), _cell(columns[1], col, mask.shape[1])


def _bands(start: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]] | None:
    """Each part's band along one axis (parts overlapping by PAIR_OVERLAP of the shorter share one) and the bands'
    (start, end) in order; None when two bands overlap (parts neither aligned nor apart)."""
    band = np.empty(len(start), np.int64)
    spans: list[tuple[int, int]] = []
    for i in np.argsort(start, kind="stable"):
        lo, hi = int(start[i]), int(start[i] + size[i])
        if spans and min(spans[-1][1], hi) - lo >= PAIR_OVERLAP * min(spans[-1][1] - spans[-1][0], hi - lo):
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        elif spans and lo < spans[-1][1]:
            return None
        else:
            spans.append((lo, hi))
        band[i] = len(spans) - 1
    return band, spans


def _apart(spans: list[tuple[int, int]]) -> bool:
    """Whether each gap between neighbouring bands is at least COLLAGE_GAP of the narrower band's extent."""
    return all(b[0] - a[1] >= COLLAGE_GAP * min(a[1] - a[0], b[1] - b[0]) for a, b in pairwise(spans))


def _cell(spans: list[tuple[int, int]], index: int, length: int) -> slice:
    """The stretch of one band: halfway into the gaps to its neighbours, or to the edge."""
    lo = 0 if index == 0 else (spans[index - 1][1] + spans[index][0]) // 2
    hi = length if index == len(spans) - 1 else (spans[index][1] + spans[index + 1][0] + 1) // 2
    return slice(lo, hi)
