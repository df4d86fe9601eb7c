"""Reading photos into the model's light-on-black input: polarity, backgrounds, trimming, masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from shoplens.data.shop_photos import ShopPhotoSpec, render
from shoplens.imaging.background import (
    border_mask,
    busy_border,
    find_seam,
    fit_background,
    is_gradient,
    luma,
    to_lab,
)
from shoplens.imaging.foreground import separate
from shoplens.imaging.photo import CUE_NAMES, fit_to_input, read_photo, working_copy
from tests.imaging.drawn import iou, jpeg, photo, shirt_mask, trousers_mask


def test_fashion_mnist_style_image_comes_out_as_it_went_in() -> None:
    rng = np.random.default_rng(0)
    img = np.zeros((28, 28), np.uint8)
    mask = shirt_mask(28, 28, 0, 1, 27)
    img[mask] = rng.integers(120, 240, mask.sum())
    out = read_photo(Image.fromarray(img)).array
    assert out.shape == (1, 28, 28) and out.dtype == np.uint8
    assert np.abs(out[0].astype(int) - img).mean() < 2.0


def test_dark_product_on_white_is_inverted_trimmed_and_centred() -> None:
    bg = np.full((300, 420, 3), 250, np.uint8)
    mask = trousers_mask(300, 420, 20, 250, 150)
    reading = read_photo(photo(bg, mask, (30, 40, 60)))
    out = reading.array[0]
    assert out.max() > 200  # dark product, bright input
    rows, cols = np.flatnonzero(out.max(1) > 40), np.flatnonzero(out.max(0) > 40)
    assert rows[-1] - rows[0] >= 25  # fitted to the input's height ...
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1.5  # ... and centred
    assert out[:, :6].max() < 10 and out[:, -6:].max() < 10  # the background is black


def test_light_product_on_dark_keeps_its_polarity() -> None:
    bg = np.full((200, 200, 3), 12, np.uint8)
    reading = read_photo(photo(bg, shirt_mask(200, 200, 30, 30, 140), (230, 230, 220)))
    assert reading.array[0].max() > 200 and reading.cues["bg_level"] < 0.1


def test_mid_grey_background_shows_lighter_and_darker_parts() -> None:
    bg = np.full((240, 240, 3), 128, np.uint8)
    mask = shirt_mask(240, 240, 40, 40, 160)
    rgb = bg.copy()
    rgb[mask] = (20, 20, 20)
    rgb[mask & (np.arange(240)[:, None] > 140)] = (240, 240, 240)  # the lower half light
    out = read_photo(Image.fromarray(rgb)).array[0]
    assert out[6:12, 10:18].mean() > 150 and out[20:26, 10:18].mean() > 150


@pytest.mark.parametrize("kind", ["gradient", "texture"])
def test_mask_finds_the_product_on_difficult_backgrounds(kind: str) -> None:
    h, w = 260, 200
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    level = 240 - 130 * xx / w if kind == "gradient" else 170 + 25 * np.sin(xx / 3) * np.sin(yy / 3)
    bg = np.repeat(level[..., None], 3, axis=2)
    truth = trousers_mask(h, w, 60, 30, 150)
    reading = read_photo(photo(bg, truth, (160, 30, 40)))
    small = cv2.resize(truth.astype(np.uint8), reading.mask.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    assert iou(reading.mask, small) > 0.85
    assert reading.array[0, :, :6].max() < 20 and reading.array[0, :, -6:].max() < 20  # no background left


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


def test_the_same_photo_is_always_read_the_same() -> None:
    rng = np.random.default_rng(1)
    h, w = 260, 220
    close_crop = np.zeros((h, w), bool)
    close_crop[12:-12, 10:-10] = (
        True  # a product filling most of the frame: the mask is unsure, GrabCut refines it
    )
    for k in range(10):  # on noisy backdrops; GrabCut starts its colour models from random draws
        noise = rng.normal(0, 8, (h, w, 3))
        img = jpeg(photo(np.clip(200 + noise, 0, 255), close_crop, (150 + 10 * k, 120, 110)))
        first, again = read_photo(img), read_photo(img)
        assert first.cues["grabcut"] == 1.0
        assert np.array_equal(first.array, again.array) and np.array_equal(first.mask, again.mask)


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


def _bricks(h: int, w: int, mortar: int = 2) -> np.ndarray:
    """Grey bricks in courses offset by half a brick, with light mortar lines between them."""
    wall = np.full((h, w, 3), 125.0)
    wall[np.arange(h) % 18 < mortar] = 225  # bed joints
    for top in range(0, h, 18):
        offset = 20 if (top // 18) % 2 else 0
        wall[top : top + 18, [x for x in range(w) if (x + offset) % 40 < mortar]] = 225  # head joints
    return wall


def test_a_product_on_bricks_is_read_without_their_mortar() -> None:
    h, w = 240, 200
    truth = shirt_mask(h, w, 50, 40, 120)
    _, found = separate(np.asarray(jpeg(photo(_bricks(h, w), truth, (170, 40, 40)))))  # a red shirt on a wall
    assert iou(found.mask, truth) > 0.85
    assert not found.mask[:40].any() and not found.mask[200:].any()  # no mortar above or below the shirt


def test_a_border_is_busy_when_what_the_surface_misses_lies_in_many_runs_on_every_side() -> None:
    h, w = 240, 200
    bricks, plain = _bricks(h, w), np.full((h, w, 3), 200.0)
    top_to_bottom, cut_off = trousers_mask(h, w, 0, 60, 240), np.zeros((h, w), bool)
    cut_off[100:, 120:] = True  # a bag cut off by the bottom and right edges
    for backdrop, product, busy in (
        (bricks, shirt_mask(h, w, 50, 40, 120), True),
        (bricks[3:], shirt_mask(h - 3, w, 50, 40, 120), True),  # a joint along the bottom edge, not across it
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


def test_product_touching_the_border_does_not_become_background() -> None:
    rgb = np.full((100, 100, 3), 245, np.uint8)
    rgb[30:100, 20:80] = (20, 20, 90)  # cut off by the bottom edge
    bg, fg = separate(rgb)
    assert bg.luma[50, 50] > 200
    assert fg.mask[60, 50] and not fg.mask[10, 10]


def test_a_product_filling_a_corner_does_not_bend_a_plain_black_backdrop() -> None:
    rgb = np.zeros((224, 224, 3), np.float32)
    rgb[100:, :150] = 110  # cut off by the bottom and left edges, its rim soft as an upscaled image's
    rgb = cv2.GaussianBlur(rgb, (0, 0), 2.0).astype(np.uint8)
    bg = fit_background(to_lab(rgb), luma(rgb))
    assert bg.spread < 1.0 and not bg.textured
    assert float(bg.luma[20, 112]) < 2.0 and float(bg.luma[200, 200]) < 2.0  # black, away from and near it


def test_transparent_png_is_read_on_white() -> None:
    rgba = np.zeros((150, 150, 4), np.uint8)
    mask = trousers_mask(150, 150, 20, 20, 110)
    rgba[mask] = (200, 40, 40, 255)
    out = read_photo(Image.fromarray(rgba, "RGBA")).array[0]
    assert out.max() > 100 and out[:, :6].max() < 10


def test_a_cutout_is_read_with_its_transparency_as_the_product_mask() -> None:
    h, w = 210, 180  # within the reader's working size, so that its mask lines up with the truth
    truth = shirt_mask(h, w, 30, 20, 140)
    shade = np.linspace(238, 255, w)[None, :].repeat(h, 0)  # a white shirt, lit from one side to pure white
    rgba = np.zeros((h, w, 4), np.uint8)  # transparent pixels' colour is anyone's guess: black here
    rgba[..., :3][truth] = shade[truth, None].astype(np.uint8)
    rgba[..., 3][truth] = 255
    cutout = read_photo(Image.fromarray(rgba, "RGBA"))
    flattened = read_photo(Image.fromarray(rgba, "RGBA").convert("RGB").point(lambda v: v or 255))
    assert iou(cutout.mask, truth) > 0.95  # on white alone, white on white would be found only in part
    assert iou(flattened.mask, truth) < 0.9
    silhouette = fit_to_input(truth.astype(np.float32), truth) > 0.5
    assert iou(cutout.array[0] > 0, silhouette) > 0.85  # the whole shirt, faint as white is in Fashion-MNIST


def test_an_opaque_image_with_an_alpha_channel_is_read_like_any_photo() -> None:
    h, w = 210, 180  # within the reader's working size, so that its mask lines up with the truth
    truth = shirt_mask(h, w, 30, 20, 140)
    rgba = np.full((h, w, 4), 255, np.uint8)  # opaque everywhere: the alpha says nothing about the product
    rgba[..., :3][truth] = (30, 40, 90)
    with_alpha, without = (
        read_photo(Image.fromarray(rgba, "RGBA")),
        read_photo(Image.fromarray(rgba[..., :3])),
    )
    assert np.array_equal(with_alpha.mask, without.mask) and iou(with_alpha.mask, truth) > 0.9


def test_blank_and_degenerate_images_give_an_empty_input() -> None:
    blank = read_photo(Image.new("RGB", (300, 200), (240, 240, 240)))
    assert blank.array.max() == 0 and not blank.mask.any()
    assert set(blank.cues) == set(CUE_NAMES)
    thin = read_photo(Image.new("L", (1, 500), 0))
    assert thin.array.shape == (1, 28, 28)
    # A one-row strip of noise.
    noisy = np.random.default_rng(0).integers(0, 256, (1, 292, 3)).astype(np.uint8)
    assert read_photo(Image.fromarray(noisy)).array.shape == (1, 28, 28)
    with pytest.raises(ValueError):
        read_photo(Image.new("RGB", (0, 5)))


def test_aspect_cue_says_whether_the_product_is_wide_or_tall() -> None:
    bg = np.full((240, 320, 3), 248, np.uint8)
    wide = np.zeros((240, 320), bool)
    wide[110:130, 40:280] = True  # a banner-like strip, 12:1
    tall = trousers_mask(240, 320, 20, 120, 200)  # 0.4:1
    assert read_photo(photo(bg, wide, (20, 20, 20))).cues["aspect"] > 2.0
    assert -1.2 < read_photo(photo(bg, tall, (20, 20, 20))).cues["aspect"] < -0.7


def test_fit_keeps_aspect_and_a_thin_product_keeps_a_pixel() -> None:
    mask = np.zeros((100, 100), bool)
    mask[10:90, 50] = True
    out = fit_to_input(mask.astype(np.float32), mask)
    assert (out > 0.5).any(axis=0).sum() >= 1 and (out > 0.5).any(axis=1).sum() >= 27


def test_border_mask_is_at_least_one_pixel() -> None:
    border = border_mask((5, 7))
    assert border[0].all() and border[:, -1].all() and not border[2, 3]


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
