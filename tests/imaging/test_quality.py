"""Quality checks: size, blur (at any scale), darkness and washed-out frames, on product-like images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from shoplens.data.fashion_mnist import load_fashion_mnist
from shoplens.errors import DataNotFoundError
from shoplens.imaging.quality import QualityConfig, assess_quality


def shirt(size: int = 28, *, level: int = 220, seed: int = 0) -> Image.Image:
    """A Fashion-MNIST-like product: a bright textured garment on a black background."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (28, 28), 0)
    draw = ImageDraw.Draw(img)
    outline = [(4, 6), (10, 3), (18, 3), (24, 6), (22, 11), (19, 10), (19, 25), (9, 25), (9, 10), (6, 11)]
    draw.polygon(outline, fill=level)
    pixels = np.asarray(img).astype(np.int16)
    texture = rng.integers(-40, 40, size=pixels.shape) * (pixels > 0)
    img = Image.fromarray(np.clip(pixels + texture, 0, 255).astype(np.uint8))
    return img if size == 28 else img.resize((size, size), Image.Resampling.BICUBIC)


@pytest.mark.parametrize("size", [28, 56, 224, 600])
def test_product_photo_at_any_scale_passes(size: int) -> None:
    report = assess_quality(shirt(size))
    assert report.flags == () and report.ok
    assert (report.width, report.height) == (size, size)


def test_measurements_are_reported() -> None:
    report = assess_quality(shirt())
    pixels = np.asarray(shirt()).astype(float)
    assert report.brightness == pytest.approx(pixels.mean(), abs=0.01)
    assert report.contrast == pytest.approx(pixels.std(), abs=0.01)
    assert report.sharpness > QualityConfig().blur_threshold


def test_too_small_below_min_side() -> None:
    small = shirt().resize((20, 28))
    assert "too_small" in assess_quality(small).flags
    assert "too_small" not in assess_quality(shirt()).flags
    assert "too_small" in assess_quality(shirt(), QualityConfig(min_side=32)).flags


@pytest.mark.parametrize("size", [28, 224])
def test_blurred_copy_is_blurry_at_any_scale(size: int) -> None:
    sharp = shirt(size)
    blurred = sharp.filter(ImageFilter.GaussianBlur(2 * size / 28))  # radius 2 at the 28 px scale
    assert "blurry" not in assess_quality(sharp).flags
    report = assess_quality(blurred)
    assert "blurry" in report.flags
    assert report.sharpness < assess_quality(sharp).sharpness / 4


def test_black_frame_is_too_dark_but_dark_background_product_is_not() -> None:
    assert "too_dark" in assess_quality(Image.new("L", (64, 64), 8)).flags
    noisy_black = Image.fromarray(np.random.default_rng(1).integers(0, 30, (64, 64), dtype=np.uint8))
    assert "too_dark" in assess_quality(noisy_black).flags
    # A small bright product on black: the mean is low, but the product is clearly visible.
    small_product = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(small_product).rectangle((11, 10, 16, 17), fill=200)
    report = assess_quality(small_product)
    assert report.brightness < QualityConfig().dark_threshold
    assert "too_dark" not in report.flags


def test_white_frame_is_washed_out_but_product_on_white_is_not() -> None:
    assert "washed_out" in assess_quality(Image.new("RGB", (64, 64), (250, 250, 250))).flags
    haze = Image.fromarray(np.random.default_rng(2).integers(235, 256, (64, 64), dtype=np.uint8))
    assert "washed_out" in assess_quality(haze).flags
    on_white = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(on_white).rectangle((24, 20, 40, 44), fill=30)
    assert "washed_out" not in assess_quality(on_white).flags


def test_transparent_and_colour_images_are_accepted() -> None:
    rgba = shirt(64).convert("RGBA")
    rgba.putalpha(255)
    assert assess_quality(rgba).flags == ()
    assert assess_quality(shirt(64).convert("RGB")).flags == ()


def test_long_thin_strip_is_cheap_and_does_not_crash() -> None:
    strip = Image.new("L", (20_000, 2), 128)
    report = assess_quality(strip)
    assert "too_small" in report.flags


@pytest.mark.slow
def test_real_fashion_mnist_is_rarely_flagged_and_blurred_copies_are() -> None:
    try:
        images = load_fashion_mnist("test").images[:2000, 0]
    except DataNotFoundError:
        pytest.skip("Fashion-MNIST not installed")
    originals = [Image.fromarray(x) for x in images]
    flagged = sum(bool(assess_quality(im).flags) for im in originals)
    blurry = sum("blurry" in assess_quality(im.filter(ImageFilter.GaussianBlur(2))).flags for im in originals)
    assert flagged / len(originals) <= 0.01
    assert blurry / len(originals) >= 0.99
