"""Perceptual hashes: near-duplicates are close, different images far; int64 storage; fast distances."""

from __future__ import annotations

import time

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageEnhance

from shoplens.imaging.hashing import (
    hamming_distance,
    hamming_distances,
    hash_to_hex,
    hex_to_hash,
    pairs_within,
    perceptual_hash,
    to_signed,
    to_unsigned,
)


def product(seed: int, size: int = 64) -> Image.Image:
    """A random arrangement of bright shapes on black, different for each seed."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = rng.integers(0, size * 3 // 4, 2)
        w, h = rng.integers(size // 6, size // 2, 2)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((int(x0), int(y0), int(x0 + w), int(y0 + h)), fill=int(rng.integers(120, 256)))
    return img


def brute_force_pairs(hashes: np.ndarray, max_distance: int) -> list[tuple[int, int]]:
    """The close pairs found one by one with Python integers."""
    values = [int(h) for h in hashes]
    pairs = [(i, j) for i in range(len(values)) for j in range(i + 1, len(values))]
    return [(i, j) for i, j in pairs if hamming_distance(values[i], values[j]) <= max_distance]


def test_identical_images_have_distance_zero() -> None:
    a, b = product(1), product(1)
    assert perceptual_hash(a) == perceptual_hash(b)
    assert hamming_distance(perceptual_hash(a), perceptual_hash(b)) == 0


def test_shifted_or_brightened_copy_is_close() -> None:
    original = product(2)
    shifted = ImageChops.offset(original, 1, 1)
    brighter = ImageEnhance.Brightness(original).enhance(1.2)
    resized = original.resize((200, 200), Image.Resampling.BICUBIC)
    h = perceptual_hash(original)
    for copy in (shifted, brighter, resized, original.convert("RGB")):
        assert hamming_distance(h, perceptual_hash(copy)) <= 8


def test_different_images_are_far_apart() -> None:
    hashes = [perceptual_hash(product(seed)) for seed in range(10, 20)]
    distances = [hamming_distance(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) >= 12
    assert np.mean(distances) > 24


def test_hash_is_signed_int64_and_matches_imagehash() -> None:
    for seed in range(20):
        img = product(seed)
        value = perceptual_hash(img)
        assert -(2**63) <= value < 2**63
        assert np.int64(value) == value  # fits a BIGINT / int64 array without overflow
        assert hash_to_hex(value) == str(imagehash.phash(img))
        assert hex_to_hash(hash_to_hex(value)) == value


@pytest.mark.parametrize("unsigned", [0, 1, 2**63 - 1, 2**63, 2**63 + 5, 2**64 - 1])
def test_sign_conversion_round_trips(unsigned: int) -> None:
    signed = to_signed(unsigned)
    assert -(2**63) <= signed < 2**63
    assert to_unsigned(signed) == unsigned
    assert (signed < 0) == (unsigned >= 2**63)
    assert np.array([signed], dtype=np.int64).view(np.uint64)[0] == unsigned


def test_out_of_range_values_are_rejected() -> None:
    with pytest.raises(ValueError):
        to_signed(2**64)
    with pytest.raises(ValueError):
        to_unsigned(2**63)
    with pytest.raises(ValueError):
        hex_to_hash("abc")


def test_vectorised_distances_match_the_scalar_ones() -> None:
    rng = np.random.default_rng(0)
    hashes = rng.integers(-(2**63), 2**63 - 1, size=1000, dtype=np.int64, endpoint=True)
    hashes[:3] = [-(2**63), -1, 2**63 - 1]
    query = int(hashes[7])
    got = hamming_distances(query, hashes)
    assert got.shape == (1000,) and got[7] == 0
    assert got.tolist() == [hamming_distance(query, int(h)) for h in hashes]
    assert hamming_distances(0, np.array([-1], dtype=np.int64)).tolist() == [64]


def test_distances_to_100k_hashes_are_fast() -> None:
    hashes = np.random.default_rng(1).integers(-(2**63), 2**63 - 1, size=100_000, dtype=np.int64)
    start = time.perf_counter()
    for _ in range(10):
        hamming_distances(12345, hashes)
    assert (time.perf_counter() - start) / 10 < 0.05  # measured ~1 ms


def test_pairs_within_finds_exactly_the_close_pairs() -> None:
    rng = np.random.default_rng(2)
    hashes = rng.integers(-(2**63), 2**63 - 1, size=300, dtype=np.int64)
    hashes[50] = hashes[10] ^ np.int64(0b101)  # 2 bits from 10
    hashes[299] = hashes[10]  # identical to 10
    pairs = pairs_within(hashes, 3)
    expected = brute_force_pairs(hashes, 3)
    assert pairs == expected
    assert {(10, 50), (10, 299), (50, 299)} <= set(pairs)
    assert pairs_within(np.array([], dtype=np.int64), 5) == []


def test_popcount_fallback_for_numpy_1_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    hashes = np.random.default_rng(3).integers(-(2**63), 2**63 - 1, size=500, dtype=np.int64)
    hashes[0] = -1
    expected = hamming_distances(99, hashes)
    monkeypatch.delattr(np, "bitwise_count")  # numpy < 2 has no bitwise_count
    assert hamming_distances(99, hashes).tolist() == expected.tolist()
    assert pairs_within(hashes[:50], 30) == brute_force_pairs(hashes[:50], 30)
