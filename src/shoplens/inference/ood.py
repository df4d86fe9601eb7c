"""Is it a product at all? An out-of-distribution score per photo, with numpy only, stored with the bundle.

The score combines what the model says (its calibrated confidence and entropy, how far the photo's
L2-normalised embedding lies from every class centre — a Mahalanobis distance with one shared covariance)
with what the photo itself says (shoplens.imaging.photo's cues: background uniformity, product share,
parts, solidity, ...) in a small model fitted when the bundle is trained: an additive score of a linear part
and, in bundles fitted since the reader's cues proved to interact, gradient-boosted trees
(shoplens.inference.trees). Thresholds are chosen on validation photos so that few real products are flagged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shoplens.inference.trees import BoostedTrees

OOD_FILE = "ood.json"
MODEL_FEATURES = ("max_prob", "entropy", "mahalanobis", "centre_cosine")
RECOGNISED, NEEDS_REVIEW, NOT_RECOGNISED = "recognised", "needs_review", "not_recognised"
LOW_CONFIDENCE, UNLIKE_PRODUCTS = "low_confidence", "unlike_products"  # why a prediction needs review


def review_reasons(low_confidence: bool, unlike_products: bool) -> tuple[str, ...]:
    """The reasons a prediction is flagged: its top probability under its review threshold, its "not a product"
    score at or above its review level (either, both, or none)."""
    return tuple(
        r for r, holds in ((LOW_CONFIDENCE, low_confidence), (UNLIKE_PRODUCTS, unlike_products)) if holds
    )


@dataclass(frozen=True)
class OodDetector:
    """Class centres and whitening of the embedding space, an additive model over features, two thresholds."""

    centres: np.ndarray  # (K, D) class means of the embeddings
    whitening: np.ndarray  # (D, D): ||W (e - c)||² is the Mahalanobis distance
    feature_names: tuple[str, ...]
    mean: np.ndarray  # (F,) feature standardisation
    scale: np.ndarray  # (F,)
    weights: np.ndarray  # (F,) linear weights on standardised features
    bias: float
    threshold: float  # ood_score at or above: not recognised
    review: float  # ood_score at or above (but under threshold): needs review
    trees: BoostedTrees | None = None  # added to the linear part's log-odds, on standardised features

    def model_features(self, probs: np.ndarray, embeddings: np.ndarray) -> dict[str, np.ndarray]:
        """Per-photo features from calibrated probabilities (N, K) and L2-normalised embeddings (N, D)."""
        white = (embeddings[:, None, :] - self.centres[None]) @ self.whitening.T  # (N, K, D)
        unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        centres = self.centres / np.maximum(np.linalg.norm(self.centres, axis=1, keepdims=True), 1e-12)
        return {
            "max_prob": probs.max(axis=1),
            "entropy": -(probs * np.log(np.maximum(probs, 1e-12))).sum(axis=1),
            "mahalanobis": np.log1p((white**2).sum(axis=2).min(axis=1)),
            "centre_cosine": (unit @ centres.T).max(axis=1),
        }

    def features(
        self, probs: np.ndarray, embeddings: np.ndarray, cues: Sequence[Mapping[str, float]]
    ) -> np.ndarray:
        """(N, F) feature matrix in feature_names order."""
        table = self.model_features(probs, embeddings)
        for name in self.feature_names:
            if name not in table:
                table[name] = np.array([float(c.get(name, 0.0)) for c in cues], np.float64)
        return np.stack([table[name] for name in self.feature_names], axis=1)

    def score(
        self, probs: np.ndarray, embeddings: np.ndarray, cues: Sequence[Mapping[str, float]]
    ) -> np.ndarray:
        """(N,) out-of-distribution score in 0..1 from Predictor.run's outputs: high means "not a product"."""
        z = (self.features(probs, embeddings, cues) - self.mean) / self.scale
        logit = z @ self.weights + self.bias
        if self.trees is not None:
            logit = logit + self.trees.raw(z)
        return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))

    def status(self, ood_score: float, needs_review: bool) -> str:
        """recognised, needs_review or not_recognised for one photo."""
        if ood_score >= self.threshold:
            return NOT_RECOGNISED
        if needs_review or ood_score >= self.review:
            return NEEDS_REVIEW
        return RECOGNISED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {
            "centres": self.centres.tolist(),
            "whitening": self.whitening.tolist(),
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
            "bias": float(self.bias),
            "threshold": float(self.threshold),
            "review": float(self.review),
            **({"trees": self.trees.to_dict()} if self.trees is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OodDetector:
        """Inverse of to_dict; inconsistent shapes raise ValueError."""
        arrays = {
            k: np.asarray(data[k], np.float64) for k in ("centres", "whitening", "mean", "scale", "weights")
        }
        names = tuple(data["feature_names"])
        d = arrays["centres"].shape[1] if arrays["centres"].ndim == 2 else -1
        if arrays["whitening"].shape != (d, d) or not (
            len(names) == len(arrays["mean"]) == len(arrays["scale"]) == len(arrays["weights"])
        ):
            raise ValueError("inconsistent out-of-distribution parameters")
        trees = BoostedTrees.from_dict(data["trees"]) if data.get("trees") is not None else None
        if trees is not None and trees.feature.size and trees.feature.max() >= len(names):
            raise ValueError("the detector's trees test a feature it does not have")
        return cls(
            arrays["centres"],
            arrays["whitening"],
            names,
            arrays["mean"],
            arrays["scale"],
            arrays["weights"],
            float(data["bias"]),
            float(data["threshold"]),
            float(data["review"]),
            trees,
        )

    def save(self, bundle_dir: str | Path) -> Path:
        """Write ood.json into a bundle folder."""
        path = Path(bundle_dir) / OOD_FILE
        path.write_text(json.dumps(self.to_dict()))
        return path


def load_detector(bundle_dir: str | Path) -> OodDetector | None:
    """The bundle's detector, or None for bundles trained before it existed."""
    path = Path(bundle_dir) / OOD_FILE
    if not path.is_file():
        return None
    return OodDetector.from_dict(json.loads(path.read_text()))
