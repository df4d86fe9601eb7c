"""What the model sees in a photo: calibrated probabilities, the search vector, the category, the mismatch rule.

The search vector of an image is the model's own (`Predictor.search_vectors`): a trained bundle's features joined
to its calibrated category distribution, a zero-shot backbone's image embedding (the space text queries share).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from shoplens.imaging import PreprocessConfig
from shoplens.inference.predictor import ModelRunner, run_directly
from shoplens.inference.store import LoadedModel


@dataclass(frozen=True)
class MismatchConfig:
    """When a confident prediction contradicts the declared category strongly enough to flag the product."""

    min_confidence: float = 0.8
    max_declared_probability: float = 0.01


@dataclass(frozen=True)
class Recognition:
    """What the model saw in one image: its category, the model's confidence, its search vector, the version."""

    category: str
    confidence: float
    vector: np.ndarray
    model_version: str


@dataclass(frozen=True)
class ModelInputs:
    """Photos already read for a model: how they were read, the uint8 input batch and the reader's cues."""

    reading: PreprocessConfig
    batch: np.ndarray
    cues: list[dict[str, float]]


def search_vectors(
    model: LoadedModel,
    images: Sequence[Image.Image],
    runner: ModelRunner = run_directly,
    read: ModelInputs | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Calibrated probabilities (N, K), search vectors (N, D + K) and statuses (recognised, needs_review,
    not_recognised) of decoded photos, the model run by `runner`.

    `read`: the same photos already read elsewhere; used when they were read the way this model reads (a model
    activated meanwhile may read differently: then the photos are read again here).
    """
    if read is not None and len(read.batch) == len(images) and read.reading == model.predictor.reading:
        batch, cues = read.batch, read.cues
    else:
        batch, cues = model.predictor.read_batch(list(images))
    probs, features = runner(model.predictor, batch)
    statuses = [pred.status for pred in model.predictor.predictions(probs, features, cues)]
    return probs, model.predictor.search_vectors(probs, features), statuses


def recognitions(model: LoadedModel, probs: np.ndarray, vectors: np.ndarray) -> list[Recognition]:
    """Each image's most likely category with its probability, its search vector and the model version."""
    labels = model.predictor.bundle.labels
    tops = np.argmax(probs, axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    return [
        Recognition(labels[int(t)], float(p[int(t)]), np.asarray(v, dtype=np.float32), model.version)
        for t, p, v in zip(tops, probs, vectors)
    ]


def is_mismatch(probs: np.ndarray, labels: Sequence[str], declared: str | None, cfg: MismatchConfig) -> bool:
    """Whether the model is confident, disagrees with the declared category, and gives that category almost nothing."""
    return disagrees(category_probabilities(probs, labels), declared, cfg)


def disagrees(probabilities: Mapping[str, float], declared: str | None, cfg: MismatchConfig) -> bool:
    """is_mismatch for probabilities kept as {category: probability} (an image's `probabilities`)."""
    if declared is None or declared not in probabilities:
        return False
    top = max(probabilities, key=lambda c: probabilities[c])  # the first of equals, as argmax
    return (
        top != declared
        and probabilities[top] >= cfg.min_confidence
        and probabilities[declared] <= cfg.max_declared_probability
    )


def category_probabilities(probs: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """A row of calibrated probabilities as {category: probability}, as catalogue images keep it."""
    return {label: float(p) for label, p in zip(labels, probs, strict=True)}


def search_dim(model: LoadedModel) -> int:
    """The length of a model's search vectors, from its bundle."""
    return model.predictor.search_dim
