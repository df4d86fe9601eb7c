"""What a bundle costs on this machine: milliseconds per image and per prompt through ONNX Runtime."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from PIL import Image

from shoplens.backbones.preprocess import images_to_pixels
from shoplens.backbones.runtime import ImageTextBackbone
from shoplens.backbones.samples import SAMPLE_TEXTS
from shoplens.processes import usable_cpus


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (else what platform says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timings(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def measure_cost(backbone: ImageTextBackbone, batch: int = 8, repeats: int = 3) -> dict[str, Any]:
    """Median (and best) ms per image and per prompt at batch 1 and `batch`, encoders only; preprocessing apart."""
    spec = backbone.config.image
    rng = np.random.default_rng(0)
    pixels = rng.standard_normal((batch, 3, *spec.size)).astype(np.float32)
    prompts = [t for t in SAMPLE_TEXTS if len(t) < 60]  # product-style prompts, not the truncation probe
    texts = [prompts[i % len(prompts)] for i in range(batch)]
    photo = Image.fromarray(rng.integers(0, 256, (600, 450, 3), dtype=np.uint8))
    runs = {
        "image_batch_1": (lambda: backbone.embed_pixels(pixels[:1]), 1),
        f"image_batch_{batch}": (lambda: backbone.embed_pixels(pixels), batch),
        "text_batch_1": (lambda: backbone.embed_texts(texts[:1]), 1),
        f"text_batch_{batch}": (lambda: backbone.embed_texts(texts), batch),
        "preprocess_600x450_photo": (lambda: images_to_pixels([photo], spec), 1),
    }
    times = {name: [t * 1e3 / n for t in timings(fn, repeats)] for name, (fn, n) in runs.items()}
    return {
        "ms_per_item": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "ms_per_item_best": {k: round(min(v), 3) for k, v in times.items()},
        "cpu": cpu_name(),
        "threads": usable_cpus(),
        "onnxruntime": onnxruntime.__version__,
        "repeats": repeats,
        "note": "median wall time per item over the repeats, encoders only (preprocessing timed apart), on a "
        "machine that may be shared with other work: read as an upper bound",
    }
