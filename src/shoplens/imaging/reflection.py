"""A glossy floor's mirror image under a product (shoes, bags): cut off the product mask.

Below some row the mask mirrors the part above it, and so does its texture, weaker; the intensity steps down at
that row. Only the upper side is product. Thresholds were chosen on renders of validation garments (none of 800
cut) and of shoes and bags on a glossy floor (81 % found); see docs/photo-studies.md, "Studio set-ups".
"""

from __future__ import annotations

import cv2
import numpy as np

# Below the row the mask mirrors the part above it (IoU of the flipped bands at least REFLECTION_MATCH), and so
# does the intensity (correlation at least REFLECTION_TEXTURE), fainter (median at most REFLECTION_FADE of above's),
# stepping down at that row (the rows just below at most REFLECTION_STEP of those just above), over at least
# REFLECTION_MIN of the mask's height.
REFLECTION_MATCH = 0.7
REFLECTION_TEXTURE = 0.5
REFLECTION_FADE = 0.5
REFLECTION_STEP = 0.6
REFLECTION_MIN = 0.1
# ... and its texture at least REFLECTION_ECHO as strong as the product's (a floor at opacity 0.15 gives 0.15).
REFLECTION_ECHO = 0.08


def drop_reflection(mask: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """The mask without a mirror image of the product below it, fainter than the product (a glossy floor)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) < 16:
        return mask
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    height = bottom - top
    # Cheap first: the rows where the intensity steps down (as _mirrored_below checks), from per-row sums.
    sums = np.concatenate([[0.0], np.cumsum(np.where(mask, intensity, 0.0).sum(axis=1))])
    counts = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    for row in range(top + height // 3, bottom - max(4, round(REFLECTION_MIN * height)) + 1):
        span = min(bottom - row, row - top)
        k = max(2, span // 10)
        under = (sums[row + k] - sums[row]) / max(counts[row + k] - counts[row], 1)
        over = (sums[row] - sums[row - k]) / max(counts[row] - counts[row - k], 1)
        if under <= REFLECTION_STEP * over and _mirrored_below(mask, intensity, row, span):
            kept = mask.copy()
            kept[row:] = False
            return kept
    return mask


def _mirrored_below(mask: np.ndarray, intensity: np.ndarray, row: int, span: int) -> bool:
    """Whether the span rows from `row` down are a faint mirror image of the span rows above it."""
    below, above = mask[row : row + span], mask[row - span : row][::-1]
    both, union = below & above, (below | above).sum()
    if not union or both.sum() / union < REFLECTION_MATCH or both.sum() < 10:
        return False
    under, over = intensity[row : row + span], intensity[row - span : row][::-1]
    if np.median(under[below]) > REFLECTION_FADE * max(float(np.median(over[above])), 1e-6):
        return False
    # Inside the outline (any outline's rim mirrors) and away from the band's far end (a rectangle's top and
    # bottom edges mirror each other there).
    core = cv2.erode(both.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    core[round(0.7 * span) :] = False
    if core.sum() < 10:
        return False
    # What varies across (columns) looks the same flipped upside down: only what varies down the rows can mirror.
    echo, source = _down_the_rows(under, core), _down_the_rows(over, core)
    with np.errstate(invalid="ignore", divide="ignore"):  # a flat side has no correlation: NaN, no warning
        texture = np.corrcoef(echo, source)[0, 1]
    if not texture >= REFLECTION_TEXTURE:  # NaN: flat, nothing to mirror
        return False
    if echo.std() < REFLECTION_ECHO * source.std():  # a flat part's JPEG ringing echoes nothing
        return False
    k = max(2, span // 10)
    step_under = intensity[row : row + k][mask[row : row + k]]
    step_over = intensity[row - k : row][mask[row - k : row]]
    return bool(
        step_under.size and step_over.size and step_under.mean() <= REFLECTION_STEP * step_over.mean()
    )


def _down_the_rows(values: np.ndarray, core: np.ndarray) -> np.ndarray:
    """The values at the core's pixels less their column's mean over the core."""
    totals = np.where(core, values, 0.0).sum(axis=0)
    means = totals / np.maximum(core.sum(axis=0), 1)
    return (values - means)[core]
