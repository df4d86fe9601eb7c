"""Colour profiles: photos whose embedded ICC profile is not sRGB (Display P3, a press's CMYK, a grey) decode to sRGB
values, checked against the colour science rather than against Little CMS; other profiles leave the pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageCms

from shoplens.imaging import ACCEPTED_FORMATS, decode_image
from tests.support.images import DISPLAY_P3, cmyk_icc_profile, encode, grey_icc_profile


def _p3_to_srgb(rgb: tuple[int, int, int]) -> np.ndarray:
    """What a colour-managed viewer shows for Display P3 values (the test profile's gamma 2.2), as sRGB values."""
    linear = (np.asarray(rgb) / 255) ** 2.2
    p3_to_srgb = np.array([[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0979]])
    out = np.clip(p3_to_srgb @ linear, 0, 1)
    return 255 * np.where(out <= 0.0031308, 12.92 * out, 1.055 * out ** (1 / 2.4) - 0.055)


@pytest.mark.parametrize("fmt", [f for f in ACCEPTED_FORMATS if f != "GIF"])  # GIF carries no ICC profile
def test_a_photo_with_a_display_p3_profile_is_converted_to_srgb(fmt: str) -> None:
    colour = (200, 100, 100)
    photo = Image.new("RGB", (64, 64), colour)
    params = {"JPEG": {"quality": 100}, "WEBP": {"lossless": True}, "AVIF": {"quality": 100}}.get(fmt, {})
    if fmt == "HEIF":
        photo.info["icc_profile"] = DISPLAY_P3  # pillow-heif takes the profile from the image
        params = {"quality": -1}
    else:
        params["icc_profile"] = DISPLAY_P3
    got = np.asarray(decode_image(encode(photo, fmt, **params)).getpixel((32, 32)), dtype=float)
    assert np.abs(got - _p3_to_srgb(colour)).max() <= 3  # (216, 93, 97): redder than the file's numbers


def test_srgb_or_unusable_profiles_leave_the_pixels_and_transparency_as_they_are() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = Image.new("RGBA", (4, 4), (200, 100, 100, 77))
    for icc in (srgb, b"not a colour profile" * 8, DISPLAY_P3[:200]):
        assert decode_image(encode(photo, "PNG", icc_profile=icc)).getpixel((0, 0)) == (200, 100, 100, 77)
    converted = decode_image(encode(photo, "PNG", icc_profile=DISPLAY_P3)).getpixel((0, 0))
    assert converted[3] == 77 and np.abs(np.subtract(converted[:3], _p3_to_srgb((200, 100, 100)))).max() <= 3
    grey = decode_image(encode(Image.new("L", (4, 4), 90), "PNG", icc_profile=DISPLAY_P3))
    assert (grey.mode, grey.getpixel((0, 0))) == ("L", 90)  # an RGB profile on grey pixels is not applied


def _srgb_encoded(luminance: np.ndarray) -> np.ndarray:
    """8-bit sRGB values of linear luminances 0..1."""
    return 255 * np.where(luminance <= 0.0031308, 12.92 * luminance, 1.055 * luminance ** (1 / 2.4) - 0.055)


@pytest.mark.parametrize(("fmt", "mode"), [("PNG", "L"), ("JPEG", "L"), ("PNG", "LA")])
def test_a_grey_photo_is_read_by_its_grey_profile(fmt: str, mode: str) -> None:
    levels = np.repeat(np.arange(0, 256, 17, dtype=np.uint8), 8)[None].repeat(8, axis=0)  # 16 flat steps
    photo = Image.fromarray(levels)
    if mode == "LA":
        photo = Image.merge("LA", (photo, Image.new("L", photo.size, 77)))
    params = {"quality": 100} if fmt == "JPEG" else {}
    linear = grey_icc_profile("Linear grey (test)", gamma=1.0)  # stored values are luminance itself
    decoded = decode_image(encode(photo, fmt, icc_profile=linear, **params))
    assert decoded.mode == mode
    got = np.asarray(decoded.getchannel("L"), dtype=float)[4, 4::8]
    want = _srgb_encoded(levels[0, ::8] / 255)  # mid-grey 136 shows as 193: lighter than its number
    assert np.abs(got - want).max() <= 2, (got, want)
    if mode == "LA":
        assert decoded.getchannel("A").getextrema() == (77, 77)
    plain = decode_image(encode(photo, fmt, **params))  # without a profile the numbers are sRGB's
    assert np.abs(np.asarray(plain.getchannel("L"), dtype=float)[4, 4::8] - levels[0, ::8]).max() <= 1


def _ink_lab(ink: tuple[int, int, int, int]) -> tuple[float, float, float]:
    """The test CMYK profile's colour of each ink corner (neutral paper and black, in-gamut inks)."""
    c, m, y, k = ink
    lightness = 95 * (1 - 0.38 * c) * (1 - 0.5 * m) * (1 - 0.06 * y) * (1 - 0.84 * k)
    return lightness, (-22 * c + 60 * m - 5 * y) * (1 - k), (-28 * c - 3 * m + 80 * y) * (1 - k)


def _srgb_to_lab(rgb: tuple[int, ...]) -> np.ndarray:
    """CIELAB (D50, as ICC's connection space) of 8-bit sRGB."""
    v = np.asarray(rgb[:3]) / 255
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    to_xyz_d50 = np.array([[0.4361, 0.3851, 0.1431], [0.2225, 0.7169, 0.0606], [0.0139, 0.0971, 0.7142]])
    xyz = to_xyz_d50 @ linear / np.array([0.9642, 1.0, 0.8249])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_a_cmyk_photo_is_converted_by_its_own_profile() -> None:
    profile = cmyk_icc_profile("CMYK press (test)", _ink_lab)
    inks = [(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)]
    photo = Image.new("CMYK", (8 * len(inks), 8))
    for i, ink in enumerate(inks):
        photo.paste(tuple(255 * v for v in ink), (8 * i, 0, 8 * i + 8, 8))
    decoded = decode_image(encode(photo, "JPEG", quality=100, icc_profile=profile))
    assert decoded.mode == "RGB"
    for i, ink in enumerate(inks[:3]):  # each ink's hue and chroma as the profile states them
        got = _srgb_to_lab(decoded.getpixel((8 * i + 4, 4)))
        want = np.asarray(_ink_lab(ink))
        assert np.hypot(*(got[1:] - want[1:])) <= 6, (ink, got, want)
        assert abs(got[0] - want[0]) <= 6
    black = decoded.getpixel((28, 4))
    assert max(black) - min(black) <= 4 and max(black) < 60  # the profile's black ink is a neutral dark grey
    assert decoded.getpixel((4, 4))[1] < 200  # cyan ink is no longer the naive (0, 255, 255)
    assert decode_image(encode(photo, "JPEG", quality=100)).getpixel((4, 4))[1] > 240  # ... without a profile
