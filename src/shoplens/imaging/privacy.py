"""Privacy: find human faces in product photos and pixelate them before an image is stored or shown.

Detection uses the frontal-face Haar cascade that ships with OpenCV (no download). It finds frontal,
upright faces of at least ~24 px; profiles, tilted or tiny faces can be missed, so this lowers the
chance of publishing a face but does not rule it out.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from shoplens.errors import ShopLensError
from shoplens.imaging.decode import flatten_alpha

if TYPE_CHECKING:
    import cv2

CASCADE_FILE = "haarcascade_frontalface_default.xml"
Box = tuple[int, int, int, int]  # left, top, width, height in pixels

# An OpenCV CascadeClassifier must not run detectMultiScale from two threads at once.
_DETECT_LOCK = threading.Lock()


class FaceDetectorError(ShopLensError):
    """The face detector could not be loaded (OpenCV's cascade file is missing or unreadable)."""

    exit_code = 2


@functools.cache
def _cascade() -> cv2.CascadeClassifier:
    """OpenCV's frontal-face cascade, loaded once per process."""
    import cv2

    path = os.path.join(cv2.data.haarcascades, CASCADE_FILE)
    classifier = cv2.CascadeClassifier(path)
    if classifier.empty():
        raise FaceDetectorError(f"cannot load the face detector {path}; reinstall opencv-python-headless")
    return classifier


def detect_faces(
    image: Image.Image,
    *,
    min_size: int = 24,
    min_neighbors: int = 5,
    scale_factor: float = 1.1,
    max_side: int = 1024,
) -> list[Box]:
    """Boxes (left, top, width, height) of the frontal faces found in an image, in its pixel coordinates."""
    import cv2  # on first use: a server that never blurs starts without OpenCV

    gray = np.asarray(flatten_alpha(image).convert("L"))
    height, width = gray.shape
    if min(height, width) < min_size:
        return []
    # Large photos are searched at a reduced size: the cascade's cost grows with the pixel count.
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    classifier = _cascade()
    with _DETECT_LOCK:
        found = classifier.detectMultiScale(
            gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(min_size, min_size)
        )
    boxes = [tuple(round(v / scale) for v in box) for box in np.asarray(found).reshape(-1, 4)]
    return sorted(boxes)  # type: ignore[arg-type]


def blur_faces(
    image: Image.Image, *, margin: float = 0.25, cells: int = 6, max_passes: int = 3
) -> tuple[Image.Image, int]:
    """A copy of the image with every detected face pixelated beyond recognition, and how many were hidden.

    Each face box is widened by `margin` of its size on every side and reduced to `cells` x `cells`
    blocks; detection then runs again (up to `max_passes` times) until no face is found.
    """
    result = image.copy()
    hidden = 0
    for _ in range(max_passes):
        boxes = detect_faces(result)
        if not boxes:
            break
        for box in boxes:
            _pixelate(result, _expand(box, margin, result.size), cells)
        hidden += len(boxes)
    return result, hidden


def _expand(box: Box, margin: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box grown by margin of its size on each side, as (left, top, right, bottom) inside the image."""
    left, top, width, height = box
    dx, dy = round(width * margin), round(height * margin)
    right, bottom = min(size[0], left + width + dx), min(size[1], top + height + dy)
    return max(0, left - dx), max(0, top - dy), right, bottom


def _pixelate(image: Image.Image, region: tuple[int, int, int, int], cells: int) -> None:
    """Replace a region of the image, in place, by a cells x cells mosaic of its average colours."""
    patch = image.crop(region)
    width, height = patch.size
    small = (max(1, min(cells, width)), max(1, min(cells, height)))
    # BOX averages each block; palette and bilevel images can only be sampled (NEAREST).
    reduce_with = Image.Resampling.NEAREST if image.mode in ("P", "1") else Image.Resampling.BOX
    mosaic = patch.resize(small, reduce_with).resize((width, height), Image.Resampling.NEAREST)
    image.paste(mosaic, region[:2])
