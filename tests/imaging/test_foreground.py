"""The product mask: faint products, shading and shadows, gradients, textured and blotched backdrops."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from shoplens.data.shop_photos import ShopPhotoSpec, render
from shoplens.imaging.background import (
    is_gradient,
)
from shoplens.imaging.foreground import separate
from shoplens.imaging.photo import working_copy
from tests.imaging.drawn import bricks, iou, jpeg, photo, shirt_mask, trousers_mask


@pytest.mark.parametrize("background, garment", [(244, 232), (18, 27)])  # white on white, black on black
def test_a_garment_faint_against_its_background_is_still_found(background: int, garment: int) -> None:
    h, w = 240, 200
    truth = shirt_mask(h, w, 40, 30, 150)
    img = jpeg(photo(np.full((h, w, 3), background, np.float32), truth, (garment,) * 3))
    _, found = separate(np.asarray(img))
    assert 3.0 <= found.threshold < 7.0  # the second, closer look
    assert iou(found.mask, truth) > 0.8
    empty = jpeg(Image.fromarray(np.full((h, w, 3), background, np.uint8)))
    noise = np.random.default_rng(0).normal(0, 1.5, (h, w, 3))  # sensor noise on a plain backdrop
    plain = jpeg(Image.fromarray(np.clip(background + noise, 0, 255).astype(np.uint8)))
    assert not separate(np.asarray(empty))[1].mask.any() and not separate(np.asarray(plain))[1].mask.any()


@pytest.mark.parametrize("background, garment, panel", [(246, 234, 200), (16, 27, 60)])
def test_a_faint_garment_grows_from_its_strongest_part(background: int, garment: int, panel: int) -> None:
    h, w = 240, 200
    truth = shirt_mask(h, w, 40, 30, 150)
    rgb = np.full((h, w, 3), background, np.float32)
    rgb[truth] = garment  # the garment barely departs from the backdrop ...
    hem = truth & (np.arange(h)[:, None] > 150)  # ... except a darker (lighter) hem, a few % of the photo
    rgb[hem] = panel
    _, found = separate(np.asarray(jpeg(Image.fromarray(rgb.astype(np.uint8)))))
    assert found.threshold < 7.0  # grown at the closer bar ...
    assert iou(found.mask, truth) > 0.8  # ... into the whole garment, not just its hem


def test_a_white_garment_a_shade_lighter_than_its_grey_backdrop_grows_from_its_lightest_part() -> None:
    h, w = 240, 200
    truth = shirt_mask(h, w, 40, 30, 150)
    rgb = np.full((h, w, 3), 222, np.float32)  # light grey: little headroom above it, so ...
    rgb[truth] = 236  # ... the garment departs far in luma (past LOW_CONTRAST) but by under 7 ΔE in colour
    rgb[truth & (np.arange(h)[:, None] > 150)] = 252  # only its lightest part passes the first bar
    _, found = separate(np.asarray(jpeg(Image.fromarray(rgb.astype(np.uint8)))))
    assert found.threshold < 7.0 and iou(found.mask, truth) > 0.8


# A white shirt with shaded folds that pass the first bar (ΔE ≈ 10) or only the closer look (ΔE ≈ 6); the folds alone.
@pytest.mark.parametrize("body, folds", [(241.0, 222), (241.0, 230), (None, 222)])
def test_a_white_garment_under_the_pixel_noise_grows_from_its_folds_where_the_noise_averages_away(
    body: float | None, folds: int
) -> None:
    h, w = 240, 200
    shirt = shirt_mask(h, w, 40, 30, 150)
    yy, xx = np.mgrid[0:h, 0:w]
    fold = shirt & ((np.abs(xx - 105) < 8) | (np.abs(yy - 100) < 6))  # down the front and across the chest
    rgb = np.full((h, w, 3), 246.0, np.float32)
    if body is not None:
        rgb[shirt] = body  # 5 grey levels under the backdrop: within the sensor noise of single pixels
    rgb[fold] = folds
    rgb += np.random.default_rng(0).normal(0, 1.5, (h, w, 1))
    _, found = separate(np.asarray(jpeg(Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)))))
    truth = fold if body is None else shirt  # the whole shirt (IoU 0.24, 0.21 before), the folds alone
    assert iou(found.mask, truth) > 0.85


def test_a_bold_product_does_not_grow_into_its_soft_shadow() -> None:
    h, w = 240, 200
    truth = shirt_mask(h, w, 30, 20, 140)
    shadow = cv2.GaussianBlur(np.roll(truth, (8, 10), axis=(0, 1)).astype(np.float32), (0, 0), 6)
    rgb = np.repeat((248 * (1 - 0.06 * shadow))[..., None], 3, axis=2)  # a faint drop shadow
    rgb[truth] = (25, 35, 70)
    _, found = separate(np.asarray(jpeg(Image.fromarray(rgb.astype(np.uint8)))))
    assert found.threshold >= 7.0 and iou(found.mask, truth) > 0.9


def test_a_soft_blob_of_background_shading_is_dropped_and_the_product_kept() -> None:
    h, w = 240, 200
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shading = 200 - 70 * np.exp(-((yy - 170) ** 2 + (xx - 150) ** 2) / (2 * 22**2))  # a radial spot
    truth = shirt_mask(h, w, 20, 10, 110)
    img = photo(np.repeat(shading[..., None], 3, axis=2), truth, (150, 20, 30))
    _, found = separate(np.asarray(img))
    spot = (yy - 170) ** 2 + (xx - 150) ** 2 < 15**2
    assert found.distance[spot].min() > found.threshold  # the spot stands off the fitted surface ...
    assert not (found.mask & spot).any() and found.components == 1  # ... but its outline is soft
    assert iou(found.mask, truth) > 0.85


@pytest.mark.parametrize("centre, colour", [((150, 120), (40, 60, 150)), ((170, 100), (150, 40, 40))])
def test_a_radial_gradient_peaking_inside_the_frame_is_background_not_product(
    centre: tuple[int, int], colour: tuple[int, int, int]
) -> None:
    h, w = 240, 240
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot(yy - centre[0], xx - centre[1])
    cone = 70 + 170 * (1 - r / r.max())  # brightest under the garment's hem, falling off to every edge
    truth = shirt_mask(h, w, 30, 60, 120)
    img = photo(np.repeat(cone[..., None], 3, axis=2), truth, colour)
    background, found = separate(np.asarray(jpeg(img)))
    assert is_gradient(background)  # fitted again inside the frame ...
    assert iou(found.mask, truth) > 0.85  # ... so the peak around the product is not read as part of it


@pytest.mark.parametrize("level, lift, colour", [(12, 40, (70, 100, 160)), (110, 30, (170, 40, 40))])
def test_a_pool_of_light_short_of_the_edges_of_a_dark_backdrop_is_background_not_product(
    level: int, lift: int, colour: tuple[int, int, int]
) -> None:
    """A studio's spot lights the backdrop around the product and fades before the edges: the border's surface
    is nearly flat (no gradient), so the pool passed for product beside it (the mask was a bag-like blob)."""
    h, w = 240, 240
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pool = lift * np.exp(-0.5 * (((yy - 110) / 50) ** 2 + ((xx - 100) / 50) ** 2))
    truth = trousers_mask(h, w, 60, 130, 120)  # off to the side of the pool's peak
    img = photo(np.repeat((level + pool)[..., None], 3, axis=2), truth, colour)
    _, found = separate(np.asarray(jpeg(img)))
    assert iou(found.mask, truth) > 0.8 and not found.mask[100:120, 90:110].any()  # 0.2–0.3 before


def test_seams_running_to_the_edge_are_dropped_and_a_thin_strap_is_kept() -> None:
    h, w = 240, 200
    truth = shirt_mask(h, w, 50, 40, 120)
    truth[170:200, 98:101] = True  # a 3-px strap hanging below the hem, short of the edge
    rgb = np.full((h, w, 3), 200.0, np.float32)
    rgb[:, 60:62] = rgb[:, 140:142] = 120  # two floorboard seams, through and beside the garment
    rgb[truth] = (150, 30, 40)
    _, found = separate(np.asarray(jpeg(Image.fromarray(rgb.astype(np.uint8)))))
    assert iou(found.mask, truth) > 0.9
    assert not found.mask[:40].any() and not found.mask[215:].any()  # no seam left above or below the garment
    assert found.mask[175:195, 98:101].mean() > 0.8  # the strap stays


def test_a_product_on_blotches_of_colour_is_told_by_the_colours_the_border_lacks() -> None:
    h, w = 240, 200
    backdrop = _clouds(h, w, (200, 60, 200), (60, 190, 70))  # magenta and green clouds: no smooth surface
    truth = shirt_mask(h, w, 40, 30, 140)
    _, found = separate(np.asarray(jpeg(photo(backdrop, truth, (120, 75, 45)))))  # a brown shirt
    assert iou(found.mask, truth) > 0.85


def _clouds(h: int, w: int, a: tuple[int, int, int], b: tuple[int, int, int], seed: int = 3) -> np.ndarray:
    """Soft blotches of two colours, as a busy studio backdrop (no smooth surface fits them)."""
    field = cv2.GaussianBlur(np.random.default_rng(seed).random((h, w)).astype(np.float32), (0, 0), 3)
    mix = np.clip((field - field.mean()) / field.std() * 0.5 + 0.5, 0, 1)[..., None]
    return mix * a + (1 - mix) * b


def test_a_product_cut_off_by_the_edge_of_a_blotched_backdrop_keeps_its_colours() -> None:
    h, w = 240, 200
    backdrop = _clouds(h, w, (200, 60, 200), (60, 190, 70))
    truth = np.zeros((h, w), bool)
    truth[90:, 50:150] = True  # a brown bag cut off by the bottom edge: its colour is on the border too
    _, found = separate(np.asarray(jpeg(photo(backdrop, truth, (120, 75, 45)))))
    assert iou(found.mask, truth) > 0.85


def test_planks_whose_shades_run_across_the_frame_are_background() -> None:
    h, w = 240, 200
    rows = np.arange(h)[:, None, None]
    shade = np.array([215.0, 170.0, 130.0])[(rows // 40) % 3]  # planks of three shades, edge to edge
    grain = 20 * np.sin(np.arange(w)[None, :, None] / 2.0 + rows / 9.0)
    backdrop = np.broadcast_to(shade + grain, (h, w, 1)) * np.array([1.0, 0.85, 0.6])  # a wood's browns
    truth = trousers_mask(h, w, 50, 60, 150)
    _, found = separate(np.asarray(jpeg(photo(backdrop, truth, (40, 60, 160)))))  # blue jeans
    assert iou(found.mask, truth) > 0.85


def test_a_product_on_bricks_is_read_without_their_mortar() -> None:
    h, w = 240, 200
    truth = shirt_mask(h, w, 50, 40, 120)
    _, found = separate(np.asarray(jpeg(photo(bricks(h, w), truth, (170, 40, 40)))))  # a red shirt on a wall
    assert iou(found.mask, truth) > 0.85
    assert not found.mask[:40].any() and not found.mask[200:].any()  # no mortar above or below the shirt


def test_product_touching_the_border_does_not_become_background() -> None:
    rgb = np.full((100, 100, 3), 245, np.uint8)
    rgb[30:100, 20:80] = (20, 20, 90)  # cut off by the bottom edge
    bg, fg = separate(rgb)
    assert bg.luma[50, 50] > 200
    assert fg.mask[60, 50] and not fg.mask[10, 10]


def test_a_faint_garment_does_not_grow_over_a_lit_backdrop_padded_with_its_corner_colour() -> None:
    garment = np.zeros((28, 28), np.uint8)
    shape = shirt_mask(28, 28, 2, 3, 22)
    garment[shape] = np.random.default_rng(0).integers(120, 200, shape.sum())
    spec = ShopPhotoSpec(
        width=311,
        height=311,
        background="dark",
        texture=None,
        blown_out=False,
        colour="black",
        scale=0.58,
        position=(0.92, 0.45),
        tilt=0.0,
        shading=0.47,
        light_gradient=0.07,
        light_angle=2.83,
        vignette=0.016,
        exposure=1.02,
        white_balance=(1.04, 1.01, 0.94),
        shadow_opacity=0.46,
        shadow_blur=0.03,
        shadow_offset=(-0.007, 0.002),
        blur_sigma=0.0,
        noise_sigma=0.014,
        jpeg_quality=76,
        exif_orientation=1,
        seed=1,
    )  # black on black, lit 7 % more on one side
    pixels, _, _ = render(garment, spec)
    padded = np.empty((373, 373, 3), np.uint8)
    padded[:] = pixels[0, 0]  # as a shop pads a photo to a larger canvas, in the colour of its corner
    padded[31:342, 31:342] = pixels
    as_is = separate(working_copy(Image.fromarray(pixels)))[1].mask.mean()
    framed = separate(working_copy(Image.fromarray(padded)))[1].mask.mean()
    # the garment (a smaller share of the larger canvas), not the lit photo inside it (0.38 of the canvas)
    assert framed < 0.75 * as_is
