"""A mannequin's neck rising from a garment's collar is no part of the product; collars, hoods and handles are."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from shoplens.imaging.mannequin import drop_neck
from shoplens.imaging.photo import read_photo
from tests.imaging.drawn import jpeg, photo, shirt_mask


def _post(h: int, w: int, cx: int, top: int, width: int, height: int) -> np.ndarray:
    """A solid post (a neck form: a cylinder with a rounded top) `width` wide, from `top` down `height` rows."""
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (cx - width // 2, top + width // 4), (cx + width // 2, top + height), 1, -1)
    cv2.ellipse(mask, (cx, top + width // 4), (width // 2, width // 4), 0, 0, 360, 1, -1)
    return mask > 0


def test_a_neck_form_above_a_shirt_is_dropped_and_the_shirt_read_as_without_it() -> None:
    h, w = 320, 260
    shirt = shirt_mask(h, w, 110, 50, 160)  # shoulders at row 110, 160 px wide
    neck = _post(h, w, 130, 60, 40, 70)  # 50 rows above the collar, a quarter of the shirt's width
    cut = drop_neck(shirt | neck)
    assert not cut[:105].any() and cut[shirt].all()
    bg = np.full((h, w, 3), 238, np.uint8)
    dressed = photo(bg, neck, (200, 160, 130))  # a skin-toned form ...
    dressed = photo(np.asarray(dressed), shirt, (30, 60, 140))  # ... and the shirt over it
    alone = read_photo(jpeg(photo(bg, shirt, (30, 60, 140))))
    # without the rule the neck stands on the shirt in the 28×28 input and squeezes it (49 grey levels off the
    # shirt read alone); with it, 0.4
    assert np.abs(read_photo(jpeg(dressed)).array.astype(int) - alone.array.astype(int)).mean() < 4


@pytest.mark.parametrize("case", ["collar", "hood", "handle", "shoe", "off_centre"])
def test_what_only_looks_like_a_neck_is_kept(case: str) -> None:
    h, w = 320, 260
    if case == "collar":  # a stand-up collar: narrow and solid, but short
        mask = shirt_mask(h, w, 110, 50, 160) | _post(h, w, 130, 90, 40, 30)
    elif case == "hood":  # as tall as a neck, but wide
        mask = shirt_mask(h, w, 110, 50, 160) | _post(h, w, 130, 50, 80, 70)
    elif case == "handle":  # a bag's handle: a loop over the bag, no solid shoulders under its arc
        mask = np.zeros((h, w), bool)
        mask[150:280, 50:210] = True
        loop = np.zeros((h, w), np.uint8)
        cv2.ellipse(loop, (130, 150), (35, 70), 0, 180, 360, 1, 10)
        mask |= loop > 0
    elif case == "shoe":  # a boot's shaft on a flat, wide shoe
        mask = np.zeros((h, w), bool)
        mask[200:260, 20:240] = True
        mask |= _post(h, w, 130, 140, 50, 70)
    else:  # a post to one side of the garment: not a neck form
        mask = shirt_mask(h, w, 110, 50, 160) | _post(h, w, 90, 60, 40, 70)
    assert np.array_equal(drop_neck(mask), mask)
