"""Generated photos and encoded image bytes."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw


def encode(img: Image.Image, fmt: str = "PNG", **params: Any) -> bytes:
    """An image as bytes in a Pillow format, or as HEIC for "HEIF" (pillow-heif's encoder)."""
    buf = io.BytesIO()
    if fmt == "HEIF":  # the runtime's pi-heif only decodes; pillow-heif's opener is never registered here
        import pillow_heif

        pillow_heif.from_pillow(img).save(buf, **params)
    else:
        img.save(buf, fmt, **params)
    return buf.getvalue()


def png(image: Image.Image) -> bytes:
    """A photo as PNG bytes."""
    return encode(image, "PNG")


def photos(n: int, seed: int = 0, size: int = 28) -> list[Image.Image]:
    """Distinct shop-style product photos: a few dark shapes at random places on white, size × size."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.new("L", (size, size), 255)
        draw = ImageDraw.Draw(img)
        for _ in range(3):
            x0, y0 = (int(v) for v in rng.integers(0, size * 2 // 3, 2))
            w, h = (int(v) for v in rng.integers(size // 5, size // 2, 2))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape([x0, y0, x0 + w, y0 + h], fill=int(rng.integers(0, 160)))
        out.append(img)
    return out


def noise_photos(n: int = 5, seed: int = 1) -> list[Image.Image]:
    """Random RGB photos of assorted shapes (no two the same size)."""
    rng = np.random.default_rng(seed)
    shapes = [(40 + 9 * i, 70 - 7 * i) for i in range(n)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in shapes]


def product_photo(size: tuple[int, int] = (96, 120)) -> Image.Image:
    """A dark, asymmetric 'product' on white in four grey levels (rotations and flips change the model input)."""
    img = np.full((size[1], size[0]), 255, np.uint8)
    img[20:100, 15:60] = 40
    img[20:45, 60:85] = 90
    img[70:100, 50:58] = 150
    return Image.fromarray(img)


def jpeg_with_gps(image: Image.Image) -> bytes:
    """A photo as JPEG bytes carrying EXIF with GPS coordinates and a camera make."""
    exif = Image.Exif()
    exif[0x010F] = "PrivateCam"
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 18.0)}
    return encode(image.convert("RGB"), "JPEG", exif=exif)


def png_with_header(width: int, height: int) -> bytes:
    """A PNG of a few hundred bytes whose IHDR declares width x height (a decompression-bomb shape)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + payload))
        return struct.pack(">I", len(payload)) + kind + payload + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(64 * 1024), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def as_array(data: bytes) -> np.ndarray:
    """Decoded pixels of image bytes."""
    return np.asarray(Image.open(io.BytesIO(data)))


def write_folder(root: Path, n: int, seed: int = 0) -> Path:
    """n product photos, half of them under a category folder."""
    for i, p in enumerate(photos(n, seed)):
        folder = root / ("Bag" if i % 2 else "misc")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"item_{i:03d}.png").write_bytes(png(p))
    return root


def checkerboard() -> Image.Image:
    """A picture that is no product: a black and white checkerboard filling the frame."""
    return Image.fromarray(
        (np.indices((20, 20)).sum(0) % 2 * 255).astype(np.uint8).repeat(15, 0).repeat(15, 1)
    )


def garment(colour: tuple[int, int, int], seed: int = 0, size: tuple[int, int] = (64, 80)) -> Image.Image:
    """A product in one colour on a near-white background: a body and two sleeves, placed by the seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("RGB", size, (246, 246, 244))
    draw = ImageDraw.Draw(img)
    x, y = (int(v) for v in rng.integers(4, 12, 2))
    draw.rectangle([x + 12, y + 8, w - x - 12, h - y - 6], fill=colour)
    draw.rectangle([x, y + 8, x + 12, y + 30 + int(rng.integers(0, 12))], fill=colour)
    draw.rectangle([w - x - 12, y + 8, w - x, y + 30 + int(rng.integers(0, 12))], fill=colour)
    return img


def gradient(width: int = 16, height: int = 12) -> Image.Image:
    """A small RGB image whose pixels all differ, so orientation mistakes show."""
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([xs * 255 // (width - 1), ys * 255 // (height - 1), (xs * 7 + ys * 13) % 256], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


def _s15(value: float) -> bytes:
    """An ICC s15Fixed16Number."""
    return struct.pack(">i", round(value * 65536))


def _icc_tag_xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _s15(x) + _s15(y) + _s15(z)


def _icc_profile(signature: bytes, name: str, tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC v2 profile: the header (device class, colour space and connection space in `signature`), a
    description, a copyright, a D50 white point and the given tags."""
    ascii_name = name.encode() + b"\0"
    description = (
        b"desc" + bytes(4) + struct.pack(">I", len(ascii_name)) + ascii_name + bytes(4 + 4 + 2 + 1 + 67)
    )
    tags = [
        (b"desc", description),
        (b"cprt", b"text" + bytes(4) + b"test data\0"),
        (b"wtpt", _icc_tag_xyz(0.9642, 1.0, 0.8249)),
        *tags,
    ]
    first = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for tag, body in tags:
        data += bytes(-(first + len(data)) % 4)  # tags start on 4-byte boundaries
        table += tag + struct.pack(">II", first + len(data), len(body))
        data += body
    header = (
        struct.pack(">I", first + len(data))
        + bytes(4)
        + struct.pack(">I", 0x02100000)  # version 2.1
        + signature
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + _s15(0.9642)  # the D50 illuminant of the connection space
        + _s15(1.0)
        + _s15(0.8249)
        + bytes(48)
    )
    return header + struct.pack(">I", len(tags)) + table + data


def rgb_icc_profile(name: str, red: tuple, green: tuple, blue: tuple, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB display profile: the primaries' D50 XYZ and one gamma curve for each channel."""
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    primaries = [(b"rXYZ", red), (b"gXYZ", green), (b"bXYZ", blue)]
    return _icc_profile(
        b"mntrRGB XYZ ",
        name,
        [*((tag, _icc_tag_xyz(*xyz)) for tag, xyz in primaries)]
        + [(channel, curve) for channel in (b"rTRC", b"gTRC", b"bTRC")],
    )


def grey_icc_profile(name: str, gamma: float) -> bytes:
    """A minimal ICC v2 grey display profile: one gamma curve from the stored value to luminance."""
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    return _icc_profile(b"mntrGRAYXYZ ", name, [(b"kTRC", curve)])


def cmyk_icc_profile(
    name: str, lab: Callable[[tuple[int, int, int, int]], tuple[float, float, float]]
) -> bytes:
    """A minimal ICC v2 CMYK printer profile: ink amounts (0 or 1 each) to CIELAB at the 16 corners of an
    8-bit lookup table, `lab(c, m, y, k)` giving each corner's colour, interpolated in between."""
    ramp = bytes(range(256))
    grid = b"".join(
        bytes(round(v) for v in _lab8(lab((c, m, y, k))))
        for c in (0, 1)
        for m in (0, 1)
        for y in (0, 1)
        for k in (0, 1)  # the last input varies fastest
    )
    identity = b"".join(_s15(float(i == j)) for i in range(3) for j in range(3))
    table = b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + identity + ramp * 4 + grid + ramp * 3
    return _icc_profile(b"prtrCMYKLab ", name, [(b"A2B0", table)])


def _lab8(lab: tuple[float, float, float]) -> tuple[float, float, float]:
    """CIELAB as an 8-bit ICC v2 table stores it: L 0-100 on 0-255, a and b offset by 128."""
    lightness, a, b = lab
    return (
        min(255.0, max(0.0, lightness * 255 / 100)),
        min(255.0, max(0.0, a + 128)),
        min(255.0, max(0.0, b + 128)),
    )


# Display P3 (what phones shoot in), its primaries adapted to D50 as Apple's profile states them; gamma 2.2 here
DISPLAY_P3 = rgb_icc_profile(
    "Display P3 (test)", (0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841)
)
