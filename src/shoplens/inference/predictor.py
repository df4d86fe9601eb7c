"""Predict categories for photos with a bundle: the bundle's preprocessing, calibrated probabilities, review flag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from shoplens.imaging import images_to_batch
from shoplens.models.bundle import Bundle
from shoplens.training.loop import predict_logits
from shoplens.training.metrics import softmax


@dataclass(frozen=True)
class Prediction:
    """Top-k categories with calibrated probabilities, and whether a person should check it."""

    top: list[tuple[str, float]]
    needs_review: bool

    @property
    def label(self) -> str:
        """The most likely category."""
        return self.top[0][0]


class Predictor:
    """Wraps a bundle; photos in, predictions out."""

    def __init__(self, bundle: Bundle, top_k: int = 3) -> None:
        self.bundle = bundle
        self.top_k = min(top_k, len(bundle.labels))

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities for uint8 model-input arrays (N, C, H, W)."""
        logits = predict_logits(self.bundle.model, batch, self.bundle.preprocess, tta_flip=self.bundle.tta_flip)
        return softmax(logits, self.bundle.temperature)

    def predict_images(self, images: Sequence[Image.Image]) -> list[Prediction]:
        """Predictions for decoded photos of any mode and size."""
        if not images:
            return []
        probs = self.probabilities(images_to_batch(images, self.bundle.preprocess))
        return [self._prediction(p) for p in probs]

    def _prediction(self, p: np.ndarray) -> Prediction:
        order = np.argsort(-p)[: self.top_k]
        top = [(self.bundle.labels[i], float(p[i])) for i in order]
        return Prediction(top=top, needs_review=top[0][1] < self.bundle.review_threshold)
