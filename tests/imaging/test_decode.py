"""Safe decoding: format sniffing, size limits, broken input, orientation, modes, metadata."""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from shoplens.errors import CorruptImageError, ImageError, ImageTooLargeError, UnsupportedFormatError
from shoplens.imaging import ACCEPTED_FORMATS, decode_image, read_image_file, sniff_format
from tests.support.images import encode, gradient, png_with_header

CONTRACT_ERRORS = (UnsupportedFormatError, ImageTooLargeError, CorruptImageError)


def valid_file(fmt: str) -> bytes:
    """A small valid file of an accepted format."""
    params = {"WEBP": {"lossless": True}, "AVIF": {"quality": 100}, "HEIF": {"quality": 95}}.get(fmt, {})
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
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00",  # an MP4 video
        b"\x00\x00\x00\x18ftypqt  \x00\x00\x00\x00",  # a QuickTime movie
        b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1jpeg",  # an image item of a codec not decoded here
        b"\x00\x00\x00\x10ftypmif1\x00\x00\x00\x00heic",  # heic lies past the box's declared 16 bytes
    ],
)
def test_sniff_returns_none_for_other_content(data: bytes) -> None:
    assert sniff_format(data) is None


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIF"),  # what iPhones write
        (b"\x00\x00\x00\x18ftyphevc\x00\x00\x00\x00msf1hevc", "HEIF"),  # an HEVC image sequence
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1miafheic", "HEIF"),  # structural major brand
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1miafavif", "AVIF"),
        (b"\x00\x00\x00\x18ftypavis\x00\x00\x00\x00msf1avis", "AVIF"),
    ],
)
def test_sniff_names_iso_media_images_by_their_coding_brand(data: bytes, fmt: str) -> None:
    assert sniff_format(data) == fmt


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


def test_without_pi_heif_a_heic_is_unsupported_and_the_message_says_what_is_accepted() -> None:
    script = (
        "import sys; sys.modules['pi_heif'] = None\n"  # as if it were not installed
        "from shoplens.imaging import ACCEPTED_FORMATS, IMAGE_SUFFIXES, decode_image\n"
        "from shoplens.errors import UnsupportedFormatError\n"
        "assert 'HEIF' not in ACCEPTED_FORMATS and '.heic' not in IMAGE_SUFFIXES\n"
        "try:\n"
        "    decode_image(sys.stdin.buffer.read())\n"
        "except UnsupportedFormatError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=valid_file("HEIF"), capture_output=True, check=True
    )
    assert done.stdout.decode().strip() == (
        "not a supported image; accepted formats: JPEG, PNG, WebP, GIF, AVIF"
    )


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
def test_each_format_decodes_to_the_stored_pixels(fmt: str) -> None:
    img = decode_image(valid_file(fmt))
    assert (img.size, img.mode) == ((16, 12), "RGB")
    expected = np.asarray(gradient(), dtype=int)
    tolerance = {"JPEG": 40, "AVIF": 40, "HEIF": 40, "GIF": 64}.get(fmt, 0)  # lossy or palette formats
    assert np.abs(np.asarray(img, dtype=int) - expected).max() <= tolerance


# --- size limits --------------------------------------------------------------------------------------


def test_a_30000_square_png_bomb_is_refused_from_its_header_with_flat_memory() -> None:
    data = png_with_header(30_000, 30_000)
    assert len(data) < 5_000
    limit_before = Image.MAX_IMAGE_PIXELS
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for max_pixels in (40_000_000, 10**12):  # our limit, then Pillow's own bomb error
        with pytest.raises(ImageTooLargeError, match=f"900,000,000 pixels; the limit is {max_pixels:,}"):
            decode_image(data, max_pixels=max_pixels)  # told as our own limit is, whichever refused it
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
    b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
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
