"""Something else beside the product: a second, smaller garment or a prop standing apart from it.

Shops stand a shoe beside trousers or a top beside a dress. Read with the product, the other thing stretches the
mask's box and the product is read small, in a corner of the model input. When the mask is exactly two parts, the
larger is taken for the product, and the smaller is dropped when it has under OTHER_AREA of its area and its box
lies wholly outside the product's box grown by OTHER_GAP of the product's long side. Two parts of a size are two
products when they stand side by side — their boxes overlap across by at most SIDE_OVERLAP of the narrower (a slant
lets boxes overlap where the things do not) and along the height by at least SIDE_LEVEL of the shorter — as shops
show a product's colour variants: the larger is read, where reading both as one would read neither. Parts reaching
into the product's box (a sandal's straps, a trouser leg) stay, and so do large parts one above the other (a dress
whose belt matches the backdrop); shoes as a pair are shoplens.imaging.pairs' business. drop_apart leaves a mask of
more parts whole: the bands of a striped garment on a backdrop of its own light colour, or a mask broken by the
light, are the product's own pieces.

A flat-lay's props (a phone, a cup, sunglasses, a sprig laid around the product) are told from those pieces by
their colour (drop_props, on a mask of two parts or more, faint products' included): the product is the group of
parts alike in colour (mean CIELAB within PROP_COLOUR ΔE) of the largest area, and a part of another colour is
dropped when it has under OTHER_AREA of the product's area and no pixel in the product's convex hull grown by
OTHER_GAP (so it may lie in a corner of the product's box, where a sleeve leaves room; a print on the product
stays). Pictures under PROP_SIDE a side (thumbnails) are left alone: their pieces are too coarse to tell apart.
read_photo leaves faint products (white on white, black on black), whose masks fall apart by themselves, to the
colour rule alone, and measures its cues on the whole scene.
"""

from __future__ import annotations

import cv2
import numpy as np

from shoplens.imaging.background import to_lab

OTHER_AREA = 0.4  # the smaller part may be something else when under this share of the product's area ...
OTHER_GAP = 0.01  # ... and its box keeps this share of the product's long side clear of the product's box
SIDE_OVERLAP = 0.1  # a part of any size is another product when the boxes overlap across by at most this ...
SIDE_LEVEL = 0.5  # ... share of the narrower, and along the height by at least this share of the shorter
PROP_COLOUR = 20.0  # ΔE (CIELAB) between a prop's mean colour and the product's, more than
PROP_SIDE = 64  # pictures under this many pixels a side are left alone (thumbnails)


def drop_apart(mask: np.ndarray) -> np.ndarray:
    """The mask without a smaller second part lying apart from its product (the mask itself when there is none)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count != 3:  # the background and two parts
        return mask
    product, other = (1, 2) if stats[1, cv2.CC_STAT_AREA] >= stats[2, cv2.CC_STAT_AREA] else (2, 1)
    left, top, width, height = (int(v) for v in stats[product, :4])
    x, y, w, h = (int(v) for v in stats[other, :4])
    if stats[other, cv2.CC_STAT_AREA] >= OTHER_AREA * stats[product, cv2.CC_STAT_AREA]:  # two of a size
        across = min(left + width, x + w) - max(left, x)
        level = min(top + height, y + h) - max(top, y)
        beside = across <= SIDE_OVERLAP * min(width, w) and level >= SIDE_LEVEL * min(height, h)
        return mask & (labels != other) if beside else mask
    gap = OTHER_GAP * max(width, height)
    clear = x >= left + width + gap or x + w <= left - gap or y >= top + height + gap or y + h <= top - gap
    return mask & (labels != other) if clear else mask


def drop_props(mask: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The mask without props laid around the product: small parts apart from it in another colour than its own.

    The product is the parts alike in colour (within PROP_COLOUR of one part's) of the largest area in all;
    `rgb` (h, w, 3) uint8 is the photo the mask was found on.
    """
    if min(mask.shape) < PROP_SIDE:
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count < 3:  # the background and one part
        return mask
    lab = to_lab(rgb)
    parts = np.arange(1, count)
    areas = stats[parts, cv2.CC_STAT_AREA]
    colours = np.stack([lab[labels == i].mean(axis=0) for i in parts])
    alike = np.linalg.norm(colours[:, None] - colours[None], axis=2) <= PROP_COLOUR
    product = alike[int(np.argmax(alike @ areas))]  # the colour group of the largest area
    ys, xs = np.nonzero(np.isin(labels, parts[product]))
    points = np.stack([xs, ys], axis=1).astype(np.int32)
    hull = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
    gap = 1 + 2 * round(OTHER_GAP * max(np.ptp(xs), np.ptp(ys)))
    hull = cv2.dilate(hull, np.ones((gap, gap), np.uint8))
    touching = np.zeros(count, bool)
    touching[labels[hull > 0]] = True  # parts with a pixel in the product's hull, grown by the gap
    dropped = parts[~product & ~touching[parts] & (areas < OTHER_AREA * areas[product].sum())]
    return mask & ~np.isin(labels, dropped) if dropped.size else mask
