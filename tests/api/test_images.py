"""What the service makes of real-world image variants: animations, colour modes, EXIF orientation and metadata."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shoplens.imaging import decode_image
from tests.support.images import encode, product_photo
from tests.support.service import classify

pytestmark = pytest.mark.anyio


async def embedding(client, data: bytes) -> np.ndarray:
    """The service's embedding of one uploaded image (200 required)."""
    r = await classify(client, data, embed="true")
    assert r.status_code == 200, r.text
    return np.array(r.json()["results"][0]["embedding"])


def other_product() -> Image.Image:
    """A photo the model sees very differently from product_photo (a thin bar, another place)."""
    img = Image.new("L", product_photo().size, 255)
    img.paste(20, (70, 5, 90, 115))
    return img


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
async def test_animations_are_classified_by_their_first_frame(client, fmt: str) -> None:
    first, second = product_photo().convert("RGB"), other_product().convert("RGB")
    params = {"lossless": True} if fmt == "WEBP" else {}
    animated = encode(first, fmt, save_all=True, append_images=[second], duration=100, loop=0, **params)
    assert Image.open(io.BytesIO(animated)).n_frames == 2
    got = await embedding(client, animated)
    want_first = await embedding(client, encode(first, fmt, **params))
    want_second = await embedding(client, encode(second, fmt, **params))
    np.testing.assert_allclose(got, want_first, atol=1e-5)
    assert not np.allclose(got, want_second, atol=1e-2)  # the two frames really differ for the model


def variants() -> dict[str, tuple[bytes, float]]:
    """The same photo in many modes and encodings, with how close (cosine) each must come to the plain PNG."""
    grey = product_photo()
    rgb = grey.convert("RGB")
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)  # four greys: lossless
    white = palette.getpixel((0, 0))  # background index: transparent, flattened back onto white
    sixteen = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    return {
        "rgba": (encode(rgb.convert("RGBA")), 0.9999),
        "la": (encode(grey.convert("LA")), 0.9999),
        "grayscale": (encode(grey), 0.9999),
        "16-bit": (encode(sixteen), 0.9999),
        "palette+transparency": (encode(palette, transparency=white), 0.9999),
        "cmyk-jpeg": (encode(rgb.convert("CMYK"), "JPEG", quality=95), 0.98),
        "progressive-jpeg": (encode(rgb, "JPEG", quality=95, progressive=True), 0.98),
    }


@pytest.mark.parametrize("name", sorted(variants()))
async def test_colour_modes_and_encodings_are_converted_to_the_same_picture(client, name: str) -> None:
    data, min_cosine = variants()[name]
    if name == "16-bit":
        assert Image.open(io.BytesIO(data)).mode.startswith("I")
    reference = await embedding(client, encode(product_photo()))
    got = await embedding(client, data)
    assert float(got @ reference) >= min_cosine, name


# EXIF orientation n: how the stored pixels relate to the upright photo (the inverse of what a viewer applies).
STORED = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    5: lambda im: im.transpose(Image.Transpose.TRANSPOSE),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),
    7: lambda im: im.transpose(Image.Transpose.TRANSVERSE),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


def oriented(orientation: int, gps: bool = False) -> bytes:
    """The upright photo stored rotated/flipped as a camera would, with its EXIF orientation (and GPS)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    return encode(STORED[orientation](product_photo()), "PNG", exif=exif)


async def test_exif_orientations_1_to_8_give_the_same_prediction(client) -> None:
    upright = await embedding(client, encode(product_photo()))
    for orientation in range(1, 9):
        np.testing.assert_allclose(await embedding(client, oriented(orientation)), upright, atol=1e-5)
    assert not np.allclose(await embedding(client, encode(STORED[6](product_photo()))), upright, atol=1e-3)


async def test_nothing_returned_carries_exif_or_gps(client) -> None:
    data = oriented(6, gps=True)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the upload really has GPS
    r = await classify(client, data, embed="true")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert "exif" not in r.text.lower() and "gps" not in r.text.lower()
    decoded = decode_image(data)
    assert decoded.info == {} and len(decoded.getexif()) == 0
