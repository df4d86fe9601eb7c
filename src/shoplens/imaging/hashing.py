"""Perceptual hashes of images as signed 64-bit integers, and fast Hamming distances between them.

A hash is the 64-bit pHash of imagehash, stored as a signed int64 (two's complement) so it fits a
BIGINT column; near-duplicate images have hashes a few bits apart.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from shoplens.imaging.decode import flatten_alpha

HASH_BITS = 64
_SIGN_BIT = 1 << (HASH_BITS - 1)
_MODULUS = 1 << HASH_BITS
_POPCOUNT_TABLE = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_BLOCK_ELEMENTS = 1 << 22  # pairs_within compares this many pairs at a time (32 MiB of int64)


def perceptual_hash(image: Image.Image) -> int:
    """64-bit perceptual hash (pHash) of an image, as a signed int64-range Python int."""
    import imagehash  # on first use: a server that never hashes starts without it

    bits = imagehash.phash(flatten_alpha(image), hash_size=8).hash.flatten()
    return to_signed(int.from_bytes(np.packbits(bits).tobytes(), "big"))


def to_signed(unsigned: int) -> int:
    """Reinterpret an unsigned 64-bit value as signed (two's complement)."""
    if not 0 <= unsigned < _MODULUS:
        raise ValueError(f"not an unsigned 64-bit value: {unsigned}")
    return unsigned - _MODULUS if unsigned & _SIGN_BIT else unsigned


def to_unsigned(signed: int) -> int:
    """Reinterpret a signed 64-bit value as unsigned (two's complement)."""
    if not -_SIGN_BIT <= signed < _SIGN_BIT:
        raise ValueError(f"not a signed 64-bit value: {signed}")
    return signed & (_MODULUS - 1)


def hash_to_hex(value: int) -> str:
    """The 16-digit lowercase hex spelling of a hash (the same text imagehash prints)."""
    return f"{to_unsigned(value):016x}"


def hex_to_hash(text: str) -> int:
    """The signed hash a 16-digit hex spelling stands for."""
    if len(text) != HASH_BITS // 4:
        raise ValueError(f"a hash is {HASH_BITS // 4} hex digits, got {text!r}")
    return to_signed(int(text, 16))


def hamming_distance(a: int, b: int) -> int:
    """Number of bits in which two hashes differ."""
    return (to_unsigned(a) ^ to_unsigned(b)).bit_count()


def hamming_distances(query: int, hashes: np.ndarray) -> np.ndarray:
    """How many bits each of an array of int64 hashes differs from the query in (int64, same shape)."""
    hashes = np.asarray(hashes, dtype=np.int64)
    return _popcount(np.bitwise_xor(hashes, np.int64(to_signed(to_unsigned(query))))).astype(np.int64)


def pairs_within(hashes: np.ndarray, max_distance: int) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, whose hashes differ in at most max_distance bits, in sorted order."""
    hashes = np.asarray(hashes, dtype=np.int64).ravel()
    pairs: list[tuple[int, int]] = []
    block = max(1, _BLOCK_ELEMENTS // max(1, len(hashes)))
    for start in range(0, len(hashes), block):
        rows = hashes[start : start + block]
        # Compare each row only with the hashes after it: the upper triangle of the distance matrix.
        cols = hashes[start:]
        dist = _popcount(np.bitwise_xor(rows[:, None], cols[None, :]))
        i, j = np.nonzero(dist <= max_distance)
        keep = j > i
        pairs.extend(zip((i[keep] + start).tolist(), (j[keep] + start).tolist()))
    return pairs


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits in each int64 element, as uint8."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0; on signed input it counts |x|, hence the view
        return np.bitwise_count(values.view(np.uint64))
    as_bytes = np.ascontiguousarray(values).view(np.uint8).reshape(*values.shape, 8)
    return _POPCOUNT_TABLE[as_bytes].sum(axis=-1, dtype=np.uint8)


VIEW_SIDE = 32
VIEW_TOLERANCE = (
    40  # grey levels from the corner colour still counted as border (JPEG ringing stays inside it)
)


def canonical_view(image: Image.Image, side: int = VIEW_SIDE, tolerance: int = VIEW_TOLERANCE) -> np.ndarray:
    """The product without its plain border, centred on a square of the border colour, side × side grey (uint8).

    Re-framing, padding and re-scaling of the same photo give nearly the same view, so views of
    near-duplicates can be compared pixel by pixel.
    """
    gray = flatten_alpha(image).convert("L")
    pixels = np.asarray(gray)
    border = int(np.median([pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1]]))
    ys, xs = np.nonzero(np.abs(pixels.astype(np.int16) - border) > tolerance)
    if len(ys):
        gray = gray.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    size = max(gray.size)
    square = Image.new("L", (size, size), border)
    square.paste(gray, ((size - gray.width) // 2, (size - gray.height) // 2))
    return np.asarray(square.resize((side, side), Image.Resampling.BILINEAR), dtype=np.uint8)
