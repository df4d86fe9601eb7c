import io

import numpy as np
import pytest
from PIL import Image

from shoplens.data.studio_scenes import HUNG, SETUPS, WORN_ON_TOP, studio_photo, studio_photos
from shoplens.imaging import decode_image
from shoplens.imaging.background import find_seam, to_lab
from shoplens.imaging.photo import working_copy
from tests.data.test_shop_photos import garment


def test_each_setup_renders_an_upright_photo_with_its_metadata() -> None:
    for setup in SETUPS:
        pixels, meta = studio_photo(garment(), 0, setup, np.random.default_rng(1))  # a T-shirt: every set-up
        assert pixels.dtype == np.uint8 and pixels.shape == (meta["height"], meta["width"], 3)
        assert meta["setup"] == setup and 360 * 0.75 <= max(pixels.shape[:2]) <= 1600


def test_photos_are_deterministic_per_seed_and_take_the_setups_in_turn() -> None:
    images, labels = np.stack([garment(i) for i in range(6)]), np.zeros(6, np.int64)  # all T-shirts
    first = list(studio_photos(images, labels, 5, seed=2))
    again = list(studio_photos(images, labels, 5, seed=2))
    other = list(studio_photos(images, labels, 5, seed=3))
    assert [p.data for p in first] == [p.data for p in again]
    assert [p.data for p in first] != [p.data for p in other]
    assert [p.meta["setup"] for p in first] == list(SETUPS)
    assert {p.meta["test_index"] for p in first} <= set(range(6))


@pytest.mark.parametrize("label", [5, 7, 8, 9])  # sandal, sneaker, bag, ankle boot
def test_shoes_and_bags_are_neither_hung_nor_put_on_a_mannequin(label: int) -> None:
    assert label not in HUNG and label not in WORN_ON_TOP
    for setup in ("hanger", "mannequin"):
        _, meta = studio_photo(garment(), label, setup, np.random.default_rng(4))
        assert meta["setup"] == "plain"


def test_a_seam_photo_steps_in_brightness_where_its_metadata_says() -> None:
    for i in range(4):
        pixels, meta = studio_photo(garment(), 0, "seam", np.random.default_rng([9, i]))
        h = pixels.shape[0]
        row = round(meta["seam_at"] * h)
        edge = pixels[:, :8].astype(np.float32).mean(axis=(1, 2))  # the left edge, clear of the garment
        step = edge[row + h // 20 : row + h // 10].mean() - edge[row - h // 10 : row - h // 20].mean()
        assert abs(step) > 4 and np.sign(step) == np.sign(meta["seam_step"])
        seam = find_seam(to_lab(working_copy(decode_image(_png(pixels)))))
        assert seam is not None  # the reader finds it


def test_unknown_setup_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown set-up"):
        studio_photo(garment(), 0, "lifestyle", np.random.default_rng(0))


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()
