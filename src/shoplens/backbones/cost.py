"""What a bundle costs on this machine: milliseconds per image and per prompt through ONNX Runtime."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from PIL import Image

from shoplens.backbones.checks import SAMPLE_TEXTS
from shoplens.backbones.preprocess import images_to_pixels
from shoplens.backbones.runtime import ImageTextBackbone


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (else what platform says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_cost(backbone: ImageTextBackbone, batch: int = 8, repeats: int = 3) -> dict[str, Any]:
    """Median ms per image and per prompt at batch 1 and `batch` (encoders only), and per image of preprocessing."""
    spec = backbone.config.image
    rng = np.random.default_rng(0)
    pixels = rng.standard_normal((batch, 3, *spec.size)).astype(np.float32)
    texts = [SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)] for i in range(batch)]
    photo = Image.fromarray(rng.integers(0, 256, (600, 450, 3), dtype=np.uint8))
    ms = {
        "image_batch_1": median_seconds(lambda: backbone.embed_pixels(pixels[:1]), repeats) * 1e3,
        f"image_batch_{batch}": median_seconds(lambda: backbone.embed_pixels(pixels), repeats) * 1e3 / batch,
        "text_batch_1": median_seconds(lambda: backbone.embed_texts(texts[:1]), repeats) * 1e3,
        f"text_batch_{batch}": median_seconds(lambda: backbone.embed_texts(texts), repeats) * 1e3 / batch,
        "preprocess_600x450_photo": median_seconds(lambda: images_to_pixels([photo], spec), repeats) * 1e3,
    }
    return {
        "ms_per_item": {k: round(v, 3) for k, v in ms.items()},
        "cpu": cpu_name(),
        "threads": os.cpu_count(),
        "onnxruntime": onnxruntime.__version__,
        "repeats": repeats,
        "note": "median wall time per item, encoders only (preprocessing timed apart), on a machine shared with "
        "other work: read as an upper bound",
    }
