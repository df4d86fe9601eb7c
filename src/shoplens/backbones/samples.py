"""Sample inputs for checking and timing a bundle: random images of awkward shapes, product-style sentences."""

from __future__ import annotations

import numpy as np
from PIL import Image

from shoplens.backbones.config import ImageSpec

SAMPLE_TEXTS = (
    "a photo of a red summer dress",
    "Blue denim JEANS, slim fit!",
    "black leather ankle boots",
    "a striped wool sweater",
    "white cotton t-shirt with a round neck",
    "a handbag " * 40,  # longer than any context: exercises truncation
)


def sample_images(spec: ImageSpec, seed: int = 0) -> list[Image.Image]:
    """Random RGB images of shapes that exercise the resize and crop: wide, tall, small, exact."""
    h, w = spec.size
    shapes = [(h, int(w * 1.5) + 1), (2 * h + 3, w), (h // 2 + 1, w // 2 + 5), (h, w)]
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (a, b, 3), dtype=np.uint8)) for a, b in shapes]
