"""Per-image quality checks: size, sharpness, exposure and contrast, with flags for what fails.

The defaults are calibrated on Fashion-MNIST product photos (28x28 grayscale, dark background, bright
product), whether stored at 28 px or upscaled: such images pass, while an all-black or all-white
frame, a badly blurred copy, or an image under 28 px does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from shoplens.imaging.decode import flatten_alpha

FLAGS: tuple[str, ...] = ("too_small", "blurry", "too_dark", "washed_out")
# Cap on the analysed long side (in multiples of analysis_side), so a 1x40000 strip stays cheap.
_MAX_ASPECT = 4


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds for the quality flags; brightness values are on the 0-255 grayscale."""

    min_side: int = 28  # images whose short side is below this are "too_small"
    # Sharpness is measured with the short side resized to analysis_side (up or down), so the same
    # product gives about the same value at 28 px and at 1000 px. On Fashion-MNIST at 64 px the
    # sharp originals score >= 89 (1st percentile 229); copies blurred with radius 2 score <= 18.
    analysis_side: int = 64
    blur_threshold: float = 40.0  # variance of the Laplacian below this is "blurry"
    # "too_dark": mean below dark_threshold AND fewer than 1 % of pixels reach dark_peak, i.e. nothing
    # visible at all; a dark-background photo with a bright product has far more bright pixels.
    dark_threshold: float = 20.0
    dark_peak: float = 48.0
    # "washed_out": mean above bright_threshold AND contrast (grayscale std) below low_contrast.
    bright_threshold: float = 230.0
    low_contrast: float = 20.0


@dataclass(frozen=True)
class QualityReport:
    """What was measured on one image and which quality flags it raised."""

    width: int
    height: int
    sharpness: float  # variance of the Laplacian at the analysis size
    brightness: float  # mean grayscale level, 0-255
    contrast: float  # standard deviation of the grayscale levels (RMS contrast), 0-127.5
    flags: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no flag was raised."""
        return not self.flags


def assess_quality(image: Image.Image, config: QualityConfig = QualityConfig()) -> QualityReport:
    """Measure size, sharpness, brightness and contrast of an image and flag what falls short."""
    width, height = image.size
    gray = np.asarray(flatten_alpha(image).convert("L"))
    levels = gray.astype(np.float32)
    brightness = float(levels.mean())
    contrast = float(levels.std())
    sharpness = laplacian_variance(gray, config.analysis_side)

    flags = []
    if min(width, height) < config.min_side:
        flags.append("too_small")
    if sharpness < config.blur_threshold:
        flags.append("blurry")
    if brightness < config.dark_threshold and float(np.mean(gray >= config.dark_peak)) < 0.01:
        flags.append("too_dark")
    if brightness > config.bright_threshold and contrast < config.low_contrast:
        flags.append("washed_out")
    return QualityReport(width, height, sharpness, brightness, contrast, tuple(flags))


def laplacian_variance(gray: np.ndarray, analysis_side: int = 64) -> float:
    """Variance of the Laplacian of a uint8 grayscale array whose short side is scaled to analysis_side."""
    import cv2  # on first use: a server that never ingests starts without OpenCV

    height, width = gray.shape
    scale = min(analysis_side / min(height, width), _MAX_ASPECT * analysis_side / max(height, width))
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
        gray = cv2.resize(gray, size, interpolation=interpolation)
    return float(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F).var())
