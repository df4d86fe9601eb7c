"""A hanger's hook above a garment: shops photograph clothes hanging, and the hook rises out of the collar.

Read with the garment, the hook stretches the mask's box upwards by a fifth of its height or more, and the
garment is read smaller and lower than any Fashion-MNIST garment sits. It is told by its shape alone (wire can be
any colour): at the top of an upright mask, a narrow column of rows (the hook's curl) that thins to a wire (its
stem), centred over the garment, under which the mask widens within a few rows (the hanger's bar or the
shoulders). Those rows are cut, and with them the thin pieces of wire just under them (the bar's ends showing
above the shoulders). A boot's pull tab or a bag's handle has no wire-thin row; a strap stands to one side.
"""

from __future__ import annotations

import cv2
import numpy as np

from shoplens.imaging.mask_parts import thin_strands, upright_rows

MIN_ROWS = 20  # a mask fewer rows tall is left alone
HOOK_SPAN = 0.2  # the hook's rows span at most this share of the mask's widest row ...
STEM = 0.06  # ... and at least one of them (the stem) at most this share
HOOK_HEIGHT = (0.05, 0.4)  # the hook is this share of the mask's height tall
UPRIGHT = 0.8  # the mask is at least this share of its width tall: what hangs (shoes lie flat)
WIDEN = 2.0  # within WIDEN_ROWS of the height under the hook, a row this many times its widest row
WIDEN_ROWS = 0.05
HOOK_CENTRE = 0.1  # the hook's centre within this share of the widest row of the mask's centre
# Thin pieces (mask_parts.thin_strands) ending within this share of the height under the hook are wire too, ...
WIRE_BAND = 0.12
# ... and so are small pieces there (where the bar meets the stem): under this share of the mask
WIRE_SHARE = 0.05


def drop_hook(mask: np.ndarray) -> np.ndarray:
    """The mask without a hanger's hook rising from its top (the mask itself when there is none)."""
    rows = upright_rows(mask, MIN_ROWS, UPRIGHT)
    if rows is None:
        return mask
    top, band, first, last, span = rows.top, rows.band, rows.first, rows.last, rows.span
    height, widest = rows.height, rows.widest
    narrow = (span > 0) & (span <= HOOK_SPAN * widest)
    length = rows.run_from_top(narrow)  # rows of the hook
    if not HOOK_HEIGHT[0] * height <= length <= HOOK_HEIGHT[1] * height:
        return mask
    if span[:length].min() > STEM * widest:  # no wire-thin row: a tab or a handle's loop
        return mask
    under = span[length : length + max(2, round(WIDEN_ROWS * height))]
    if under.max() < WIDEN * span[:length].max():
        return mask
    filled = np.flatnonzero(band.any(axis=0))
    hook_centre = float(np.median((first[:length] + last[:length]) / 2))
    if abs(hook_centre - (filled[0] + filled[-1]) / 2) > HOOK_CENTRE * widest:
        return mask
    out = mask.copy()
    out[top : top + length] = False
    reach = top + length + WIRE_BAND * height  # what ends above this row, under the hook, may be wire
    out &= ~_parts_ending_above(thin_strands(out), reach)
    return out & ~_parts_ending_above(out, reach, max_area=WIRE_SHARE * mask.sum())


def _parts_ending_above(mask: np.ndarray, row: float, max_area: float = np.inf) -> np.ndarray:
    """The mask's connected parts whose last row lies above `row` and whose area is under max_area."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    ends = stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT]
    chosen = np.flatnonzero((ends <= row) & (stats[:, cv2.CC_STAT_AREA] < max_area))
    return np.isin(labels, chosen[chosen > 0])
