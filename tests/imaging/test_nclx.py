"""HEIC colour described by numbers (nclx): Display P3 and BT.2020 photos decode to sRGB values, checked against
the colour science; sRGB's own primaries, HDR curves and nonsense leave the pixels as they are."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shoplens.imaging import ACCEPTED_FORMATS, decode_image
from shoplens.imaging.nclx import nclx_to_srgb
from tests.support.images import encode

pytestmark = pytest.mark.skipif("HEIF" not in ACCEPTED_FORMATS, reason="no HEIC decoder installed")

# linear RGB on each set of primaries (D65 white) to linear sRGB, as published (SMPTE EG 432-1, ITU-R BT.2087)
P3_TO_SRGB = [[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0979]]
BT2020_TO_SRGB = [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]]


def _srgb(linear: np.ndarray) -> np.ndarray:
    v = np.clip(linear, 0, 1)
    return 255 * np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def _heic(img: Image.Image, primaries: int | None, transfer: int = 13) -> bytes:
    nclx = {"color_primaries": primaries, "transfer_characteristics": transfer, "matrix_coefficients": 6}
    return encode(
        img, "HEIF", quality=-1, **({"nclx_profile": {**nclx, "full_range_flag": 1}} if primaries else {})
    )


def test_a_display_p3_heic_without_a_profile_is_converted_to_srgb() -> None:
    colour = (200, 100, 100)
    got = np.asarray(decode_image(_heic(Image.new("RGB", (64, 64), colour), primaries=12)).getpixel((32, 32)))
    v = np.asarray(colour) / 255
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)  # transfer 13: sRGB's curve
    want = _srgb(np.asarray(P3_TO_SRGB) @ linear)
    assert np.abs(got - want).max() <= 2, (got, want)  # (215, 93, 97): redder than the file's numbers


def test_a_bt2020_heic_with_an_sdr_curve_is_converted_and_keeps_its_transparency() -> None:
    colour = (150, 120, 60)
    decoded = decode_image(_heic(Image.new("RGBA", (64, 64), (*colour, 90)), primaries=9, transfer=14))
    v = np.asarray(colour) / 255
    linear = np.where(v < 0.081, v / 4.5, ((v + 0.099) / 1.099) ** (1 / 0.45))  # BT.2020's curve
    want = _srgb(np.asarray(BT2020_TO_SRGB) @ linear)
    got = decoded.getpixel((32, 32))
    assert decoded.mode == "RGBA" and abs(got[3] - 90) <= 1
    assert np.abs(np.subtract(got[:3], want)).max() <= 2, (got, want)


@pytest.mark.parametrize(
    ("primaries", "transfer"),
    [(1, 13), (2, 2), (None, 13), (12, 16), (9, 18)],  # sRGB's, unspecified, none, PQ and HLG (HDR) curves
)
def test_srgb_unspecified_and_hdr_descriptions_leave_the_numbers(
    primaries: int | None, transfer: int
) -> None:
    colour = (200, 100, 100)
    got = decode_image(_heic(Image.new("RGB", (16, 16), colour), primaries, transfer)).getpixel((8, 8))
    assert np.abs(np.subtract(got, colour)).max() <= 1


@pytest.mark.parametrize(
    "nclx",
    [
        {},
        {"color_primaries": "twelve", "transfer_characteristics": 13},
        {"color_primaries": 12, "transfer_characteristics": 13},  # no chromaticities
        {
            "color_primaries": 12,
            "transfer_characteristics": 13,
            **{f"color_primary_{k}_{a}": 0.0 for k in ("red", "green", "blue", "white") for a in "xy"},
        },
        {
            "color_primaries": 12,
            "transfer_characteristics": 13,
            **{f"color_primary_{k}_{a}": 0.3 for k in ("red", "green", "blue", "white") for a in "xy"},
        },  # every primary the same: no matrix
    ],
)
def test_a_description_that_is_not_one_converts_nothing(nclx: dict) -> None:
    assert nclx_to_srgb(Image.new("RGB", (4, 4), (200, 100, 100)), nclx) is None
