"""Preprocessing: fitting, cropping, trimming, inversion, transparency, batching, normalisation, config."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from shoplens.imaging import (
    PreprocessConfig,
    image_to_array,
    images_to_batch,
    images_to_inputs,
    normalize,
    read_image,
)

BLACK, WHITE = 0, 255


def product(width: int, height: int, box: tuple[int, int, int, int], *, canvas: int = WHITE) -> Image.Image:
    """A grey canvas with a black rectangle (left, top, right, bottom inclusive) standing for the product."""
    img = Image.new("L", (width, height), canvas)
    ImageDraw.Draw(img).rectangle(box, fill=BLACK)
    return img


def content_box(plane: np.ndarray, background: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) inclusive bounds of pixels far from the background value."""
    rows, cols = np.nonzero(np.abs(plane.astype(int) - background) > 60)
    return rows.min(), rows.max(), cols.min(), cols.max()


# --- fitting and cropping -------------------------------------------------------------------------


def test_tall_photo_is_padded_left_and_right() -> None:
    tall = product(40, 80, (0, 0, 39, 79))  # all product, twice as tall as wide
    out = image_to_array(tall, PreprocessConfig())
    assert out.shape == (1, 28, 28) and out.dtype == np.uint8
    plane = out[0]
    assert (plane[:, :7] == WHITE).all() and (plane[:, 21:] == WHITE).all()
    assert (plane[:, 7:21] < 10).all()


def test_wide_photo_is_padded_above_and_below() -> None:
    wide = product(80, 40, (0, 0, 79, 39))
    plane = image_to_array(wide, PreprocessConfig())[0]
    assert (plane[:7] == WHITE).all() and (plane[21:] == WHITE).all()
    assert (plane[7:21] < 10).all()


def test_padding_uses_the_configured_background() -> None:
    wide = product(80, 40, (0, 0, 79, 39))
    plane = image_to_array(wide, PreprocessConfig(background=90))[0]
    assert (plane[:7] == 90).all()


def test_non_square_size_is_height_then_width() -> None:
    tall = product(30, 40, (0, 0, 29, 39))  # exactly the 3:4 aspect of the target
    out = image_to_array(tall, PreprocessConfig(size=(40, 30)))
    assert out.shape == (1, 40, 30)
    assert (out < 10).all()


def test_crop_mode_keeps_the_centre() -> None:
    wide = product(84, 28, (28, 0, 55, 27))  # black centre third, white sides
    plane = image_to_array(wide, PreprocessConfig(resize="crop"))[0]
    assert plane.shape == (28, 28)
    assert (plane < 10).all()
    padded = image_to_array(wide, PreprocessConfig(resize="pad"))[0]
    assert (padded > 200).mean() > 0.5  # the same photo padded still shows the white sides


def test_large_photos_take_the_fast_path_without_changing_the_result() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (30, 40), dtype=np.uint8)
    photo = Image.fromarray(base).resize((4000, 3000), Image.Resampling.BILINEAR)
    start = time.perf_counter()
    fast = image_to_array(photo, PreprocessConfig())
    elapsed_ms = (time.perf_counter() - start) * 1000
    direct = np.asarray(photo.resize((28, 21), Image.Resampling.LANCZOS))
    print(f"4000x3000 L photo -> 28x28 in {elapsed_ms:.1f} ms")
    assert np.abs(fast[0, 3:24].astype(int) - direct).max() <= 12
    assert (fast[0, :3] == WHITE).all() and (fast[0, 24:] == WHITE).all()


# --- trim, invert, transparency, colour -------------------------------------------------------------


def test_trim_makes_a_small_object_fill_the_frame() -> None:
    canvas = product(200, 200, (30, 50, 69, 89))  # 40x40 object in a big white margin
    untrimmed = image_to_array(canvas, PreprocessConfig())[0]
    trimmed = image_to_array(canvas, PreprocessConfig(trim=True))[0]
    assert (untrimmed < 60).mean() < 0.1
    assert (trimmed < 60).mean() > 0.95


def test_trim_on_a_large_photo_finds_the_object_box() -> None:
    photo = product(2400, 1800, (600, 500, 1499, 1099))  # 900x600 object: aspect 3:2
    plane = image_to_array(photo, PreprocessConfig(trim=True))[0]
    top, bottom, left, right = content_box(plane, WHITE)
    assert (left, right) == (0, 27)
    assert abs((bottom - top + 1) - 19) <= 1  # 28 * 2 / 3 rows of product, centred
    assert abs(top - (27 - bottom)) <= 1


def test_trim_uses_the_corner_colour_as_background() -> None:
    photo = product(120, 120, (40, 40, 79, 79), canvas=128)
    plane = image_to_array(photo, PreprocessConfig(trim=True))[0]
    assert (plane < 10).mean() > 0.95


def test_trim_keeps_a_uniform_image_whole() -> None:
    plane = image_to_array(Image.new("L", (50, 50), 77), PreprocessConfig(trim=True))[0]
    assert (plane == 77).all()


def test_invert_turns_a_white_background_black() -> None:
    tall = product(40, 80, (0, 0, 39, 79))
    plane = image_to_array(tall, PreprocessConfig(invert=True))[0]
    assert (plane[:, :7] == BLACK).all()
    assert (plane[:, 7:21] > 245).all()


def test_transparent_background_becomes_white_and_black_after_inversion() -> None:
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 0))  # transparent *black*: its colour must not show
    ImageDraw.Draw(rgba).rectangle((10, 10, 29, 29), fill=(255, 0, 0, 255))
    plain = image_to_array(rgba, PreprocessConfig())[0]
    inverted = image_to_array(rgba, PreprocessConfig(invert=True))[0]
    assert plain[0, 0] == WHITE and plain[27, 27] == WHITE
    assert inverted[0, 0] == BLACK
    assert abs(int(plain[14, 14]) - 76) <= 2  # luma of pure red: the product itself is kept


def test_rgb_mode_keeps_channels_in_order() -> None:
    red = Image.new("RGB", (10, 10), (255, 0, 0))
    out = image_to_array(red, PreprocessConfig(mode="RGB", mean=(0.0,), std=(1.0,)))
    assert out.shape == (3, 28, 28)
    np.testing.assert_array_equal(out[:, 14, 14], [255, 0, 0])


def test_palette_and_grey_inputs_are_accepted() -> None:
    palette = Image.new("RGB", (10, 10), (0, 0, 255)).convert("P")
    assert image_to_array(palette, PreprocessConfig(mode="RGB"))[:, 5, 5].tolist() == [0, 0, 255]
    assert image_to_array(Image.new("L", (10, 10), 40), PreprocessConfig(mode="RGB"))[:, 5, 5].tolist() == [
        40,
        40,
        40,
    ]


# --- batches and normalisation ----------------------------------------------------------------------


def test_images_to_batch_stacks_image_arrays() -> None:
    images = [product(40, 80, (0, 0, 39, 79)), Image.new("RGB", (5, 9), (10, 20, 30))]
    cfg = PreprocessConfig()
    batch = images_to_batch(images, cfg)
    assert batch.shape == (2, 1, 28, 28) and batch.dtype == np.uint8
    for row, img in zip(batch, images, strict=True):
        np.testing.assert_array_equal(row, image_to_array(img, cfg))
    assert images_to_batch([], cfg).shape == (0, 1, 28, 28)


def test_normalize_numbers() -> None:
    batch = np.array([0, 255, 51], dtype=np.uint8).reshape(1, 1, 1, 3)
    out = normalize(batch, PreprocessConfig(mean=(0.5,), std=(0.25,)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(-1), [-2.0, 2.0, -1.2], rtol=1e-6)


def test_normalize_is_per_channel() -> None:
    batch = np.full((2, 3, 2, 2), 255, dtype=np.uint8)
    cfg = PreprocessConfig(mode="RGB", mean=(0.0, 0.5, 1.0), std=(1.0, 0.5, 0.25))
    out = normalize(batch, cfg)
    np.testing.assert_allclose(out[:, :, 0, 0], [[1.0, 1.0, 0.0]] * 2, atol=1e-6)


def test_normalize_rejects_mismatched_batches() -> None:
    with pytest.raises(ValueError, match="3"):
        normalize(np.zeros((1, 1, 4, 4), dtype=np.uint8), PreprocessConfig(mode="RGB"))
    with pytest.raises(ValueError, match="uint8"):
        normalize(np.zeros((1, 1, 4, 4)), PreprocessConfig())


# --- configuration ------------------------------------------------------------------------------------


def test_config_round_trips_through_json() -> None:
    cfg = PreprocessConfig(
        size=(32, 24),
        mode="RGB",
        resize="crop",
        trim=True,
        invert=True,
        background=0,
        mean=(0.1, 0.2, 0.3),
        std=(0.4, 0.5, 0.6),
    )
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["size"] == [32, 24]
    assert PreprocessConfig.from_dict(data) == cfg
    assert cfg.in_chans == 3 and PreprocessConfig().in_chans == 1
    assert PreprocessConfig.from_dict({}) == PreprocessConfig()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"colour": "red"}, "unknown preprocessing keys"),
        ({"size": [28]}, "size"),
        ({"size": [28, 0]}, "size"),
        ({"size": "28x28"}, "size"),
        ({"mode": "CMYK"}, "mode"),
        ({"resize": "stretch"}, "resize"),
        ({"trim": "yes"}, "trim"),
        ({"background": 256}, "background"),
        ({"mean": [0.5, 0.5]}, "mean"),
        ({"mean": ["a"]}, "mean"),
        ({"std": [0.0]}, "std"),
        ({"mode": "RGB", "std": [1.0, 1.0]}, "std"),
    ],
)
def test_from_dict_rejects_bad_keys_and_values(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PreprocessConfig.from_dict(data)


def test_photo_reader_is_one_path_with_cues() -> None:
    photo = Image.new("RGB", (120, 90), (250, 250, 250))
    photo.paste((40, 60, 150), (30, 20, 80, 80))
    cfg = PreprocessConfig(reader="photo")
    array, cues = read_image(photo, cfg)
    assert array.shape == (1, 28, 28) and array.max() > 100 and array[0, 0, 0] == 0  # light product on black
    np.testing.assert_array_equal(image_to_array(photo, cfg), array)
    np.testing.assert_array_equal(images_to_inputs([photo], cfg)[0][0], array)
    assert cues["fg_share"] > 0.1 and read_image(photo, PreprocessConfig())[1] == {}
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg


def test_photo_reader_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="reader must be one of"):
        PreprocessConfig(reader="magic")
    with pytest.raises(ValueError, match="needs mode L"):
        PreprocessConfig(reader="photo", mode="RGB", mean=(0.5,), std=(0.5,))
