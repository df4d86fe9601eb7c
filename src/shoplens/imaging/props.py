"""Something else beside the product: a second, smaller product or a prop, apart from it.

Shops show a belt beside trousers, a bag beside a dress, a shoe beside a shirt. Read with the product, the other
thing stretches the mask's box and the product is read small, in a corner of the model input (on rendered training
garments with a second one 20–40 % of the photo's height beside them: 0.67 top-1 and a quarter called "not a
product", against 0.895 alone). The largest part of the mask is taken for the product; a part under 40 % of its
area whose box lies wholly outside the product's box, grown by 1 % of its long side, is something else and is
dropped. Parts that reach into the product's box (a sandal's straps, a trouser leg, a bag's handle) stay, and so
do parts nearly as large as the product (two products side by side: which one is meant is not for the reader to
guess; shoes as a pair are `pairs`' business). The reader leaves faint products alone (white on white, black on
black): their masks fall apart by themselves, and their pieces are the product's.
"""

from __future__ import annotations

import cv2
import numpy as np

OTHER_AREA = 0.4  # a part under this share of the largest part's area may be something else ...
OTHER_GAP = 0.01  # ... when its box keeps this share of the largest part's long side clear of that part's box


def drop_apart(mask: np.ndarray) -> np.ndarray:
    """The mask without smaller parts that lie apart from its largest part (the mask itself when there are none)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:  # the background and one part
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = 1 + int(np.argmax(areas))
    left, top, width, height = (int(v) for v in stats[largest, :4])
    gap = OTHER_GAP * max(width, height)
    apart = [
        k
        for k in range(1, count)
        if k != largest
        and stats[k, cv2.CC_STAT_AREA] < OTHER_AREA * areas.max()
        and _clear_of(stats[k, :4], (left - gap, top - gap, left + width + gap, top + height + gap))
    ]
    return mask & ~np.isin(labels, apart) if apart else mask


def _clear_of(box: np.ndarray, zone: tuple[float, float, float, float]) -> bool:
    """Whether a part's box (left, top, width, height) lies wholly outside the zone (left, top, right, bottom)."""
    left, top, width, height = (int(v) for v in box)
    return left >= zone[2] or left + width <= zone[0] or top >= zone[3] or top + height <= zone[1]
