import io
from collections import Counter
from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image

from shoplens.data.shop_photos import (
    BACKGROUND_WEIGHTS,
    PALETTE,
    SCALE_RANGE,
    light_on_dark_photos,
    render,
    sample_spec,
    shop_photos,
)
from shoplens.imaging import decode_image
from tests.support.data import fm_garment


def specs(n: int, small: bool = True, **imposed: str):
    """n drawn conditions; `small` scales canvases down to a long side of at most 400 px (fast tests)."""
    drawn = [sample_spec(np.random.default_rng([7, i]), **imposed) for i in range(n)]
    if not small:
        return drawn
    shrink = [min(1.0, 400 / max(s.width, s.height)) for s in drawn]
    return [
        replace(s, width=round(s.width * k), height=round(s.height * k), blur_sigma=s.blur_sigma * k)
        for s, k in zip(drawn, shrink)
    ]


@pytest.mark.slow
def test_renders_are_deterministic_per_seed_and_differ_between_seeds():
    images, labels = np.stack([fm_garment(i) for i in range(3)]), np.arange(3)
    first = list(shop_photos(images, labels, 2, seed=3))
    again = list(shop_photos(images, labels, 2, seed=3))
    other = list(shop_photos(images, labels, 2, seed=4))
    assert [p.data for p in first] == [p.data for p in again]
    assert [p.meta for p in first] == [p.meta for p in again]
    assert all(a.data != b.data for a, b in zip(first, other))
    assert next(shop_photos(images, labels, 1, seed=3)).data == first[0].data  # rendered alone, the same
    spec = specs(1)[0]
    np.testing.assert_array_equal(render(fm_garment(), spec)[0], render(fm_garment(), spec)[0])


def test_garment_box_has_the_requested_scale_and_stays_in_the_frame():
    for spec in [*specs(10), *specs(2, small=False)[1:]]:
        pixels, alpha, (left, top, right, bottom) = render(fm_garment(), spec)
        assert pixels.shape == (spec.height, spec.width, 3)
        assert 0 <= left < right <= spec.width and 0 <= top < bottom <= spec.height
        rows, cols = np.nonzero(alpha > 0.5)
        assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (left, top, right, bottom)
        fraction = max(right - left, bottom - top) / min(spec.width, spec.height)
        assert abs(fraction - spec.scale) < 0.02, (fraction, spec.scale)


def test_the_pixels_show_the_garment_where_the_metadata_says():
    base = replace(
        specs(1, background="light", colour="navy")[0], tilt=0.0, shadow_opacity=0.0, exif_orientation=1
    )
    for position in ((0.0, 0.0), (1.0, 1.0), (0.3, 0.7)):
        spec = replace(base, position=position, blur_sigma=0.0)
        photo = _encode(spec)
        pixels = np.asarray(decode_image(photo.data).convert("L"), dtype=np.int16)
        dark = pixels < 150  # navy garment on a near-white studio background
        rows, cols = np.nonzero(dark)
        left, top, right, bottom = photo.meta["box"]
        assert abs(cols.min() - left) <= 3 and abs(cols.max() + 1 - right) <= 3
        assert abs(rows.min() - top) <= 3 and abs(rows.max() + 1 - bottom) <= 3


def _encode(spec):
    from shoplens.data.shop_photos import shop_photo

    return shop_photo(fm_garment(), 0, 0, spec)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_files_decode_upright_through_shoplens(orientation):
    spec = replace(specs(1)[0], width=300, height=200, exif_orientation=orientation, jpeg_quality=95)
    photo = _encode(spec)
    upright, _alpha, _box = render(fm_garment(), spec)
    stored = Image.open(io.BytesIO(photo.data))
    assert stored.getexif()[0x0112] == orientation
    assert stored.size == ((200, 300) if orientation in (6, 8) else (300, 200))  # pixels really stored turned
    decoded = np.asarray(decode_image(photo.data).convert("L"), dtype=np.float32)
    upright = np.asarray(Image.fromarray(upright).convert("L"), dtype=np.float32)
    assert decoded.shape == upright.shape

    def distance(a: np.ndarray, b: np.ndarray) -> float:  # grey, smoothed: the sensor noise and JPEG fade out
        return float(np.abs(cv2.GaussianBlur(a, (0, 0), 2) - cv2.GaussianBlur(b, (0, 0), 2)).mean())

    assert distance(decoded, upright) < 3
    assert distance(decoded, upright) < distance(decoded, upright[::-1, ::-1].copy()) / 3  # not left turned
    assert photo.meta["exif_orientation"] == orientation


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def _garment_lab(spec) -> np.ndarray:
    """Median CIELAB colour of the decoded photo inside the garment (its alpha eroded: no edge pixels)."""
    pixels = np.asarray(decode_image(_encode(spec).data).convert("RGB"))
    _upright, alpha, _box = render(fm_garment(), spec)
    core = cv2.erode((alpha > 0.99).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return np.median(_lab(pixels[core]), axis=0)


@pytest.mark.slow
def test_the_garment_has_its_named_colour_on_light_backgrounds():
    for name, hex_colour in PALETTE.items():
        named = _lab(np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], np.uint8))[0]
        spec = replace(specs(1, background="light", colour=name)[0], exif_orientation=1)
        neutral = replace(spec, light_gradient=0.0, vignette=0.0, exposure=1.0, white_balance=(1.0, 1.0, 1.0))
        assert np.linalg.norm(_garment_lab(neutral) - named) < 5, name
        assert np.linalg.norm(_garment_lab(spec) - named) < 15, name  # under the photo's own light and camera
        assert _encode(spec).meta["colour_hex"] == hex_colour


def test_conditions_cover_the_documented_variety():
    drawn = specs(400, small=False)
    backgrounds = Counter(s.background for s in drawn)
    assert set(backgrounds) == set(BACKGROUND_WEIGHTS)
    assert {s.texture for s in drawn if s.background == "textured"} == {"fabric", "wood", "noise", "paper"}
    assert {s.colour for s in drawn} == set(PALETTE)
    assert any(s.colour == "white" and s.background == "light" for s in drawn)
    assert any(s.colour == "black" and s.background == "dark" for s in drawn)
    scales = [s.scale for s in drawn]
    assert SCALE_RANGE[0] <= min(scales) < 0.45 and 0.9 < max(scales) <= SCALE_RANGE[1]
    sides = [max(s.width, s.height) for s in drawn] + [min(s.width, s.height) for s in drawn]
    assert min(sides) >= 200 and max(sides) <= 2000 and max(sides) > 1500
    assert any(s.width > s.height for s in drawn) and any(s.height > s.width for s in drawn)
    assert {s.exif_orientation for s in drawn} == {1, 3, 6, 8}
    assert 0.12 < np.mean([s.exif_orientation != 1 for s in drawn]) < 0.28
    assert {s.jpeg_quality for s in drawn} <= set(range(60, 96)) and min(s.jpeg_quality for s in drawn) < 63


def test_light_on_dark_set_holds_originals_upscaled_copies_and_renders():
    images, labels = np.stack([fm_garment(i) for i in range(6)]), np.arange(6) % 10
    photos = list(light_on_dark_photos(images, labels, 6, seed=0))
    variants = [p.meta["variant"] for p in photos]
    assert variants[0] == variants[3] == "original_png" and variants[2] == variants[5] == "colourised"
    assert variants[1].startswith("upscaled_")
    first = photos[0]
    original = np.asarray(decode_image(first.data))
    np.testing.assert_array_equal(original, images[first.meta["test_index"]])
    render_meta = photos[2].meta
    assert render_meta["background"] == "dark" and render_meta["label"] == labels[render_meta["test_index"]]
    assert all(decode_image(p.data).size == (p.meta["width"], p.meta["height"]) for p in photos)
