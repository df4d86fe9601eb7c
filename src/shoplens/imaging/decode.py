"""Safe decoding of untrusted image bytes into plain, metadata-free Pillow images."""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import warnings
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

from shoplens.errors import (
    AspectRatioError,
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedFormatError,
)
from shoplens.imaging.profiles import PILLOW_ERRORS as _DECODE_ERRORS
from shoplens.imaging.profiles import in_srgb


def _register_heif() -> bool:
    """Let Pillow open HEIC/HEIF files with pi-heif's decoder (libheif, libde265) when it is installed."""
    try:
        import pi_heif
    except ImportError:  # HEIC is then answered like any format nobody can decode here
        return False
    # Only the primary image is read: thumbnails, depth maps and other auxiliary images are never parsed.
    pi_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    return True


# AVIF where this Pillow was built with libavif (the PyPI wheels are), HEIF (iPhones' HEIC) where pi-heif is
# installed (a dependency): other installations answer them as unsupported.
ACCEPTED_FORMATS: tuple[str, ...] = (
    ("JPEG", "PNG", "WEBP", "GIF")
    + (("AVIF",) if features.check("avif") else ())
    + (("HEIF",) if _register_heif() else ())
)
# Formats whose codecs cannot decode at a reduced scale: with `at_least` they are shrunk right after decoding,
# before their colour is converted (HEVC and AV1 phone photos: 12 megapixels whatever the reader needs)
_WHOLE_ONLY = frozenset({"HEIF", "AVIF"})
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_FRAMES = 100
DEFAULT_MAX_BYTES = 50 * 2**20
# No product photo, banner or panorama is this much longer than it is wide: such strips only cost time and
# memory (Pillow works row by row, and square canvases of the long side are easy to build by mistake).
DEFAULT_MAX_ASPECT = 64
STANDARD_MODES: tuple[str, ...] = ("L", "LA", "RGB", "RGBA")
OPAQUE = 128  # alpha from which a pixel of a cut-out (a product on a transparent background) is product

# File name endings that folder and manifest readers take for images (decoding then goes by the bytes alone).
_SUFFIXES = {
    "JPEG": (".jpg", ".jpeg"),
    "PNG": (".png",),
    "WEBP": (".webp",),
    "GIF": (".gif",),
    "AVIF": (".avif",),
    "HEIF": (".heic", ".heif"),
}
IMAGE_SUFFIXES: frozenset[str] = frozenset(s for fmt in ACCEPTED_FORMATS for s in _SUFFIXES[fmt])
_DISPLAY = {"WEBP": "WebP", "HEIF": "HEIC"}
_MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "AVIF": "image/avif",
    "HEIF": "image/heic",
}
ACCEPTED_NAMES: tuple[str, ...] = tuple(_DISPLAY.get(f, f) for f in ACCEPTED_FORMATS)  # as people write them
ACCEPTED_MEDIA_TYPES: tuple[str, ...] = tuple(_MEDIA_TYPES[f] for f in ACCEPTED_FORMATS)
_ACCEPTED_TEXT = "accepted formats: " + ", ".join(ACCEPTED_NAMES)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SNIFF_BYTES = 64  # what sniff_format looks at: the magic bytes, or an ISO-BMFF file's ftyp box
# ISO-BMFF brands (ISO/IEC 23008-12, the AV1 image format): a coding brand names the codec; the structural
# brands mif1 / msf1 (an image, an image sequence) leave it to the compatible brands listed after them.
_BRANDS = {
    b"avif": "AVIF",
    b"avis": "AVIF",
    **dict.fromkeys((b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"), "HEIF"),
}
_STRUCTURAL_BRANDS = (b"mif1", b"msf1")
_HIGH_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_CONVERT_BLOCK = 1 << 20  # samples converted at a time from 16 to 8 bits


def sniff_format(data: bytes) -> str | None:
    """Name the accepted format announced by the content's magic bytes, or None."""
    head = bytes(data[:SNIFF_BYTES])
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(_PNG_SIGNATURE):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    fmt = _iso_image_format(head)
    return fmt if fmt in ACCEPTED_FORMATS else None  # MP4, QuickTime and other ISO-BMFF files: None


def _iso_image_format(head: bytes) -> str | None:
    """AVIF or HEIF for an ISO-BMFF file whose ftyp box names one by its major brand, or by a compatible brand
    after the structural mif1 / msf1; else None."""
    if head[4:8] != b"ftyp":
        return None
    brands = [head[8:12]]
    if brands[0] in _STRUCTURAL_BRANDS:  # size, "ftyp", major brand, minor version, then compatible brands
        end = min(int.from_bytes(head[:4], "big"), len(head))
        brands += [head[i : i + 4] for i in range(16, end - 3, 4)]
    return next((_BRANDS[b] for b in brands if b in _BRANDS), None)


def decode_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_aspect: float = DEFAULT_MAX_ASPECT,
    at_least: int | None = None,
) -> Image.Image:
    """Decode untrusted bytes into a loaded L/LA/RGB/RGBA image without metadata, or raise an ImageError.

    The size the header declares is checked before any pixel is decoded: at most max_pixels, and neither
    side more than max_aspect times the other. With `at_least`, a JPEG is decoded at the smallest of the
    codec's scales (1/2, 1/4, 1/8) that keeps both sides at least that long: a 12-megapixel photo read for
    a 224-pixel working copy costs a fraction of its full decode. A HEIC or AVIF decodes whole, then is shrunk
    by the same rule (any whole factor up to 8) before its colour is converted. Other formats decode whole.
    """
    return _decode(data, max_pixels, max_aspect, at_least, whole_too=False)[0]


def decode_whole_and_seen(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_aspect: float = DEFAULT_MAX_ASPECT,
    at_least: int | None = None,
) -> tuple[Image.Image, Image.Image]:
    """The image whole (what the catalogue keeps) and as `decode_image(at_least=)` gives it to a model (the same
    object when nothing is shrunk): the catalogue then reads a photo exactly as /v1/classify reads its bytes."""
    seen, whole = _decode(data, max_pixels, max_aspect, at_least, whole_too=True)
    return (seen if whole is None else whole), seen


def _decode(
    data: bytes, max_pixels: int, max_aspect: float, at_least: int | None, whole_too: bool
) -> tuple[Image.Image, Image.Image | None]:
    """decode_image's work: the image (shrunk where `at_least` allows), and with `whole_too` the whole image as
    well when the first one was shrunk (None otherwise)."""
    fmt = sniff_format(data)
    if fmt is None:
        what = "empty input" if len(data) == 0 else "not a supported image"
        raise UnsupportedFormatError(f"{what}; {_ACCEPTED_TEXT}")
    if fmt == "WEBP":
        # Pillow's WebP decoder allocates its canvas while opening, so check the header first.
        declared = _webp_canvas_size(data)
        if declared is not None:
            _check_size(declared, max_pixels, max_aspect)
    try:
        # Narrow filters turn Pillow's bomb warning into an error without touching its global limit,
        # and silence its notes about malformed metadata (dropped anyway) that a sender can trigger at will.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as opened:
                if fmt != "HEIF":  # a HEIC opens on its primary image, the one a viewer shows
                    opened.seek(0)  # first frame only: later frames of an animation are never read
                _check_size(opened.size, max_pixels, max_aspect)
                whole = None
                if at_least is not None and fmt == "JPEG":
                    if whole_too and min(opened.size) // max(at_least, 1) >= 2:  # draft's own rule
                        whole = _decode(data, max_pixels, max_aspect, None, whole_too=False)[0]
                    opened.draft(opened.mode, (at_least, at_least))  # never below at_least on either side
                opened.load()
                _turn_upright(opened)
                reduced = opened
                if at_least is not None and fmt in _WHOLE_ONLY:
                    reduced = _reduced(opened, at_least)
                    if whole_too and reduced is not opened:
                        whole = _plain_copy(in_srgb(opened))
                return _plain_copy(in_srgb(reduced)), whole  # a reduced copy is converted faster
    except (
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:  # Pillow's own cap, before ours
        found = re.search(r"\((\d+) pixels\)", str(exc))
        many = f"{int(found.group(1)):,} pixels" if found else "more pixels than can be opened safely"
        raise ImageTooLargeError(f"image is {many}; the limit is {max_pixels:,}") from exc
    except _DECODE_ERRORS as exc:
        # Pillow's "cannot identify image file <BytesIO ...>" means nothing to the person who sent the bytes.
        detail = "not a valid file of that format" if isinstance(exc, UnidentifiedImageError) else exc
        raise CorruptImageError(f"cannot decode this {_display(fmt)} image: {detail}") from exc


def declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height an accepted image declares in its header (nothing decoded); None if unreadable."""
    fmt = sniff_format(data)
    if fmt is None:
        return None
    if fmt == "WEBP":
        return _webp_canvas_size(data)
    if fmt == "PNG" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if fmt == "GIF" and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])  # the logical screen, which frames must fit in
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=[fmt]) as opened:
                return opened.size
    except (Image.DecompressionBombError, *_DECODE_ERRORS):
        return None


def read_image_bytes(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of an image file of at most max_bytes, undecoded (ImageError when unreadable or larger)."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ImageError(f"cannot read {name}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{name} is larger than the limit of {max_bytes:,} bytes")
    return data


def read_image_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    at_least: int | None = None,
) -> Image.Image:
    """Read an image file of at most max_bytes and decode it like decode_image."""
    name = os.fspath(path)
    data = read_image_bytes(path, max_bytes=max_bytes)
    try:
        return decode_image(data, max_pixels=max_pixels, at_least=at_least)
    except ImageError as exc:
        raise type(exc)(f"{name}: {exc}") from exc


def flatten_alpha(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Composite any transparency over a solid background colour, giving an L or RGB image."""
    img = _standard_mode(img)
    if img.mode not in ("LA", "RGBA"):
        return img
    if img.mode == "RGBA":
        base = Image.new("RGB", img.size, tuple(background))
    else:
        red, green, blue = background
        base = Image.new("L", img.size, round((299 * red + 587 * green + 114 * blue) / 1000))
    base.paste(img, mask=img.getchannel("A"))
    return base


def _display(fmt: str) -> str:
    """Human spelling of a Pillow format name."""
    return _DISPLAY.get(fmt, fmt)


def _check_size(size: tuple[int, int], max_pixels: int, max_aspect: float = DEFAULT_MAX_ASPECT) -> None:
    """Refuse zero-sized images, images over the pixel budget and absurdly thin strips."""
    width, height = size
    if width <= 0 or height <= 0:
        raise CorruptImageError(f"image declares an empty size of {width}x{height} pixels")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}"
        )
    if max(width, height) > max_aspect * min(width, height):
        raise AspectRatioError(
            f"image is {width}x{height}: one side is more than {max_aspect:g} times the other"
        )


def declared_pixels(images: Sequence[bytes]) -> tuple[int, bool]:
    """The pixels a set of images declares in their headers together, and whether every header said so."""
    total, known = 0, True
    for data in images:
        size = declared_size(data)
        if size is None:
            known = False
        else:
            total += size[0] * size[1]
    return total, known


def check_pixel_budget(images: Sequence[bytes], max_total: int) -> tuple[int, bool]:
    """declared_pixels of a request's images; ImageTooLargeError when together they exceed max_total.

    Decoding costs time in proportion to pixels: a request of many large images is refused from the
    headers, before any of it is decoded.
    """
    total, known = declared_pixels(images)
    if total > max_total:
        raise ImageTooLargeError(
            f"the images declare {total:,} pixels together; the limit per request is {max_total:,}"
        )
    return total, known


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """Canvas size declared in a WebP header (VP8X, VP8 or VP8L), or None if unreadable."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return (
            int.from_bytes(data[26:28], "little") & 0x3FFF,
            int.from_bytes(data[28:30], "little") & 0x3FFF,
        )
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _reduced(img: Image.Image, at_least: int) -> Image.Image:
    """img shrunk by the largest whole factor up to 8 that keeps both sides at least `at_least` long (img itself
    when there is none), as JPEG's reduced decode would give it; the file's colour description kept."""
    factor = min(8, min(img.size) // max(at_least, 1))
    if factor < 2 or img.mode not in STANDARD_MODES:
        return img
    return img.reduce(factor)


def _turn_upright(img: Image.Image) -> None:
    """Apply the EXIF orientation (1-8) to the pixels in place."""
    with contextlib.suppress(_DECODE_ERRORS):  # malformed EXIF is metadata we drop anyway: keep the pixels
        ImageOps.exif_transpose(img, in_place=True)


def _standard_mode(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to L, LA, RGB or RGBA, keeping transparency where there is some."""
    mode = img.mode
    if mode in ("L", "RGB") and "transparency" in img.info:
        return img.convert(mode + "A")
    if mode in STANDARD_MODES:
        return img
    if mode == "1":
        return img.convert("L")
    if mode in _HIGH_DEPTH_MODES:
        return _high_depth_to_8bit(img)
    if mode == "P":
        return img.convert("RGBA" if img.has_transparency_data else "RGB")
    if mode in ("La", "PA", "RGBa"):
        return img.convert("LA" if mode == "La" else "RGBA")
    return img.convert("RGB")  # CMYK, YCbCr, HSV, RGBX, ...


def _high_depth_to_8bit(img: Image.Image) -> Image.Image:
    """Scale 16-bit (or 32-bit/float, read as 16-bit) samples to L, rounding 0..65535 onto 0..255.

    Rows are converted a block at a time, so the temporaries stay small whatever the image's size.
    """
    samples = np.asarray(img)
    transparent = img.info.get("transparency")
    keyed = isinstance(transparent, int)
    grey = np.empty(samples.shape, np.uint8)
    alpha = np.empty(samples.shape, np.uint8) if keyed else None
    rows = max(1, _CONVERT_BLOCK // max(1, samples.shape[1]))
    for top in range(0, samples.shape[0], rows):
        block = samples[top : top + rows]
        wide = np.clip(block, 0, 65535).astype(np.uint32)
        grey[top : top + rows] = (wide + 128) // 257
        if alpha is not None:
            alpha[top : top + rows] = np.where(block == transparent, 0, 255)
    if alpha is not None:
        return Image.merge("LA", (Image.fromarray(grey), Image.fromarray(alpha)))
    return Image.fromarray(grey)


def _plain_copy(img: Image.Image) -> Image.Image:
    """A new in-memory image in a standard mode, with the same pixels and no metadata at all."""
    converted = _standard_mode(img)
    clean = converted.copy() if converted is img else converted
    clean.info = {}  # a fresh Image also starts with no parsed EXIF
    return clean
