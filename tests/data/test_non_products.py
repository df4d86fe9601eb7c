from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from shoplens.data.non_products import SYNTHETIC_KINDS, non_product_photos, package_pictures, picture_variants
from shoplens.imaging import decode_image

skimage = pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def small_set():
    return list(non_product_photos(seed=0, variants=2, per_kind=3))


def test_every_bundled_package_picture_is_in_the_set():
    sources = {source for source, _img in package_pictures()}
    folder = Path(skimage.__file__).parent / "data"
    bundled = {f"skimage/{p.stem}" for p in [*folder.glob("*.png"), *folder.glob("*.jpg")]}
    assert bundled and bundled <= sources  # every file that ships in the wheel loads, offline
    assert {
        "skimage/chelsea",
        "skimage/coffee",
        "skimage/rocket",
        "sklearn/china",
        "sklearn/flower",
    } <= sources
    assert "matplotlib/grace_hopper" in sources


def test_every_non_product_decodes_through_the_safe_decoder(small_set):
    for photo in small_set:
        img = decode_image(photo.data)
        assert img.size == (photo.meta["width"], photo.meta["height"])
        assert min(img.size) >= 8 and photo.meta["set"] == "non_product"


def test_the_set_holds_real_and_synthetic_kinds(small_set):
    kinds = Counter(p.meta["kind"] for p in small_set)
    assert {"photo", "graphic", "document", "scientific", *SYNTHETIC_KINDS} <= set(kinds)
    assert all(kinds[k] == 3 for k in SYNTHETIC_KINDS)
    pictures = len(package_pictures())
    assert sum(kinds[k] for k in ("photo", "graphic", "document", "scientific")) == 2 * pictures
    variants = Counter(p.meta["variant"].split("_")[0] for p in small_set if p.meta["source"] != "synthetic")
    assert variants["whole"] == variants["crop"] == pictures


def test_the_set_is_seeded():
    synthetic = list(non_product_photos(seed=0, variants=0, per_kind=2))
    assert [p.meta["source"] for p in synthetic] == ["synthetic"] * 2 * len(SYNTHETIC_KINDS)
    assert [p.data for p in non_product_photos(seed=0, variants=0, per_kind=2)] == [p.data for p in synthetic]
    other = list(non_product_photos(seed=1, variants=0, per_kind=2))
    assert sum(a.data != b.data for a, b in zip(other, synthetic)) >= len(synthetic) - 1
    _source, picture = package_pictures()[0]
    first = [np.asarray(v) for _n, v in picture_variants(picture, 3, np.random.default_rng(5))]
    again = [np.asarray(v) for _n, v in picture_variants(picture, 3, np.random.default_rng(5))]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_a_default_set_has_a_few_hundred_pictures_of_varied_sizes(small_set):
    assert len(package_pictures()) * 4 + 36 * len(SYNTHETIC_KINDS) >= 300  # variants=4, per_kind=36
    crops = [p for p in small_set if p.meta["source"] != "synthetic"]
    sizes = np.array([max(p.meta["width"], p.meta["height"]) for p in crops])
    assert sizes.min() >= 200 and sizes.max() <= 1200 and len(np.unique(sizes)) > len(sizes) // 2
