"""Safe decoding: format sniffing, size limits, broken input, orientation, modes, metadata."""

from __future__ import annotations

import os
import resource
import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from shoplens.errors import CorruptImageError, ImageError, ImageTooLargeError, UnsupportedFormatError
from shoplens.imaging import ACCEPTED_FORMATS, decode_image, flatten_alpha, read_image_file, sniff_format
from tests.support.images import encode, png_with_header

CONTRACT_ERRORS = (UnsupportedFormatError, ImageTooLargeError, CorruptImageError)


def gradient(width: int = 16, height: int = 12) -> Image.Image:
    """A small RGB image whose pixels all differ, so orientation mistakes show."""
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([xs * 255 // (width - 1), ys * 255 // (height - 1), (xs * 7 + ys * 13) % 256], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


def valid_file(fmt: str) -> bytes:
    """A small valid file of an accepted format."""
    params = {"WEBP": {"lossless": True}, "AVIF": {"quality": 100}}.get(fmt, {})
    return encode(gradient(), fmt, **params)


def assert_contract(data: bytes, max_pixels: int | None = None) -> None:
    """decode_image returns a clean loaded image or raises exactly one of the three documented errors."""
    kwargs = {} if max_pixels is None else {"max_pixels": max_pixels}
    try:
        img = decode_image(data, **kwargs)
    except CONTRACT_ERRORS:
        return
    assert img.mode in ("L", "LA", "RGB", "RGBA")
    assert img.width > 0 and img.height > 0
    assert img.info == {}
    assert len(img.tobytes()) == img.width * img.height * len(img.getbands())


# --- format sniffing -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_sniff_recognises_each_accepted_format_from_its_bytes(fmt: str) -> None:
    assert sniff_format(valid_file(fmt)) == fmt


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"GIF90a",
        b"BM" + bytes(60),
        b"II*\x00" + bytes(60),
        b"\x89PNX\r\n\x1a\n",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",  # HEIC: the same container, a codec Pillow lacks
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00",  # an MP4 video
    ],
)
def test_sniff_returns_none_for_other_content(data: bytes) -> None:
    assert sniff_format(data) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b"<svg><image href='data:image/png;base64,iVBORw0KGgo='/></svg>",
        b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
        b"<!doctype html><html><body><img src=x></body></html>",
        b"just some text, Content-Type: image/png",
        b"PK\x03\x04" + bytes(26),
        b"BM" + bytes(60),
        b"II*\x00\x08\x00\x00\x00" + bytes(40),
        bytes(range(256)),
    ],
    ids=["empty", "svg", "svg-embedding-png", "pdf", "eps", "html", "text", "zip", "bmp", "tiff", "random"],
)
def test_non_images_are_unsupported_and_the_message_lists_accepted_formats(data: bytes) -> None:
    with pytest.raises(UnsupportedFormatError, match="accepted formats: JPEG, PNG, WebP, GIF"):
        decode_image(data)


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_each_format_decodes_to_the_stored_pixels(fmt: str) -> None:
    img = decode_image(valid_file(fmt))
    assert (img.size, img.mode) == ((16, 12), "RGB")
    expected = np.asarray(gradient(), dtype=int)
    tolerance = {"JPEG": 40, "AVIF": 40, "GIF": 64}.get(fmt, 0)  # lossy or palette formats
    assert np.abs(np.asarray(img, dtype=int) - expected).max() <= tolerance


# --- size limits --------------------------------------------------------------------------------------


def test_a_30000_square_png_bomb_is_refused_from_its_header_with_flat_memory() -> None:
    data = png_with_header(30_000, 30_000)
    assert len(data) < 5_000
    limit_before = Image.MAX_IMAGE_PIXELS
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for max_pixels in (40_000_000, 10**12):  # our limit, then Pillow's own bomb error
        with pytest.raises(ImageTooLargeError):
            decode_image(data, max_pixels=max_pixels)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 50
    assert limit_before == Image.MAX_IMAGE_PIXELS


def test_pillows_bomb_warning_becomes_an_error_and_does_not_escape() -> None:
    pixels = 10_000 * 10_000
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < pixels < 2 * Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageTooLargeError):
            decode_image(png_with_header(10_000, 10_000), max_pixels=10**9)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_max_pixels_is_an_inclusive_limit() -> None:
    data = encode(Image.new("L", (100, 50)), "PNG")
    assert decode_image(data, max_pixels=5_000).size == (100, 50)
    with pytest.raises(ImageTooLargeError, match="5,000 pixels; the limit is 4,999"):
        decode_image(data, max_pixels=4_999)


def test_oversized_webp_canvas_is_refused_before_pillow_decodes_it() -> None:
    width, height = 9_000, 8_000  # under Pillow's own bomb limit, over ours
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4)
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + bytes(64)
    with pytest.raises(ImageTooLargeError, match="9000x8000"):
        decode_image(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_oversized_gif_screen_and_jpeg_frame_are_refused() -> None:
    gif = bytearray(valid_file("GIF"))
    gif[6:10] = struct.pack("<HH", 60_000, 60_000)
    with pytest.raises(ImageTooLargeError):
        decode_image(bytes(gif))
    jpeg = bytearray(valid_file("JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 20_000, 20_000)
    with pytest.raises(ImageTooLargeError):
        decode_image(bytes(jpeg))


@pytest.mark.parametrize("width, height", [(0, 10), (10, 0)])
def test_zero_sized_images_are_corrupt(width: int, height: int) -> None:
    with pytest.raises(CorruptImageError):
        decode_image(png_with_header(width, height))
    gif = bytearray(valid_file("GIF"))
    descriptor = gif.index(b",\x00\x00\x00\x00")  # image separator, frame at (0, 0)
    gif[6:10] = gif[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    with pytest.raises(CorruptImageError):
        decode_image(bytes(gif))


# --- broken input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
@pytest.mark.parametrize("cut", ["half", "tail"])
def test_truncated_files_are_corrupt(fmt: str, cut: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)  # noise: pixel data runs to the end of the file
    kept = len(data) // 2 if cut == "half" else len(data) - 40
    with pytest.raises(CorruptImageError, match="cannot decode"):
        decode_image(data[:kept])


def test_corrupt_message_does_not_leak_python_object_reprs() -> None:
    with pytest.raises(CorruptImageError) as caught:
        decode_image(b"\x89PNG\r\n\x1a\n" + bytes(40))
    assert "BytesIO" not in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2_000))
@pytest.mark.slow
def test_contract_holds_for_arbitrary_bytes(data: bytes) -> None:
    assert_contract(data)


MAGICS = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"GIF87a",
    b"RIFF\x10\x00\x00\x00WEBPVP8 ",
    b"\x00\x00\x00\x1cftypavif",
)


@settings(max_examples=250, deadline=None)
@given(st.sampled_from(MAGICS), st.binary(max_size=500))
def test_contract_holds_for_a_valid_magic_followed_by_garbage(magic: bytes, tail: bytes) -> None:
    assert_contract(magic + tail)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(ACCEPTED_FORMATS),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
    st.floats(0.0, 1.0),
    st.booleans(),
)
@pytest.mark.slow
def test_contract_holds_for_mutated_and_truncated_valid_files(
    fmt: str, flips: list[tuple[int, int]], keep: float, truncate: bool
) -> None:
    data = bytearray(valid_file(fmt))
    for position, value in flips:
        data[position % len(data)] = value
    if truncate:
        data = data[: int(len(data) * keep)]
    assert_contract(bytes(data), max_pixels=1_000_000)


# --- animation, orientation, modes, metadata -----------------------------------------------------


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


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF"])
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


def test_read_image_file_reads_and_decodes(tmp_path) -> None:
    path = tmp_path / "photo.bin"  # the name says nothing; the bytes decide
    path.write_bytes(valid_file("PNG"))
    assert read_image_file(path).size == (16, 12)
    assert read_image_file(os.fspath(path), max_bytes=path.stat().st_size).size == (16, 12)


def test_read_image_file_refuses_files_over_max_bytes(tmp_path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(valid_file("PNG"))
    with pytest.raises(ImageTooLargeError, match="bytes"):
        read_image_file(path, max_bytes=path.stat().st_size - 1)


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_read_image_file_reports_unreadable_paths(tmp_path, make: str) -> None:
    path = tmp_path / "nothing.png"
    if make == "directory":
        path.mkdir()
    with pytest.raises(ImageError, match=r"cannot read .*nothing\.png") as caught:
        read_image_file(path)
    assert type(caught.value) is ImageError


def test_read_image_file_names_the_file_in_decode_errors(tmp_path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(UnsupportedFormatError, match=r"notes\.png"):
        read_image_file(path)


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


def test_a_reduced_jpeg_is_still_turned_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    img = decode_image(encode(gradient(1600, 800), "JPEG", exif=exif.tobytes()), at_least=100)
    assert img.size == (100, 200)
