"""A hanger's hook rising from a garment is no part of the product; handles, tabs, straps and collars are."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from shoplens.imaging.hanger import drop_hook
from shoplens.imaging.photo import read_photo
from tests.imaging.drawn import jpeg, photo, shirt_mask, trousers_mask


def _hanger(h: int, w: int, cx: int, neck: int, bar: tuple[int, int], wire: int = 2) -> np.ndarray:
    """A wire hanger: a curled hook on a stem rising from `neck`, and a bar from (cx ± bar[0], neck + bar[1])."""
    mask = np.zeros((h, w), np.uint8)
    cv2.line(mask, (cx - bar[0], neck + bar[1]), (cx, neck), 1, wire)
    cv2.line(mask, (cx, neck), (cx + bar[0], neck + bar[1]), 1, wire)
    cv2.line(mask, (cx, neck), (cx, neck - 14), 1, wire)  # the stem
    cv2.ellipse(mask, (cx, neck - 22), (8, 8), 0, 180, 420, 1, wire)  # the curl, open on its lower left
    return mask > 0


def test_a_hook_above_a_shirt_is_dropped_with_the_bar_ends_and_the_shirt_read_as_without_it() -> None:
    h, w = 320, 260
    shirt = shirt_mask(h, w, 90, 50, 160)  # shoulders at row 90, 160 px wide
    hanger = _hanger(h, w, 130, 84, (75, 14))  # its bar slopes above the shoulders and shows at their ends
    hung = shirt | hanger
    assert hung[:90].any() and (hanger & ~shirt)[90:].any()
    cut = drop_hook(hung)
    assert not cut[:84].any()  # the hook is gone ...
    assert cut[shirt].all()  # ... the shirt is whole ...
    # ... and of the wire only what lies against the collar is left (the bar's ends over the shoulders are gone)
    assert (cut & ~shirt).sum() < 0.2 * (hanger & ~shirt).sum()
    assert not (cut & ~shirt)[:, :90].any() and not (cut & ~shirt)[:, 170:].any()
    bg = np.full((h, w, 3), 238, np.uint8)
    shot = photo(np.asarray(photo(bg, hanger, (70, 70, 70))), shirt, (30, 60, 140))
    alone = read_photo(jpeg(photo(bg, shirt, (30, 60, 140))))
    # without the rule the hook stands on the shirt in the 28×28 input and squeezes it (44 grey levels off the
    # shirt read alone); with it, 12 (the wire against the collar stays, a row above it)
    assert np.abs(read_photo(jpeg(shot)).array.astype(int) - alone.array.astype(int)).mean() < 16


def test_a_hook_on_trousers_clip_bar_is_dropped() -> None:
    h, w = 340, 240
    trousers = trousers_mask(h, w, 90, 40, 220)  # 88 px wide from column 106
    clip = np.zeros((h, w), np.uint8)
    cv2.line(clip, (92, 91), (208, 91), 1, 2)  # the clip bar, wider than the waistband
    hanger = _hanger(h, w, 150, 70, (0, 21)) | (clip > 0)
    cut = drop_hook(trousers | hanger)
    assert np.array_equal(cut, trousers)  # the hook, its stem and the clip bar's ends beside the waistband


@pytest.mark.parametrize("case", ["handle", "tab", "strap", "shoe", "neck_form"])
def test_what_only_looks_like_a_hook_is_kept(case: str) -> None:
    h, w = 320, 260
    mask = np.zeros((h, w), np.uint8)
    if case == "handle":  # a bag's handle: its loop spans a third of the bag
        mask[150:280, 50:210] = 1
        cv2.ellipse(mask, (130, 150), (28, 60), 0, 180, 360, 1, 4)
    elif case == "tab":  # a boot's pull tab: narrow, but no wire-thin row
        mask[60:280, 90:170] = 1
        mask[280:300, 90:240] = 1
        mask[40:60, 122:138] = 1
    elif case == "strap":  # a thin strap to one side of the garment
        mask = shirt_mask(h, w, 110, 50, 160).astype(np.uint8)
        cv2.line(mask, (80, 112), (80, 60), 1, 3)
        cv2.ellipse(mask, (80, 50), (10, 10), 0, 180, 420, 1, 3)
    elif case == "shoe":  # a shoe lies flat: a lace standing up from it is no hook
        mask[200:260, 20:240] = 1
        cv2.line(mask, (130, 200), (130, 170), 1, 3)
        cv2.ellipse(mask, (130, 160), (10, 10), 0, 180, 420, 1, 3)
    else:  # a mannequin's neck is a solid post, too wide for a hook (drop_neck's business)
        mask = shirt_mask(h, w, 110, 50, 160).astype(np.uint8)
        mask[50:115, 110:150] = 1
    assert np.array_equal(drop_hook(mask > 0), mask > 0)
