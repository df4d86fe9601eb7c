"""A product lying on a busy print (stripes, checks, dots, blossoms): found as the calm stretch in it.

Colours alone can fail on a printed cloth: its palette may hold the product's colour, its fine lines blur into the
product's edge, and GrabCut takes the cloth's repeats for product. What tells the product there is that it is
plain where the cloth is busy. The texture energy (the CIELAB gradient averaged over ENERGY_SCALE of the longer
side, more than a print's repeat) is low on the product and high on the cloth. Where the border is busy (its
median energy at least BUSY_ENERGY, its 10th percentile at least BUSY_LOW), the product's core is the largest stretch
clear of the border whose energy stays under CALM of the border's median, when it stands out (CORE_SHARE of the
photo, CORE_LEAD times the next) and the photo beyond its reach is busy too (a line drawn along a plain photo's
border is busy, the backdrop inside it calm). The core lies inside the product (its edge is busy too); the mask is
the core with the pixels connected to it, within REACH of its box, whose colour is nearer the core's colours than
the border's: thin sleeves and handles too. foreground.separate takes this mask only where the colours' own went
astray (missed it, or spilled from it to the frame's edge); elsewhere the colours tell the outline better.
"""

from __future__ import annotations

import cv2
import numpy as np

from shoplens.imaging.background import border_mask
from shoplens.imaging.mask_parts import clean_mask, fill_holes, mask_box
from shoplens.imaging.order_stats import median, percentile

ENERGY_SCALE = 0.02  # sigma of the energy's averaging, as a share of the longer side
BUSY_ENERGY = 2.0  # ΔE per pixel: the border's median energy from which a backdrop is busy, ...
BUSY_LOW = 1.0  # ... with its 10th percentile this at least (JPEG blocks on a plain one are busy in places)
BUSY_FLOOR = 4.0  # the 10th percentile from which every place along the border is busy (stripes, any side)
CALM = 0.35  # a product's core is calmer than this share of the border's median energy
CORE_SHARE = 0.01  # the core must cover this share of the photo, at least ...
CORE_LEAD = 3.0  # ... and this many times the next calm stretch clear of the border
REACH = 0.25  # how far beyond the core's box, in shares of its size, the product's colours are followed
BUSY_REST = (
    0.5  # the photo beyond it must be busy as well: its median energy this share of the border's at least
)
COLOURS = 4  # k-means colours of the core ...
BORDER_COLOURS = 8  # ... and of the border


def texture_energy(lab: np.ndarray) -> np.ndarray:
    """(h, w) float32: the CIELAB gradient's magnitude (ΔE per pixel) averaged over ENERGY_SCALE of the longer side."""
    soft = cv2.GaussianBlur(lab, (0, 0), 0.8)
    squared = np.zeros(lab.shape[:2], np.float32)
    for channel in cv2.split(soft):
        gx = cv2.Sobel(channel, cv2.CV_32F, 1, 0, scale=1 / 8)
        gy = cv2.Sobel(channel, cv2.CV_32F, 0, 1, scale=1 / 8)
        squared += gx * gx + gy * gy
    return cv2.GaussianBlur(np.sqrt(squared), (0, 0), ENERGY_SCALE * max(lab.shape[:2]))


def busy_everywhere(energy: np.ndarray) -> bool:
    """Whether every place along the border is busy: a print that runs along a side as well as across it."""
    return min(energy.shape) >= 48 and float(percentile(energy[border_mask(energy.shape)], 10)) >= BUSY_FLOOR


def calm_product(lab: np.ndarray, energy: np.ndarray) -> np.ndarray | None:
    """The product's mask found as the calm stretch on a busy backdrop; None when the backdrop is not busy or no
    one stretch stands out."""
    shape = energy.shape
    if min(shape) < 48:
        return None
    border = border_mask(shape)
    level = float(median(energy[border]))
    if level < BUSY_ENERGY or float(percentile(energy[border], 10)) < BUSY_LOW:
        return None
    calm = (energy < CALM * level).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(calm, connectivity=8)
    clear = [i for i in range(1, count) if not border[labels == i].any()]
    if not clear:
        return None
    areas = sorted(((int(stats[i, cv2.CC_STAT_AREA]), i) for i in clear), reverse=True)
    area, best = areas[0]
    if area < CORE_SHARE * energy.size or (len(areas) > 1 and area < CORE_LEAD * areas[1][0]):
        return None
    core = labels == best
    top, bottom, left, right = mask_box(core)
    dy, dx = round(REACH * (bottom - top)), round(REACH * (right - left))
    near = np.zeros(shape, bool)
    near[max(0, top - dy) : bottom + dy, max(0, left - dx) : right + dx] = True
    rest = (
        ~near
    )  # the backdrop around the product: busy too, or the calm stretch is a plain backdrop's inside a frame
    if rest.mean() < CORE_SHARE or float(median(energy[rest])) < BUSY_REST * level:
        return None
    soft = cv2.GaussianBlur(lab, (0, 0), 0.8)
    nearer = near & (_nearest(soft, soft[core], COLOURS) < _nearest(soft, soft[border], BORDER_COLOURS))
    count, labels = cv2.connectedComponents((core | nearer).astype(np.uint8), connectivity=8)
    touched = np.unique(labels[core])
    mask, _ = clean_mask(np.isin(labels, touched[touched > 0]))
    return fill_holes(mask, max_share=1.0)


def _nearest(lab: np.ndarray, samples: np.ndarray, colours: int) -> np.ndarray:
    """(h, w) ΔE from every pixel to the nearest of the samples' k-means colours."""
    step = max(1, len(samples) // 4000)
    samples = np.ascontiguousarray(samples[::step], np.float32)
    count = min(colours, len(samples))
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, _, centres = cv2.kmeans(samples, count, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    distance = np.full(lab.shape[:2], np.inf, np.float32)
    for centre in centres:
        np.minimum(distance, np.linalg.norm(lab - centre, axis=-1), out=distance)
    return distance
