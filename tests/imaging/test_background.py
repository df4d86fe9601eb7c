"""The background model: surfaces fitted from the border, busy borders, a wall meeting the floor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from shoplens.imaging.background import (
    border_mask,
    busy_border,
    find_seam,
    fit_background,
    luma,
    to_lab,
)
from shoplens.imaging.foreground import separate
from tests.imaging.drawn import bricks, iou, jpeg, photo, shirt_mask, trousers_mask


def test_a_border_is_busy_when_what_the_surface_misses_lies_in_many_runs_on_every_side() -> None:
    h, w = 240, 200
    wall, plain = bricks(h, w), np.full((h, w, 3), 200.0)
    top_to_bottom, cut_off = trousers_mask(h, w, 0, 60, 240), np.zeros((h, w), bool)
    cut_off[100:, 120:] = True  # a bag cut off by the bottom and right edges
    for backdrop, product, busy in (
        (wall, shirt_mask(h, w, 50, 40, 120), True),
        (wall[3:], shirt_mask(h - 3, w, 50, 40, 120), True),  # a joint along the bottom edge, not across it
        (plain, top_to_bottom, False),
        (plain, cut_off, False),
    ):
        rgb = np.asarray(jpeg(photo(backdrop, product, (40, 60, 160))))
        lab = to_lab(rgb)
        assert busy_border(lab, fit_background(lab, luma(rgb)), 7.0) == busy


def test_gradient_background_is_modelled_as_a_surface() -> None:
    h, w = 120, 160
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.repeat((250 - 100 * xx / w - 40 * yy / h)[..., None], 3, axis=2).astype(np.uint8)
    rgb[40:80, 60:100] = 0  # a product in the middle
    bg = fit_background(to_lab(rgb), luma(rgb))
    assert bg.spread < 2.0
    assert abs(float(bg.luma[60, 80]) - (250 - 100 * 80 / w - 40 * 60 / h)) < 4  # under the product too


def _studio_with_floor(h: int, w: int, seam_left: int, seam_right: int, floor: float) -> np.ndarray:
    """A light wall (with a soft sweep of light) meeting a floor `floor` times as bright below a tilted line."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    wall = 244 - 8 * xx / w
    below = yy > seam_left + (seam_right - seam_left) * xx / (w - 1)
    return np.repeat(np.where(below, wall * floor, wall)[..., None], 3, axis=2)


@pytest.mark.parametrize("floor", [0.7, 0.8])
def test_a_wall_meeting_the_floor_behind_the_product_is_background(floor: float) -> None:
    h, w = 300, 240
    truth = trousers_mask(h, w, 60, 40, 200)  # stands across the seam
    rgb = np.asarray(jpeg(photo(_studio_with_floor(h, w, 200, 212, floor), truth, (150, 40, 40))))
    seam = find_seam(to_lab(rgb))
    assert seam is not None and abs(seam[0] - 200.5) <= 2 and abs(seam[1] - 212.5) <= 2
    _, found = separate(rgb)
    assert iou(found.mask, truth) > 0.85  # without the seam the floor joined the product


def test_a_smooth_gradient_or_a_plain_backdrop_has_no_seam() -> None:
    h, w = 200, 160
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32)
    ramp = np.repeat((250 - 60 * yy / h)[..., None], 3, axis=2).astype(
        np.uint8
    )  # light falling off downwards
    plain = np.full((h, w, 3), 240, np.uint8)
    plain[40:160, 40:120] = (30, 30, 120)
    assert find_seam(to_lab(ramp)) is None and find_seam(to_lab(plain)) is None


@pytest.mark.parametrize(
    ("fill", "weave"),
    [((40, 40, 40), False), ((200, 190, 180), True)],  # far darker than any floor; a floor of one colour
)
def test_a_product_filling_the_bottom_edge_to_edge_is_no_floor(
    fill: tuple[int, int, int], weave: bool
) -> None:
    rgb = np.full((200, 200, 3), 245, np.uint8)
    rgb[120:] = fill  # a close-up: the product runs off the left, right and bottom edges
    if weave:
        rgb[120:, ::6] = (fill[0] // 2, fill[1] // 2, fill[2] // 2)
    assert find_seam(to_lab(rgb)) is None
    _, found = separate(rgb)
    assert found.mask[160, 100] and not found.mask[40, 100]


def test_a_product_filling_a_corner_does_not_bend_a_plain_black_backdrop() -> None:
    rgb = np.zeros((224, 224, 3), np.float32)
    rgb[100:, :150] = 110  # cut off by the bottom and left edges, its rim soft as an upscaled image's
    rgb = cv2.GaussianBlur(rgb, (0, 0), 2.0).astype(np.uint8)
    bg = fit_background(to_lab(rgb), luma(rgb))
    assert bg.spread < 1.0 and not bg.textured
    assert float(bg.luma[20, 112]) < 2.0 and float(bg.luma[200, 200]) < 2.0  # black, away from and near it


def test_border_mask_is_at_least_one_pixel() -> None:
    border = border_mask((5, 7))
    assert border[0].all() and border[:, -1].all() and not border[2, 3]
