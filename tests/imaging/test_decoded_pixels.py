"""What a decoded image holds: the first frame of an animation (a HEIC's primary image), EXIF orientation
applied, modes normalised, metadata dropped, transparency flattened, and JPEGs decoded reduced (HEIC and AVIF shrunk
after decoding) but upright.
Colour profiles: test_colour_profiles.py."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from shoplens.errors import ImageTooLargeError
from shoplens.imaging import (
    ACCEPTED_FORMATS,
    IMAGE_SUFFIXES,
    decode_image,
    decode_whole_and_seen,
    flatten_alpha,
)
from tests.support.images import DISPLAY_P3, encode, gradient


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "AVIF"])
def test_animations_give_their_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (8, 6), colour) for colour in ("red", "lime", "blue")]
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=40, **params)
    img = decode_image(data)
    assert img.size == (8, 6)
    assert (
        np.abs(np.subtract(img.getpixel((3, 3))[:3], (255, 0, 0))).max() <= 2
    )  # AVIF is lossy: red, not lime


def test_a_gif_whose_later_frames_are_broken_still_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 6), colour) for colour in ("red", "lime", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40)
    img = decode_image(data[: len(data) - 25])  # cut inside the last frame: it is never read
    assert img.getpixel((0, 0))[:3] == (255, 0, 0)


STORED = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40  # 3 wide, 2 high, every pixel different
UPRIGHT = {  # what a viewer shows for each EXIF orientation, written from the EXIF definitions
    1: STORED,
    2: np.fliplr(STORED),
    3: np.rot90(STORED, 2),
    4: np.flipud(STORED),
    5: STORED.T,
    6: np.rot90(STORED, -1),
    7: np.rot90(STORED, 2).T,
    8: np.rot90(STORED, 1),
}


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_orientation_is_applied(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    img = decode_image(encode(Image.fromarray(STORED), "PNG", exif=exif.tobytes()))
    np.testing.assert_array_equal(np.asarray(img), UPRIGHT[orientation])


def test_jpeg_exif_rotation_turns_a_landscape_file_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    img = decode_image(encode(gradient(32, 16), "JPEG", exif=exif.tobytes()))
    assert img.size == (16, 32)


def test_avif_is_accepted_turned_upright_and_refused_from_its_header_when_too_large() -> None:
    assert "AVIF" in ACCEPTED_FORMATS  # Pillow >= 11.3 wheels decode it with libavif
    exif = Image.Exif()
    exif[0x0112] = 6
    assert decode_image(encode(gradient(32, 16), "AVIF", exif=exif.tobytes())).size == (16, 32)
    data = bytearray(encode(gradient(), "AVIF"))
    ispe = data.index(b"ispe")  # the image's declared width and height
    data[ispe + 8 : ispe + 16] = struct.pack(">II", 7000, 7000)
    with pytest.raises(ImageTooLargeError, match="49,000,000 pixels"):
        decode_image(bytes(data))


def test_heic_is_accepted_turned_upright_and_refused_from_its_header_when_too_large() -> None:
    assert "HEIF" in ACCEPTED_FORMATS  # pi-heif, a dependency, decodes it with libheif and libde265
    assert {".heic", ".heif"} <= IMAGE_SUFFIXES  # folders and manifests take these files for images
    exif = Image.Exif()
    exif[0x0112] = 6  # the encoder stores the turn as the container's rotation, as iPhones do
    upright = decode_image(encode(gradient(32, 16), "HEIF", exif=exif.tobytes()))
    assert upright.size == (16, 32)  # turned once: the orientation the decoder applied is not applied again
    data = bytearray(encode(gradient(64, 64), "HEIF"))  # whole coding blocks: no clean-aperture crop box
    ispe = data.index(b"ispe")  # the image's declared width and height
    data[ispe + 8 : ispe + 16] = struct.pack(">II", 7000, 7000)
    with pytest.raises(ImageTooLargeError, match="49,000,000 pixels"):
        decode_image(bytes(data))


def test_a_heic_of_several_images_gives_its_primary_image_and_keeps_a_cut_out_transparent() -> None:
    import pillow_heif

    frames = [Image.new("RGBA", (8, 6), colour) for colour in ((0, 0, 255, 255), (255, 0, 0, 0))]
    frames[1].putpixel((2, 2), (255, 0, 0, 255))  # red on transparent: a cut-out
    heif = pillow_heif.from_pillow(frames[0])
    heif.add_from_pillow(frames[1])
    buf = io.BytesIO()
    heif.save(buf, quality=-1, primary_index=1)
    img = decode_image(buf.getvalue())
    assert (img.size, img.mode) == ((8, 6), "RGBA")
    assert img.getpixel((0, 0))[3] == 0
    assert np.abs(np.subtract(img.getpixel((2, 2)), (255, 0, 0, 255))).max() <= 8


def _palette_image() -> Image.Image:
    img = Image.new("P", (4, 4), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((0, 0), 0)
    return img


@pytest.mark.parametrize(
    "source, fmt, params, mode, pixel",
    [
        (Image.new("CMYK", (4, 4), (0, 255, 255, 0)), "JPEG", {}, "RGB", (255, 0, 0)),
        (_palette_image(), "PNG", {}, "RGB", (0, 0, 0)),
        (_palette_image(), "PNG", {"transparency": 0}, "RGBA", (0, 0, 0, 0)),
        (_palette_image(), "GIF", {"transparency": 0}, "RGBA", (0, 0, 0, 0)),
        (Image.new("1", (4, 4), 1), "PNG", {}, "L", 255),
        (Image.new("LA", (4, 4), (9, 99)), "PNG", {}, "LA", (9, 99)),
        (Image.new("RGB", (4, 4), (1, 2, 3)), "PNG", {"transparency": (1, 2, 3)}, "RGBA", (1, 2, 3, 0)),
        (Image.new("L", (4, 4), 7), "PNG", {"transparency": 7}, "LA", (7, 0)),
    ],
    ids=["cmyk-jpeg", "palette", "palette-trns", "gif-trns", "1-bit", "la", "rgb-trns", "l-trns"],
)
def test_modes_are_normalised(source: Image.Image, fmt: str, params: dict, mode: str, pixel: object) -> None:
    img = decode_image(encode(source, fmt, **params))
    assert img.mode == mode
    got = img.getpixel((0, 0))
    if fmt == "JPEG":
        assert np.abs(np.subtract(got, pixel)).max() <= 8
    else:
        assert got == pixel


def test_sixteen_bit_png_is_scaled_to_eight_bits() -> None:
    samples = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    img = decode_image(encode(Image.fromarray(samples), "PNG"))
    assert img.mode == "L"
    np.testing.assert_array_equal(np.asarray(img), [[0, 1, 128, 255]])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF", "HEIF"])
def test_metadata_is_stripped(fmt: str) -> None:
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    exif[0x8825] = {1: "N"}  # a GPS sub-IFD
    params: dict[str, object] = {"exif": exif.tobytes(), "icc_profile": b"fake-icc-profile" * 4}
    if fmt == "JPEG":
        params["comment"] = b"shot at home"
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        text = PngInfo()
        text.add_text("Author", "someone")
        params["pnginfo"] = text
    data = encode(gradient(), fmt, **params)
    assert b"secret description" in data
    img = decode_image(data)
    assert img.info == {}
    assert len(img.getexif()) == 0
    assert b"secret" not in encode(img, "PNG")


def test_flatten_alpha_composites_over_the_background() -> None:
    rgba = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (200, 100, 0, 128))
    flat = flatten_alpha(rgba, (255, 255, 255))
    assert flat.mode == "RGB"
    assert flat.getpixel((0, 0)) == (255, 255, 255)
    assert np.abs(np.subtract(flat.getpixel((1, 0)), (227, 177, 127))).max() <= 1
    grey = flatten_alpha(Image.new("LA", (1, 1), (0, 0)), (0, 0, 255))
    assert grey.mode == "L" and abs(grey.getpixel((0, 0)) - 29) <= 1  # luma of pure blue
    rgb = Image.new("RGB", (1, 1), (5, 6, 7))
    assert flatten_alpha(rgb).getpixel((0, 0)) == (5, 6, 7)


def test_flatten_alpha_accepts_other_pillow_modes() -> None:
    assert flatten_alpha(Image.new("YCbCr", (1, 1), (76, 85, 255))).mode == "RGB"
    palette_alpha = _palette_image().convert("PA")
    assert flatten_alpha(palette_alpha).mode == "RGB"


def test_a_large_jpeg_decodes_reduced_but_never_below_at_least() -> None:
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8)).resize(
        (2000, 1500)
    )
    data = encode(photo, "JPEG", quality=90)
    assert decode_image(data).size == (2000, 1500)
    reduced = decode_image(data, at_least=180)
    assert reduced.size == (250, 188) and reduced.mode == "RGB"  # 1/8: both sides still above 180
    assert decode_image(data, at_least=224).size == (500, 375)  # 1/4: 1/8 would leave 188 rows
    whole = np.asarray(decode_image(data).resize(reduced.size, Image.Resampling.BOX), np.float32)
    small = np.asarray(reduced, np.float32)
    assert np.abs(small - whole).mean() < 8 and np.corrcoef(small.ravel(), whole.ravel())[0, 1] > 0.98
    assert decode_image(encode(photo, "PNG"), at_least=224).size == (2000, 1500)  # other formats: whole


@pytest.mark.parametrize("fmt", [f for f in ("HEIF", "AVIF") if f in ACCEPTED_FORMATS])
def test_a_phone_photo_without_reduced_decoding_is_shrunk_upright_before_its_colour_is_converted(
    fmt: str,
) -> None:
    photo = Image.new("RGB", (1200, 900), (200, 100, 100))
    photo.paste((40, 160, 90), (0, 0, 1200, 450))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: the upright photo is 900 wide
    if fmt == "HEIF":
        photo.info["icc_profile"] = DISPLAY_P3  # pillow-heif takes the profile from the image
        data = encode(photo, fmt, quality=-1, exif=exif.tobytes())
    else:
        data = encode(photo, fmt, quality=100, icc_profile=DISPLAY_P3, exif=exif.tobytes())
    whole = decode_image(data)
    assert whole.size == (900, 1200)
    small = decode_image(data, at_least=224)
    assert small.size == (225, 300)  # 1/4, upright: 1/5 would leave 180 columns
    assert decode_image(data, at_least=500).size == (900, 1200)  # no whole factor keeps 500: as it is
    for point in ((56, 10), (170, 290)):  # each half's colour converted from P3 as in the whole decode
        got, want = small.getpixel(point), whole.getpixel((point[0] * 4, point[1] * 4))
        assert np.abs(np.subtract(got, want)).max() <= 2, (point, got, want)
    assert small.getpixel((56, 150))[0] > 210  # (216, 93, 97): converted, not the file's (200, 100, 100)
    assert small.getpixel((170, 150))[1] > small.getpixel((170, 150))[0]  # the stored top is on the right


@pytest.mark.parametrize("fmt", ["JPEG", *(f for f in ("HEIF", "AVIF") if f in ACCEPTED_FORMATS)])
def test_whole_and_seen_are_exactly_the_whole_decode_and_the_reduced_one(fmt: str) -> None:
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (30, 40, 3), np.uint8)).resize(
        (1200, 900)
    )
    photo.info["icc_profile"] = DISPLAY_P3  # converted in both copies
    data = encode(photo, fmt, **({"icc_profile": DISPLAY_P3} if fmt != "HEIF" else {}))
    whole, seen = decode_whole_and_seen(data, at_least=224)
    assert whole.size == (1200, 900) and seen.size == decode_image(data, at_least=224).size == (300, 225)
    assert whole.tobytes() == decode_image(data).tobytes()
    assert seen.tobytes() == decode_image(data, at_least=224).tobytes()  # what /v1/classify reads


@pytest.mark.parametrize(
    ("fmt", "size", "at_least"),
    [("JPEG", (400, 300), 224), ("JPEG", (1200, 900), None), ("PNG", (1200, 900), 224)],
)
def test_without_a_reduction_whole_and_seen_are_one_image(
    fmt: str, size: tuple[int, int], at_least: int | None
) -> None:
    data = encode(gradient(*size), fmt)
    whole, seen = decode_whole_and_seen(data, at_least=at_least)
    assert whole is seen and whole.size == size  # decoded once


def test_a_reduced_jpeg_is_still_turned_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    img = decode_image(encode(gradient(1600, 800), "JPEG", exif=exif.tobytes()), at_least=100)
    assert img.size == (100, 200)
