"""Reading photos into the model's light-on-black input: polarity, trimming, cut-outs, cues."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

import shoplens.imaging.foreground as foreground
import shoplens.imaging.photo as photo_module
from shoplens.imaging.photo import CUE_NAMES, fit_to_input, read_photo
from tests.imaging.drawn import bricks, iou, jpeg, photo, shirt_mask, trousers_mask


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


def test_the_same_photo_is_always_read_the_same(monkeypatch) -> None:
    # a flat product on pixel noise is a calm stretch on a busy backdrop, found without GrabCut: off here, as GrabCut
    # is what draws at random
    monkeypatch.setattr(foreground, "calm_product", lambda lab, energy: None)
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


@pytest.mark.parametrize("colour", [(200, 90, 40), (40, 70, 150), (20, 20, 20)])
def test_on_a_textured_backdrop_the_input_keeps_the_backdrop_out_of_the_products_edge(
    colour: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    h, w = 400, 400
    shirt = shirt_mask(h, w, 50, 50, 300)
    wall = bricks(h, w, mortar=3).astype(np.uint8)
    plain = np.full((h, w, 3), round(float(wall.mean())), np.uint8)
    alone = read_photo(jpeg(photo(plain, shirt, colour))).array.astype(int)
    on_bricks = read_photo(jpeg(photo(wall, shirt, colour))).array.astype(int)
    # the mask grown by half an input pixel, as on a plain backdrop, would also take in the mortar beside the edge
    monkeypatch.setattr(photo_module, "_near", lambda mask: np.ones(mask.shape, np.float32))
    with_rim = read_photo(jpeg(photo(wall, shirt, colour))).array.astype(int)
    assert np.abs(on_bricks - alone).mean() < 0.9 * np.abs(with_rim - alone).mean()
