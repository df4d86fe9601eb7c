"""A product laid or shot at a slant, turned upright before it is read.

Fashion-MNIST's garments stand straight; a shirt laid 20° askew on a table or a sneaker shown at an angle does
not, and the model, which saw at most 6° of tilt in training, reads it badly (on rendered training
garments tilted 20–35°: 0.33 top-1 and 63 % called "not a product", against 0.84 and 5 % upright). The tilt is
told by the smallest rectangle around the product's mask: when that rectangle, turned, covers clearly less
than the upright box does, the product is turned by the rectangle's angle. Upright products keep their box as
their tightest rectangle; shoes, whose toe slopes, come closest to firing, hence a margin on both the area and
the angle. Masks too small to have a reliable outline (a 28×28 Fashion-MNIST image) are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_SIDE = 64  # the mask's box is at least this long (pixels of the working copy), or nothing is turned
TIGHTER = 0.88  # the turned rectangle's area is under this share of the upright box's ...
# ... at an angle (degrees, either way) in this range; near 45° a rectangle's sides are ambiguous
ANGLE = (7.0, 40.0)


@dataclass(frozen=True)
class Upright:
    """The product's intensity and mask turned upright, and the angle (degrees) they were turned by (0: not)."""

    intensity: np.ndarray
    mask: np.ndarray
    angle: float = 0.0


def tilt_of(mask: np.ndarray) -> tuple[float, float]:
    """The mask's tilt (degrees, within ±45) and its tightest rectangle's area over its upright box's."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    points = np.concatenate(contours)
    _, (width, height), angle = cv2.minAreaRect(points)
    _, _, box_width, box_height = cv2.boundingRect(points)
    return (angle + 45) % 90 - 45, float(width * height) / float(box_width * box_height)


def upright(intensity: np.ndarray, mask: np.ndarray) -> Upright:
    """The product turned upright about its centre on a canvas that holds it whole (unchanged when upright)."""
    if not mask.any():
        return Upright(intensity, mask)
    rows, cols = np.nonzero(mask)
    if max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 < MIN_SIDE:
        return Upright(intensity, mask)
    angle, share = tilt_of(mask)
    if share >= TIGHTER or not ANGLE[0] < abs(angle) <= ANGLE[1]:
        return Upright(intensity, mask)
    height, width = mask.shape
    side = int(np.ceil(np.hypot(height, width)))
    turn = cv2.getRotationMatrix2D((float(cols.mean()), float(rows.mean())), angle, 1.0)
    turn[:, 2] += ((side - width) / 2, (side - height) / 2)  # centred on the larger canvas

    def turned(image: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(image.astype(np.float32), turn, (side, side), flags=cv2.INTER_LINEAR)

    return Upright(turned(intensity), turned(mask) > 0.5, float(angle))
