"""Colour profiles: an image whose file says its numbers mean other colours than sRGB's, converted to sRGB.

An embedded ICC profile (RGB, CMYK or grey; Little CMS through Pillow's ImageCms) or, in a HEIC, an `nclx`
description (shoplens.imaging.nclx). Decoding applies it (`decode_image`); every later step takes pixels as sRGB.
"""

from __future__ import annotations

import functools
import io
import struct

from PIL import Image, ImageCms

from shoplens.imaging.nclx import nclx_to_srgb

# What Pillow and its codecs raise on malformed input (UnidentifiedImageError is an OSError).
PILLOW_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
    RuntimeError,  # the AVIF codec's "Failed to decode image: ..."
)


def in_srgb(img: Image.Image) -> Image.Image:
    """An RGB(A), CMYK or grey image whose file embeds a colour profile other than sRGB, converted to sRGB (CMYK
    to RGB; grey stays grey, on sRGB's tone curve); else img itself.

    Every later step (the model's luminance, named colours, stored copies, which carry no profile) takes pixels
    as sRGB: a phone's Display P3 photo read as its raw numbers would look duller and name colours wrongly, a
    print shop's CMYK photo converted without its profile would glare (full cyan ink as (0, 255, 255)), and a
    black-and-white photo saved with a press's grey profile (Photoshop's "Dot Gain 20%") would read lighter than
    a viewer shows it. A HEIC photo may describe its colour by numbers instead (`nclx`): see `nclx_to_srgb`.
    """
    icc = img.info.get("icc_profile")
    if not icc and isinstance(nclx := img.info.get("nclx_profile"), dict):  # HEIC's colour by numbers
        return nclx_to_srgb(img, nclx) or img
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return img
    if img.mode in ("L", "LA"):
        levels = _grey_levels(bytes(icc))
        if levels is None:
            return img
        return img.point(levels + list(range(256)) if img.mode == "LA" else levels)  # alpha kept as it is
    transform = _srgb_transform(bytes(icc), img.mode)
    if transform is None:
        return img
    try:
        return ImageCms.applyTransform(img, transform)
    except (ImageCms.PyCMSError, *PILLOW_ERRORS):  # keep the pixels as they are, like a viewer without CMS
        return img


@functools.lru_cache(maxsize=16)
def _grey_levels(icc: bytes) -> list[int] | None:
    """The sRGB grey of each of the 256 levels a grey ICC profile describes; None where there is no conversion."""
    transform = _srgb_transform(icc, "L")
    if transform is None:
        return None
    try:  # Little CMS maps grey onto sRGB's neutral axis (R = G = B): one channel is the grey
        ramp = ImageCms.applyTransform(Image.frombytes("L", (256, 1), bytes(range(256))), transform)
    except (ImageCms.PyCMSError, *PILLOW_ERRORS):
        return None
    return list(ramp.getchannel("G").tobytes())


@functools.lru_cache(maxsize=16)
def _srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform from an embedded ICC profile to sRGB for mode (grey to RGB); None for sRGB itself or an
    unusable profile (one for another colour space than the pixels' among them)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():  # sRGB IEC61966-2.1 and its kin
            return None
        # NOCACHE: one transform serves every thread; Little CMS's one-pixel cache would be shared between them
        out = "RGB" if mode in ("CMYK", "L") else mode
        return ImageCms.buildTransform(profile, _srgb_profile(), mode, out, flags=ImageCms.Flags.NOCACHE)
    except (ImageCms.PyCMSError, *PILLOW_ERRORS):
        return None  # not a profile, or not one for the pixels' colour space: the numbers are read as sRGB


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    """Little CMS's built-in sRGB profile."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
