"""Colour described the HEIF way (an `nclx` box: primaries and transfer curve by number, ITU-T H.273), to sRGB.

A HEIC file may say which colours its numbers mean by such numbers instead of an ICC profile: primaries 12 and
transfer 13 are Display P3 with sRGB's curve, 9 is BT.2020. Read as sRGB, such a photo looks duller and names its
colours wrongly, as a P3 photo with an ICC profile would without conversion (`profiles.in_srgb`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np
from PIL import Image

SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
D65 = (0.3127, 0.3290)
_SAME_AS_SRGB = (1, 2)  # BT.709 (sRGB's primaries) and "unspecified", which viewers take as sRGB's
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
_ENCODE_STEPS = 16384  # linear levels fine enough that near black one step moves sRGB by 0.2 of a level
_ROWS = 512  # rows converted at a time: the temporaries of a 12-MP photo stay near 75 MB


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _bt709_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v < 0.081, v / 4.5, ((v + 0.099) / 1.099) ** (1 / 0.45))


# H.273 transfer characteristics of standard-dynamic-range pictures; PQ (16) and HLG (18) are HDR, left as they are
_TRANSFERS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: _bt709_to_linear,
    2: _srgb_to_linear,  # unspecified
    4: lambda v: v**2.2,
    5: lambda v: v**2.8,
    6: _bt709_to_linear,
    8: lambda v: v,
    13: _srgb_to_linear,
    14: _bt709_to_linear,
    15: _bt709_to_linear,
}


def nclx_to_srgb(img: Image.Image, nclx: Mapping[str, object]) -> Image.Image | None:
    """An 8-bit RGB(A) image whose `nclx` colour description is not sRGB's, converted to sRGB; None when it needs
    no conversion or cannot have one (sRGB's or unspecified primaries, an HDR or unknown curve, bad numbers)."""
    table = _conversion(*_description(nclx))
    if table is None or img.mode not in ("RGB", "RGBA"):
        return None
    levels, matrix = table
    pixels = np.asarray(img)
    out = pixels.copy()
    for top in range(0, pixels.shape[0], _ROWS):  # linear light, onto sRGB's primaries, back on sRGB's curve
        linear = np.take(levels, pixels[top : top + _ROWS, :, :3]) @ matrix.T
        out[top : top + _ROWS, :, :3] = _encode_srgb(linear)
    return Image.fromarray(out, img.mode)


def _description(nclx: Mapping[str, object]) -> tuple:
    """The parts of an nclx description that choose the conversion, as hashable numbers (None where missing)."""
    keys = ("red", "green", "blue", "white")
    try:
        xy = tuple(
            (float(nclx[f"color_primary_{k}_x"]), float(nclx[f"color_primary_{k}_y"]))  # type: ignore[arg-type]
            for k in keys
        )
        return int(nclx["color_primaries"]), int(nclx["transfer_characteristics"]), xy  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError):
        return None, None, None


@functools.lru_cache(maxsize=16)
def _conversion(primaries: int | None, transfer: int | None, xy: tuple | None) -> tuple | None:
    """Linear light of each 8-bit level and the matrix from the primaries' linear RGB to sRGB's; None if none."""
    if primaries in _SAME_AS_SRGB or transfer not in _TRANSFERS or xy is None:
        return None
    try:
        source = _rgb_to_xyz(xy[:3], xy[3])
        to_srgb = np.linalg.inv(_rgb_to_xyz(SRGB_PRIMARIES, D65)) @ _adapt(xy[3], D65) @ source
    except (np.linalg.LinAlgError, ZeroDivisionError, FloatingPointError):
        return None
    if not np.isfinite(to_srgb).all() or np.abs(to_srgb - np.eye(3)).max() < 1e-3:
        return None  # sRGB's primaries under another number
    levels = _TRANSFERS[transfer](np.arange(256) / 255).astype(np.float32)
    return levels, to_srgb.astype(np.float32)


def _xyz(x: float, y: float) -> np.ndarray:
    """XYZ of a chromaticity at luminance 1."""
    if not 0 < y <= 1 or not 0 <= x <= 1:
        raise ZeroDivisionError(f"chromaticity ({x}, {y}) is not a colour")
    return np.array([x / y, 1.0, (1 - x - y) / y])


def _rgb_to_xyz(primaries: tuple, white: tuple) -> np.ndarray:
    """The matrix from linear RGB on these primaries to XYZ, white mapping to the white point at luminance 1."""
    columns = np.stack([_xyz(*p) for p in primaries], axis=1)
    return columns * np.linalg.solve(columns, _xyz(*white))


def _adapt(source: tuple, target: tuple) -> np.ndarray:
    """Bradford chromatic adaptation of XYZ from one white point to another."""
    cone = _BRADFORD @ _xyz(*source), _BRADFORD @ _xyz(*target)
    return np.linalg.inv(_BRADFORD) @ np.diag(cone[1] / cone[0]) @ _BRADFORD


def _encode_srgb(linear: np.ndarray) -> np.ndarray:
    """8-bit sRGB values of linear RGB (float32, overwritten), clipped to sRGB's gamut."""
    linear *= _ENCODE_STEPS - 1
    linear += 0.5
    return np.take(_encoding_table(), linear.astype(np.int32), mode="clip")  # out of gamut: clipped


@functools.cache
def _encoding_table() -> np.ndarray:
    """sRGB's 8-bit value of each of _ENCODE_STEPS linear levels (a table: 5× faster than the power per pixel)."""
    v = np.linspace(0.0, 1.0, _ENCODE_STEPS)
    encoded = np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)
    return (encoded * 255 + 0.5).astype(np.uint8)
