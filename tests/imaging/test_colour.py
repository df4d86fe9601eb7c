"""Dominant product colours: the background is left out, colours are named and their shares add up."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shoplens.data.product_shapes import SHAPES, render_product_coloured
from shoplens.imaging.colour import (
    PALETTE,
    Colour,
    dominant_colours,
    image_colours,
    name_of,
    palette_similarity,
)
from shoplens.imaging.colour import _lab as lab


def test_a_red_square_on_white_is_red_and_the_background_is_left_out() -> None:
    photo = np.full((120, 160, 3), 245, np.uint8)
    photo[30:90, 40:100] = (184, 50, 46)
    colours = dominant_colours(photo)
    assert [c.name for c in colours] == ["red"] and colours[0].share == 1.0 and colours[0].hex == "#B8322E"


def test_two_colour_product_gives_both_with_their_shares() -> None:
    photo = np.full((100, 100, 3), 240, np.uint8)
    photo[20:80, 20:65] = (31, 42, 72)  # navy: 60 × 45 pixels
    photo[20:80, 65:80] = (232, 200, 64)  # yellow: 60 × 15 pixels
    colours = dominant_colours(photo, k=2)
    assert [c.name for c in colours] == ["navy", "yellow"]
    assert colours[0].share == pytest.approx(0.75, abs=0.03) and sum(
        c.share for c in colours
    ) == pytest.approx(1)


def test_every_palette_shade_is_named_after_itself() -> None:
    for name, value in PALETTE.items():
        rgb = np.array([[int(value[i : i + 2], 16) for i in (1, 3, 5)]], np.uint8)
        assert name_of(lab(rgb)[0]) == name


def test_rendered_products_are_mostly_named_in_the_colour_they_were_drawn() -> None:
    right = 0
    for i in range(12):
        data, expected = render_product_coloured(list(SHAPES)[i % 3], 5_000 + i)
        right += dominant_colours(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))[0].name == expected
    assert right >= 10


def test_not_an_rgb_array_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="expected an RGB image"):
        dominant_colours(np.zeros((10, 10), np.uint8))


def test_a_large_photo_shrunk_first_gives_the_colours_of_the_whole() -> None:
    photo = np.full((2000, 1600, 3), 242, np.uint8)
    photo[300:1700, 400:1000] = (31, 42, 72)  # navy
    photo[300:1700, 1000:1200] = (232, 200, 64)  # yellow
    whole = dominant_colours(photo)
    shrunk = image_colours(Image.fromarray(photo))
    assert [c.name for c in shrunk] == [c.name for c in whole] and whole[0].name == "navy"
    assert [c.share for c in shrunk] == pytest.approx([c.share for c in whole], abs=0.01)
    assert [c.name for c in image_colours(Image.fromarray(photo).convert("P"))][:2] == ["navy", "yellow"]


def test_palette_similarity_is_one_for_the_same_colours_and_falls_with_cielab_distance() -> None:
    red, near_red = Colour("red", "#B8322E", 1.0), Colour("red", "#C0392F", 1.0)
    blue, white = Colour("blue", "#3565A8", 1.0), Colour("white", "#F4F4F2", 0.5)
    assert palette_similarity([red], [red]) == pytest.approx(1.0)
    assert 0.9 < palette_similarity([red], [near_red]) < 1.0
    assert palette_similarity([red], [blue]) < 0.01
    half = palette_similarity([Colour("red", red.hex, 0.5), white], [red])
    assert half == pytest.approx(palette_similarity([red], [Colour("red", red.hex, 0.5), white]))
    assert 0.5 < half < 0.9  # half of it is the same red
    assert palette_similarity([], [red]) == 0.0


def test_a_one_pixel_photo_has_its_one_colour() -> None:
    (colour,) = dominant_colours(np.array([[[200, 20, 20]]], dtype=np.uint8))
    assert colour.name == "red" and colour.share == 1.0


def test_a_cutout_gives_the_colours_of_its_opaque_pixels_only() -> None:
    rgba = np.zeros((120, 160, 4), np.uint8)
    rgba[..., :3] = np.random.default_rng(0).integers(0, 256, (120, 160, 3))  # what the cut-out left behind
    rgba[40:80, 60:100] = (184, 50, 46, 255)  # a red product, a twelfth of the frame
    colours = image_colours(Image.fromarray(rgba, "RGBA"))
    assert [c.name for c in colours] == ["red"] and colours[0].share == 1.0


def test_a_product_mask_must_fit_the_photo() -> None:
    with pytest.raises(ValueError, match="product mask"):
        dominant_colours(np.zeros((10, 10, 3), np.uint8), product=np.ones((5, 5), bool))


@pytest.mark.parametrize(
    ("shade", "name"),
    [
        ("#4A4A4A", "black"),
        ("#555555", "grey"),
        ("#F0F0F0", "white"),
        ("#6A4A34", "brown"),
        ("#1F2A48", "navy"),
    ],
)
def test_a_colour_without_hue_is_named_black_grey_or_white(shade: str, name: str) -> None:
    rgb = np.array([[int(shade[i : i + 2], 16) for i in (1, 3, 5)]], np.uint8)
    assert name_of(lab(rgb)[0]) == name  # the dark greys lie nearer to brown (ΔE 21) than to black or grey
