"""A product laid at a slant is read as if it stood straight; upright products and tiny images are left alone."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from shoplens.imaging.photo import read_photo
from shoplens.imaging.tilt import MIN_SIDE, tilt_of, upright
from tests.imaging.drawn import iou, jpeg, photo, shirt_mask, shoe_mask, trousers_mask


def _turned(mask: np.ndarray, degrees: float) -> np.ndarray:
    """The mask turned by `degrees` about the frame's centre (counter-clockwise as OpenCV draws it)."""
    h, w = mask.shape
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(mask.astype(np.float32), turn, (w, h)) > 0.5


def _box(mask: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(mask)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("degrees", [-30.0, -15.0, 12.0, 25.0])
def test_a_tilted_garment_is_turned_back_to_its_upright_box(degrees: float) -> None:
    straight = trousers_mask(400, 400, 90, 110, 220)
    tilted = _turned(straight, degrees)
    angle, share = tilt_of(tilted)
    assert abs(angle + degrees) < 2 and share < 0.88
    turned = upright(tilted.astype(np.float32), tilted)
    assert abs(turned.angle + degrees) < 2
    assert np.allclose(_box(turned.mask), _box(straight), atol=4)  # 220 × 88, as the upright trousers
    assert turned.intensity.shape == turned.mask.shape and turned.mask.sum() == pytest.approx(
        straight.sum(), rel=0.03
    )


@pytest.mark.parametrize(
    "mask",
    [
        shirt_mask(300, 300, 40, 60, 200),  # upright garments: their box is their tightest rectangle
        trousers_mask(300, 300, 40, 100, 220),
        shoe_mask(300, 300, 20, 100, 260),  # a sneaker's toe slopes, not enough to turn it
        _turned(trousers_mask(300, 300, 40, 100, 220), 5),  # 5°: the model reads slight tilts as they are
        _turned(trousers_mask(300, 300, 40, 100, 220), 44),  # near 45° a rectangle's sides are ambiguous
    ],
)
def test_upright_and_ambiguous_products_are_left_alone(mask: np.ndarray) -> None:
    intensity = mask.astype(np.float32)
    turned = upright(intensity, mask)
    assert turned.angle == 0 and turned.mask is mask and turned.intensity is intensity


def test_masks_too_small_for_a_reliable_outline_are_left_alone() -> None:
    small = _turned(trousers_mask(120, 120, 30, 45, MIN_SIDE - 8), 20)
    assert tilt_of(small)[1] < 0.88  # it would turn by its shape ...
    assert upright(small.astype(np.float32), small).angle == 0  # ... but it is under MIN_SIDE long
    assert upright(np.zeros((50, 50), np.float32), np.zeros((50, 50), bool)).angle == 0


def test_a_photo_of_a_tilted_shirt_is_read_as_the_upright_shirt() -> None:
    h, w = 420, 420
    straight = shirt_mask(h, w, 90, 110, 200)
    bg = np.full((h, w, 3), 236, np.uint8)
    alone = read_photo(jpeg(photo(bg, straight, (150, 30, 40))))
    for degrees in (
        -28.0,
        25.0,
    ):  # a T-shirt's sleeves widen its upright box already: it turns from about 25°
        tilted = _turned(straight, degrees)
        reading = read_photo(jpeg(photo(bg, tilted, (150, 30, 40))))
        shown = (
            cv2.resize(tilted.astype(np.uint8), reading.mask.shape[::-1], interpolation=cv2.INTER_AREA) > 0
        )
        assert iou(reading.mask, shown) > 0.9  # the mask (for colours) stays where the photo has the shirt
        read, upright_read = reading.array[0] > 60, alone.array[0] > 60
        assert iou(read, upright_read) > 0.85  # read still tilted: 0.64 at 22°
        # the box cues describe the upright shirt, as the detector was fitted on
        assert reading.cues["bbox_fill"] == pytest.approx(alone.cues["bbox_fill"], abs=0.05)
        assert reading.cues["aspect"] == pytest.approx(alone.cues["aspect"], abs=0.08)
