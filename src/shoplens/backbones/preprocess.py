"""Encoder inputs without torch: PIL + numpy for images, the `tokenizers` library for prompts."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Sequence

import numpy as np
from PIL import Image
from tokenizers import Tokenizer

from shoplens.backbones.config import ImageSpec, TextSpec
from shoplens.errors import BundleError

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def resized_size(height: int, width: int, spec: ImageSpec) -> tuple[int, int]:
    """(height, width) after the resize step, before any crop (the image processors' integer rounding)."""
    if spec.resize == "exact":
        return spec.size
    edge = int(spec.shortest_edge or 0)
    if height <= width:
        return edge, int(edge * width / height)
    return int(edge * height / width), edge


def image_to_pixels(img: Image.Image, spec: ImageSpec) -> np.ndarray:
    """One decoded image → float32 (3, H, W): RGB, resized, centre-cropped, rescaled and normalised.

    Alpha is dropped as the checkpoints' processors drop it; flatten it first (shoplens.imaging.flatten_alpha)
    when a transparent background should read as white.
    """
    img = img.convert("RGB")
    height, width = resized_size(img.height, img.width, spec)
    arr = np.asarray(img.resize((width, height), resample=_RESAMPLE[spec.resample]))
    arr = _centre_crop(arr, spec.size)
    pixels = arr.astype(np.float32) * np.float32(spec.rescale)
    pixels = (pixels - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def images_to_pixels(images: Sequence[Image.Image], spec: ImageSpec) -> np.ndarray:
    """Decoded images → float32 (N, 3, H, W)."""
    if not images:
        return np.zeros((0, 3, *spec.size), np.float32)
    return np.stack([image_to_pixels(img, spec) for img in images])


def _centre_crop(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The centre (h, w) of an (H, W, C) array, zero-padded where the image is smaller (as the processors do)."""
    h, w = size
    if arr.shape[0] < h or arr.shape[1] < w:
        top, left = max(0, -(-(h - arr.shape[0]) // 2)), max(0, -(-(w - arr.shape[1]) // 2))
        padded = np.zeros((max(h, arr.shape[0]), max(w, arr.shape[1]), arr.shape[2]), arr.dtype)
        padded[top : top + arr.shape[0], left : left + arr.shape[1]] = arr
        arr = padded
    top, left = (arr.shape[0] - h) // 2, (arr.shape[1] - w) // 2
    return arr[top : top + h, left : left + w]


def clean_text(text: str, spec: TextSpec) -> str:
    """The text clean-up a family does before its tokenizer (SigLIP: lowercase, no punctuation, single spaces)."""
    if spec.lowercase:
        text = text.lower()
    if spec.strip_punctuation:
        text = re.sub(r"\s+", " ", text.translate(_PUNCTUATION)).strip()
    return text


class TextTokenizer:
    """tokenizer.json with the bundle's truncation and padding: prompts → int64 input_ids (and attention_mask)."""

    def __init__(self, path: str | os.PathLike, spec: TextSpec) -> None:
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as e:  # the Rust side raises plain Exception subclasses
            raise BundleError(f"{path}: not a readable tokenizer.json ({e})") from e
        self.spec = spec
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(spec.max_length)
        length = spec.max_length if spec.padding == "max_length" else None
        self.tokenizer.enable_padding(pad_id=spec.pad_id, length=length)

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Encoder inputs for a batch of prompts, named as the text encoder expects them."""
        if isinstance(texts, str):
            raise TypeError("expected a sequence of prompts, got one string")
        encodings = self.tokenizer.encode_batch([clean_text(t, self.spec) for t in texts])
        feeds = {"input_ids": np.array([e.ids for e in encodings], np.int64).reshape(len(texts), -1)}
        if "attention_mask" in self.spec.inputs:
            mask = np.array([e.attention_mask for e in encodings], np.int64)
            feeds["attention_mask"] = mask.reshape(feeds["input_ids"].shape)
        return feeds
