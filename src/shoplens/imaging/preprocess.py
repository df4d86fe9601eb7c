"""One code path from a decoded photo to model input, shared by training and prediction.

Two readers: "plain" (trim, pad or crop, optional inversion) and "photo" (shoplens.imaging.photo: the product
read off its background whatever the background's polarity, the way Fashion-MNIST's images were made).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageChops

from shoplens.fields import reject_unknown_keys
from shoplens.imaging.decode import decode_image, flatten_alpha
from shoplens.imaging.photo import WORK_SIDE, read_photo

MODES: tuple[str, ...] = ("L", "RGB")
RESIZE_METHODS: tuple[str, ...] = ("pad", "crop")
READERS: tuple[str, ...] = ("plain", "photo")
TRIM_TOLERANCE = 12  # grey levels a pixel may differ from the corner colour and still count as border
_RESAMPLE = Image.Resampling.LANCZOS
_REDUCING_GAP = 2.0  # box-reduce large photos to no less than twice the final size, then resample
_TRIM_PROBE_SIDE = 256  # shorter side of the reduced copy on which the border is found


@dataclass(frozen=True)
class PreprocessConfig:
    """How a decoded image becomes a (C, H, W) uint8 model input; travels with the model bundle."""

    size: tuple[int, int] = (28, 28)
    mode: Literal["L", "RGB"] = "L"
    resize: Literal["pad", "crop"] = "pad"
    trim: bool = False
    invert: bool = False
    background: int = 255
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    # "photo": the product is read off its background (shoplens.imaging.photo), light on black, grey only;
    # resize, trim, invert and background then do not apply.
    reader: Literal["plain", "photo"] = "plain"

    def __post_init__(self) -> None:
        """Check every field, accepting lists where tuples are expected (as JSON gives them)."""
        size = _as_tuple("size", self.size)
        if len(size) != 2 or not all(_is_int(v) and v > 0 for v in size):
            raise ValueError(f"size must be two positive integers (height, width), got {self.size!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.resize not in RESIZE_METHODS:
            raise ValueError(f"resize must be one of {', '.join(RESIZE_METHODS)}, got {self.resize!r}")
        for name in ("trim", "invert"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.reader not in READERS:
            raise ValueError(f"reader must be one of {', '.join(READERS)}, got {self.reader!r}")
        if self.reader == "photo" and self.mode != "L":
            raise ValueError("the photo reader gives grey model inputs: it needs mode L")
        if not _is_int(self.background) or not 0 <= self.background <= 255:
            raise ValueError(f"background must be an integer grey level 0..255, got {self.background!r}")
        mean, std = _as_tuple("mean", self.mean), _as_tuple("std", self.std)
        for name, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, self.in_chans) or not all(_is_number(v) for v in values):
                raise ValueError(
                    f"{name} must hold 1 or {self.in_chans} numbers for mode {self.mode}, got {values!r}"
                )
        if not all(v > 0 for v in std):
            raise ValueError(f"std values must be positive, got {std!r}")
        object.__setattr__(self, "size", tuple(int(v) for v in size))
        object.__setattr__(self, "mean", tuple(float(v) for v in mean))
        object.__setattr__(self, "std", tuple(float(v) for v in std))

    @property
    def decode_side(self) -> int | None:
        """Shortest side a decoded photo needs for this reading (JPEGs may decode reduced to it); None: whole."""
        return WORK_SIDE if self.reader == "photo" else None  # the photo reader works at WORK_SIDE anyway

    @property
    def in_chans(self) -> int:
        """Number of channels the model receives."""
        return 1 if self.mode == "L" else 3

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values (lists for tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreprocessConfig:
        """Build a configuration from to_dict() output; unknown keys or bad values raise ValueError."""
        reject_unknown_keys(cls, data, "preprocessing")
        return cls(**data)


def read_image(img: Image.Image, cfg: PreprocessConfig) -> tuple[np.ndarray, dict[str, float]]:
    """A decoded image as the model's (C, H, W) uint8 input, with the photo reader's cues (empty for plain)."""
    if cfg.reader == "photo":
        reading = read_photo(img, cfg.size)
        return reading.array, reading.cues
    return image_to_array(img, cfg), {}


def read_encoded(data: bytes, cfg: PreprocessConfig) -> tuple[np.ndarray, dict[str, float]]:
    """An encoded photo decoded as /v1/classify decodes it (reduced down to the reading's decode side), then read."""
    return read_image(decode_image(data, at_least=cfg.decode_side), cfg)


def image_to_array(img: Image.Image, cfg: PreprocessConfig) -> np.ndarray:
    """Turn a decoded image into the model's (C, H, W) uint8 input."""
    if img.width == 0 or img.height == 0:
        raise ValueError(f"cannot preprocess an empty {img.width}x{img.height} image")
    if cfg.reader == "photo":
        return read_photo(img, cfg.size).array
    height, width = cfg.size
    img = flatten_alpha(img, (cfg.background,) * 3)
    region = _content_box(img, max(cfg.size)) if cfg.trim else (0, 0, img.width, img.height)
    if cfg.resize == "crop":
        img = _resize(img, (width, height), _centre_box(region, (width, height)))
        img = img.convert(cfg.mode) if img.mode != cfg.mode else img
    else:
        img = _pad(img, region, (width, height), cfg.mode, cfg.background)
    array = np.asarray(img, dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    if cfg.invert:
        array = 255 - array
    return np.ascontiguousarray(array)


def images_to_batch(images: Sequence[Image.Image], cfg: PreprocessConfig) -> np.ndarray:
    """Preprocess images into one (N, C, H, W) uint8 batch."""
    return images_to_inputs(images, cfg)[0]


def images_to_inputs(
    images: Sequence[Image.Image], cfg: PreprocessConfig
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Preprocess images into one (N, C, H, W) uint8 batch, with each image's photo cues."""
    batch = np.empty((len(images), cfg.in_chans, *cfg.size), dtype=np.uint8)
    cues = []
    for i, img in enumerate(images):
        batch[i], cue = read_image(img, cfg)
        cues.append(cue)
    return batch, cues


def normalize(batch: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Scale a uint8 (N, C, H, W) batch to float32 ((x / 255) - mean) / std, per channel."""
    if batch.ndim != 4 or batch.shape[1] != cfg.in_chans:
        raise ValueError(
            f"expected a (N, {cfg.in_chans}, H, W) batch for mode {cfg.mode}, got shape {tuple(batch.shape)}"
        )
    if batch.dtype != np.uint8:
        raise ValueError(f"expected a uint8 batch, got {batch.dtype}")
    scale, shift = normalize_affine(cfg)
    out = np.multiply(batch, scale, dtype=np.float32)
    out += shift
    return out


@functools.lru_cache(maxsize=64)
def normalize_affine(cfg: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """normalize() as x * scale + shift: per-channel (1, C, 1, 1) float32 arrays, computed once per config."""
    mean = np.broadcast_to(np.asarray(cfg.mean, np.float64), (cfg.in_chans,))
    std = np.broadcast_to(np.asarray(cfg.std, np.float64), (cfg.in_chans,))
    scale = (1.0 / (255.0 * std)).astype(np.float32).reshape(1, -1, 1, 1)
    shift = (-mean / std).astype(np.float32).reshape(1, -1, 1, 1)
    return scale, shift


def _is_int(value: object) -> bool:
    """True for integers that are not booleans."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """True for finite ints and floats that are not booleans."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _as_tuple(name: str, value: object) -> tuple[Any, ...]:
    """A list or tuple field as a tuple, or a ValueError naming the field."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list of numbers, got {value!r}")
    return tuple(value)


def _content_box(img: Image.Image, target_side: int) -> tuple[int, int, int, int]:
    """Box inside the uniform border whose colour is that of the corners; the whole image if uniform."""
    factor = max(1, min(img.size) // max(_TRIM_PROBE_SIDE, 2 * target_side))
    probe = img.reduce(factor) if factor > 1 else img  # the border is found on a small copy
    right, bottom = probe.width - 1, probe.height - 1
    corners = [probe.getpixel(xy) for xy in ((0, 0), (right, 0), (0, bottom), (right, bottom))]
    bands = [sorted(band) for band in zip(*(c if isinstance(c, tuple) else (c,) for c in corners))]
    colour = tuple(round((b[1] + b[2]) / 2) for b in bands)  # the median of the four corners, per band
    fill = colour[0] if probe.mode == "L" else colour
    tolerance = TRIM_TOLERANCE if probe.mode == "L" else (TRIM_TOLERANCE,) * len(colour)
    difference = ImageChops.difference(probe, Image.new(probe.mode, probe.size, fill))
    # Subtracting the tolerance (clipped at 0) leaves non-zero exactly the samples beyond it.
    bbox = ImageChops.subtract(difference, Image.new(probe.mode, probe.size, tolerance)).getbbox()
    if bbox is None:
        return (0, 0, img.width, img.height)
    left, top, right, bottom = (v * factor for v in bbox)
    return (left, top, min(right, img.width), min(bottom, img.height))


def _resize(img: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]) -> Image.Image:
    """High-quality resize of a region; big photos are first box-reduced (Pillow's reducing_gap)."""
    return img.resize(size, _RESAMPLE, box=box, reducing_gap=_REDUCING_GAP)


def _centre_box(region: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[float, ...]:
    """The largest centred part of region (left, top, right, bottom) with the aspect ratio of size."""
    left, top, right, bottom = region
    width, height = right - left, bottom - top
    aspect = size[0] / size[1]
    if width / height > aspect:
        margin = (width - height * aspect) / 2
        return (left + margin, float(top), right - margin, float(bottom))
    margin = (height - width / aspect) / 2
    return (float(left), top + margin, float(right), bottom - margin)


def _pad(
    img: Image.Image, region: tuple[int, int, int, int], size: tuple[int, int], mode: str, background: int
) -> Image.Image:
    """Fit region of the image inside size (width, height), aspect kept, centred on the background."""
    left, top, right, bottom = region
    scale = min(size[0] / (right - left), size[1] / (bottom - top))
    # Unlike ImageOps.pad, a very thin object (a belt, a needle) keeps at least one pixel.
    width = min(size[0], max(1, round((right - left) * scale)))
    height = min(size[1], max(1, round((bottom - top) * scale)))
    resized = _resize(img, (width, height), region)
    canvas = Image.new(mode, size, background if mode == "L" else (background,) * 3)
    canvas.paste(resized.convert(mode), ((size[0] - width) // 2, (size[1] - height) // 2))
    return canvas
