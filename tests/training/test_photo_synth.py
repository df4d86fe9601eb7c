"""Training-side renderers: shop-style photos of garments and pictures that are not products."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shoplens.training.outlier_synth import KINDS, render_outlier
from shoplens.training.photo_synth import render_background, render_photo


def garment() -> np.ndarray:
    """A 28×28 light-on-black block garment."""
    g = np.zeros((28, 28), np.uint8)
    g[2:26, 8:20] = 200
    return g


def test_photo_has_the_garment_where_its_mask_says() -> None:
    photo = render_photo(garment(), np.random.default_rng(0), sides=(120, 200))
    h, w = photo.mask.shape
    assert photo.rgb.shape == (h, w, 3) and photo.rgb.dtype == np.uint8
    assert 120 * 0.5 <= max(h, w) <= 200
    assert 0.02 < photo.mask.mean() < 0.6


def test_photos_are_reproducible_and_varied() -> None:
    a = render_photo(garment(), np.random.default_rng(3)).rgb
    b = render_photo(garment(), np.random.default_rng(3)).rgb
    c = render_photo(garment(), np.random.default_rng(4)).rgb
    assert np.array_equal(a, b) and (a.shape != c.shape or not np.array_equal(a, c))


@pytest.mark.parametrize("kind", ["white", "light", "mid", "dark", "gradient", "texture"])
def test_background_kinds_have_their_lightness(kind: str) -> None:
    bg = render_background((40, 60), np.random.default_rng(1), kind)
    assert bg.shape == (40, 60, 3) and bg.min() >= 0 and bg.max() <= 1
    if kind == "white":
        assert bg.mean() > 0.85
    if kind == "dark":
        assert bg.mean() < 0.3


def test_photo_encodes_to_a_decodable_file() -> None:
    photo = render_photo(garment(), np.random.default_rng(5), sides=(100, 150))
    img = Image.open(io.BytesIO(photo.encode()))
    assert img.size == photo.rgb.shape[1::-1]
    assert img.format == ("JPEG" if photo.jpeg_quality else "PNG")


def test_rejects_what_is_not_a_garment_image() -> None:
    with pytest.raises(ValueError):
        render_photo(np.zeros((32, 32), np.uint8), np.random.default_rng(0))


@pytest.mark.parametrize("kind", KINDS)
def test_every_outlier_kind_renders(kind: str) -> None:
    pic = render_outlier(np.random.default_rng(2), sides=(80, 120), kind=kind)
    assert pic.background == kind and pic.rgb.dtype == np.uint8 and pic.rgb.ndim == 3
    assert 80 * 0.5 <= max(pic.rgb.shape[:2]) <= 120
    if kind != "blank":
        assert pic.rgb.std() > 1.0  # something is drawn
