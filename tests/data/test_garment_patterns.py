"""Patterns a garment is dressed in for the studio benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from shoplens.data.garment_patterns import CLOTHS, LIGHTNESS, MIN_CONTRAST, PERIOD, draw_cloth, draw_pattern
from shoplens.data.procedural import hex_to_rgb
from shoplens.data.shop_photos import PALETTE


@pytest.mark.parametrize("kind", ["striped", "checked", "dotted", "printed"])
def test_a_pattern_is_drawn_in_the_garments_colour_and_a_second_one_under_its_shading(kind: str) -> None:
    first, size = "navy", 200
    alpha = np.zeros((size + 20, size + 20), np.float32)
    alpha[10:-10, 10:-10] = 1.0
    shade = np.linspace(0.6, 1.0, size + 20, dtype=np.float32)[:, None, None]  # lit from below
    rgb = hex_to_rgb(PALETTE[first]) * shade * np.ones_like(alpha)[..., None]
    meta: dict = {}
    out = draw_pattern(rgb, alpha, first, kind, np.random.default_rng(3), meta)
    second = hex_to_rgb(PALETTE[meta["second_colour"]])
    assert abs(LIGHTNESS[meta["second_colour"]] - LIGHTNESS[first]) >= MIN_CONTRAST
    inside = (out / shade)[10:-10, 10:-10].reshape(-1, 3)  # the shading taken off again
    near_first = np.abs(inside - hex_to_rgb(PALETTE[first])).max(1) < 0.02
    near_second = np.abs(inside - second).max(1) < 0.02
    assert near_first.mean() > 0.15 and near_second.mean() > 0.02  # both colours (gingham's bands blend them)
    if kind == "printed":  # one shape on the upper middle, 20-40 % of the garment's width
        ys, xs = np.nonzero(near_second.reshape(size, size))
        assert ys.mean() < 0.5 * size and abs(xs.mean() - size / 2) < 0.05 * size
        assert 0.18 * size <= xs.max() - xs.min() + 1 <= 0.42 * size
    else:  # repeated across the garment
        rows = near_second.reshape(size, size)
        assert rows[: size // 2].mean() > 0.02 and rows[size // 2 :].mean() > 0.02


@pytest.mark.parametrize("kind", list(CLOTHS))
def test_a_cloth_is_printed_in_two_palette_colours_a_lightness_apart_repeating_at_its_period(
    kind: str,
) -> None:
    h, w = 300, 400
    meta: dict = {}
    cloth = draw_cloth(h, w, kind, np.random.default_rng(3), meta)
    assert cloth.shape == (h, w, 3) and cloth.dtype == np.float32 and cloth.min() >= 0 and cloth.max() <= 1
    base, second = meta["cloth_colours"]
    assert abs(LIGHTNESS[base] - LIGHTNESS[second]) >= MIN_CONTRAST
    assert PERIOD[0] <= meta["cloth_period"] <= PERIOD[1]
    near = [np.linalg.norm(cloth - hex_to_rgb(PALETTE[name]), axis=2) < 0.12 for name in (base, second)]
    assert near[0].mean() > 0.2 and near[1].mean() > 0.05  # the ground and its print, under soft folds
    grey = cloth.mean(axis=2)
    assert grey.std() > 0.08  # busy: not a plain backdrop
