"""Predict categories and embeddings for photos with a bundle: its preprocessing, calibration and review threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from shoplens.imaging import images_to_batch, normalize
from shoplens.inference.session import InferenceSession, TorchSession
from shoplens.models.bundle import Bundle
from shoplens.training.metrics import softmax


@dataclass(frozen=True)
class Prediction:
    """Top-k categories with calibrated probabilities, whether a person should check it, and the embedding."""

    top: list[tuple[str, float]]
    needs_review: bool
    embedding: np.ndarray | None = None

    @property
    def label(self) -> str:
        """The most likely category."""
        return self.top[0][0]


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class Predictor:
    """A bundle plus a runtime session; uint8 arrays or photos in, probabilities, embeddings, predictions out."""

    def __init__(self, bundle: Bundle, session: InferenceSession | None = None, top_k: int = 3) -> None:
        self.bundle = bundle
        self.session = session or TorchSession(bundle.model)
        self.top_k = min(top_k, len(bundle.labels))

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities (N, K) and L2-normalised embeddings (N, D) for uint8 model inputs (N, C, H, W)."""
        x = normalize(torch.from_numpy(np.ascontiguousarray(batch)), self.bundle.preprocess).numpy()
        if self.bundle.tta_flip:  # the photo and its mirror in one runtime call, then averaged
            logits, feats = self.session.run(np.concatenate([x, x[..., ::-1]]))
            n = len(x)
            logits, feats = (logits[:n] + logits[n:]) / 2, (feats[:n] + feats[n:]) / 2
        else:
            logits, feats = self.session.run(x)
        return softmax(logits, self.bundle.temperature), l2_normalize(feats)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities for uint8 model inputs (N, C, H, W)."""
        return self.run(batch)[0]

    def predict_arrays(self, batch: np.ndarray, embed: bool = False) -> list[Prediction]:
        """Predictions for uint8 model inputs (N, C, H, W)."""
        if len(batch) == 0:
            return []
        probs, emb = self.run(batch)
        return [self.prediction(p, e if embed else None) for p, e in zip(probs, emb)]

    def predict_images(self, images: Sequence[Image.Image], embed: bool = False) -> list[Prediction]:
        """Predictions for decoded photos of any mode and size."""
        if not images:
            return []
        return self.predict_arrays(images_to_batch(images, self.bundle.preprocess), embed=embed)

    def prediction(
        self, p: np.ndarray, embedding: np.ndarray | None = None, top_k: int | None = None
    ) -> Prediction:
        """Top-k (the predictor's own k unless given) and review flag for one row of probabilities."""
        order = np.argsort(-p)[: min(top_k, len(p)) if top_k else self.top_k]
        top = [(self.bundle.labels[i], float(p[i])) for i in order]
        return Prediction(top=top, needs_review=top[0][1] < self.bundle.review_threshold, embedding=embedding)
