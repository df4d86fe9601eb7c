"""A product in focus before a scene out of focus (a lifestyle shot): the mask follows the sharp edges."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from shoplens.imaging import foreground
from shoplens.imaging.background import to_lab
from shoplens.imaging.focus import sharp_edges, sharp_hull
from shoplens.imaging.photo import read_photo
from tests.imaging.drawn import iou, jpeg, photo, shirt_mask, trousers_mask


def _scene(h: int, w: int, seed: int, blur: float) -> np.ndarray:
    """A busy scene of large colour blotches (a room, a café table), blurred by blur px (0: in focus)."""
    rng = np.random.default_rng(seed)
    scene = np.zeros((h, w, 3), np.uint8)
    scene[:] = rng.integers(60, 200, 3)
    for _ in range(14):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(w // 10, w // 3)), int(rng.integers(h // 10, h // 3)))
        colour = [int(c) for c in rng.integers(0, 256, 3)]
        cv2.ellipse(scene, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    return cv2.GaussianBlur(scene, (0, 0), blur) if blur else scene


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("garment", ["shirt", "trousers"])
def test_a_product_before_a_blurred_scene_is_read_without_the_scene(seed, garment, monkeypatch) -> None:
    h, w = 224, 192
    truth = (shirt_mask if garment == "shirt" else trousers_mask)(h, w, 40, 30, 130)
    img = jpeg(photo(_scene(h, w, seed, blur=5.0), truth, (25, 35, 90)))  # a navy garment, sharp
    assert iou(read_photo(img).mask, truth) >= 0.85
    monkeypatch.setattr(foreground, "_in_focus", lambda rgb, lab, found: found)
    assert iou(read_photo(img).mask, truth) < 0.75  # the colour mask alone spills into the scene


def test_only_an_out_of_focus_border_gives_a_hull_and_the_hull_holds_the_product() -> None:
    h, w = 224, 192
    truth = shirt_mask(h, w, 40, 30, 130)
    blurred = np.asarray(jpeg(photo(_scene(h, w, 0, blur=5.0), truth, (25, 35, 90))))
    hull = sharp_hull(to_lab(blurred))
    assert hull is not None and hull[truth].mean() > 0.9
    assert hull.mean() < 2 * truth.mean()  # the scene's soft blotches add no edges
    sharp = np.asarray(jpeg(photo(_scene(h, w, 0, blur=0.0), truth, (25, 35, 90))))
    assert (
        sharp_edges(to_lab(sharp)) is None and sharp_hull(to_lab(sharp)) is None
    )  # a scene in focus: no cue


def test_a_product_on_a_plain_backdrop_is_read_as_before(monkeypatch) -> None:
    h, w = 224, 192
    truth = shirt_mask(h, w, 40, 30, 130)
    for level in (235, 120, 20):
        img = jpeg(photo(np.full((h, w, 3), level, np.uint8), truth, (180, 40, 40)))
        before = read_photo(img).mask
        monkeypatch.setattr(foreground, "_in_focus", lambda rgb, lab, found: found)
        assert np.array_equal(read_photo(img).mask, before)
        monkeypatch.undo()
