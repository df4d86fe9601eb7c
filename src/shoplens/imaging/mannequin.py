"""A mannequin's neck above a garment: studios dress neck forms, and the form rises out of the collar.

Read with the garment, the neck is a post on top of it that no Fashion-MNIST top has. It is told by its shape
alone (a form can be any colour, the garment's included): a solid post at the top of the mask, narrow against the
garment, centred over it, on which the mask widens at once into solid shoulders. A hood is wider, a bag's handle
is a loop (no solid rows under its arc), and a dress's bodice widens gradually; those are left alone.
"""

from __future__ import annotations

import numpy as np

from shoplens.imaging.mask_parts import upright_rows

MIN_ROWS = 20  # a mask fewer rows tall is left alone
NECK_WIDTH = 0.36  # the post's rows are at most this share of the garment's widest row ...
NECK_SOLID = 0.85  # ... and filled across at least this share of their span
NECK_HEIGHT = (0.1, 0.35)  # the post is this share of the mask's height tall, ...
NECK_TALL = 0.2  # ... and at least this share of the garment's width (a collar or a shoe's ankle is shorter)
UPRIGHT = 0.8  # the mask is at least this share of its width tall: what a neck form wears (shoes lie flat)
SHOULDER_JUMP = 0.04  # within this share of the height below the post, a row at least ...
SHOULDER_WIDTH = 2.0  # ... this many times the post's width, ...
SHOULDER_SOLID = 0.7  # ... filled across this share of its span (a loop's two strands are not)
NECK_CENTRE = 0.1  # the post's centre within this share of the garment's width of the garment's centre


def drop_neck(mask: np.ndarray) -> np.ndarray:
    """The mask without a mannequin's neck rising from its top (the mask itself when there is none)."""
    rows = upright_rows(mask, MIN_ROWS, UPRIGHT)
    if rows is None:
        return mask
    top, band, first, last, span = rows.top, rows.band, rows.first, rows.last, rows.span
    height, widest = rows.height, rows.widest
    filled = band.any(axis=0)
    count = band.sum(axis=1)
    solid = count >= NECK_SOLID * np.maximum(span, 1)
    post = (span > 0) & (span <= NECK_WIDTH * widest) & solid
    length = rows.run_from_top(post)  # rows of the post
    if not NECK_HEIGHT[0] * height <= length <= NECK_HEIGHT[1] * height or length < NECK_TALL * widest:
        return mask
    neck = float(np.median(span[:length]))
    below = slice(length, min(height, length + max(1, round(SHOULDER_JUMP * height))))
    shoulders = (span[below] >= SHOULDER_WIDTH * neck) & (count[below] >= SHOULDER_SOLID * span[below])
    if not shoulders.any():
        return mask
    garment_cols = np.flatnonzero(filled)
    centre = (garment_cols[0] + garment_cols[-1]) / 2
    post_centre = float(np.median((first[:length] + last[:length]) / 2))
    if abs(post_centre - centre) > NECK_CENTRE * widest:
        return mask
    out = mask.copy()
    out[top : top + length] = False  # the rows between it and the shoulders are the garment's collar
    return out
