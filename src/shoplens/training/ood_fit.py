"""Fit the "not a product" detector of shoplens.inference.ood on validation photos and synthetic non-products."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from torch import nn

from shoplens.imaging import PreprocessConfig, normalize
from shoplens.imaging.photo import CUE_NAMES
from shoplens.inference.ood import MODEL_FEATURES, OodDetector

DEFAULT_FEATURES = (*MODEL_FEATURES, *CUE_NAMES)
SHRINKAGE = 0.1  # covariance shrinkage towards its mean variance, for a stable whitening
MAX_FALSE_FLAGS = 0.025  # share of validation product photos allowed to be flagged "not recognised"
REVIEW_SHARE = 0.10  # share of validation product photos sent to review by the out-of-distribution score


@dataclass
class PhotoSet:
    """Photos read for the model: inputs (N, C, H, W) uint8, their cues, and labels (-1 for non-products)."""

    arrays: np.ndarray
    cues: list[dict[str, float]]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> PhotoSet:
        """The photos at the given positions."""
        return PhotoSet(self.arrays[index], [self.cues[i] for i in index], self.labels[index])


@torch.no_grad()
def model_outputs(
    model: nn.Module, arrays: np.ndarray, preprocess: PreprocessConfig, tta_flip: bool, batch_size: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Raw logits (N, K) and embeddings (N, D) for uint8 inputs, averaged with the mirror image when tta_flip."""
    model.eval()
    logits, feats = [], []
    for i in range(0, len(arrays), batch_size):
        x = torch.from_numpy(normalize(np.ascontiguousarray(arrays[i : i + batch_size]), preprocess))
        views = [x, x.flip(3)] if tta_flip else [x]
        outs = [model.forward_features(v.contiguous(memory_format=torch.channels_last)) for v in views]
        logits.append((sum(model.head(f) for f in outs) / len(views)).numpy())
        feats.append((sum(outs) / len(views)).numpy())
    return np.concatenate(logits), np.concatenate(feats)


def class_geometry(
    embeddings: np.ndarray, labels: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Class centres (K, D) and the whitening W = Σ^-1/2 of the shared, shrunk within-class covariance."""
    centres = np.stack([embeddings[labels == k].mean(axis=0) for k in range(num_classes)])
    centred = embeddings - centres[labels]
    cov = centred.T @ centred / max(len(embeddings) - num_classes, 1)
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * np.trace(cov) / len(cov) * np.eye(len(cov))
    values, vectors = np.linalg.eigh(cov)
    whitening = (vectors / np.sqrt(np.maximum(values, 1e-12))).T
    return centres, whitening


def fit_detector(
    model: nn.Module,
    preprocess: PreprocessConfig,
    tta_flip: bool,
    products: PhotoSet,
    outliers: PhotoSet,
    num_classes: int,
    features: Sequence[str] = DEFAULT_FEATURES,
    seed: int = 0,
) -> tuple[OodDetector, dict[str, float]]:
    """Fit on half the product photos and half the outliers, set thresholds and measure on the other halves."""
    rng = np.random.default_rng(seed)
    p_fit, p_hold = _halves(len(products), rng)
    o_fit, o_hold = _halves(len(outliers), rng)
    p_logits, p_emb = model_outputs(model, products.arrays, preprocess, tta_flip)
    o_logits, o_emb = model_outputs(model, outliers.arrays, preprocess, tta_flip)
    centres, whitening = class_geometry(p_emb[p_fit], products.labels[p_fit], num_classes)
    n = len(features)
    draft = OodDetector(
        centres, whitening, tuple(features), np.zeros(n), np.ones(n), np.zeros(n), 0.0, 1.0, 1.0
    )
    x_p = draft.features(p_logits, p_emb, products.cues)
    x_o = draft.features(o_logits, o_emb, outliers.cues)
    x_fit = np.concatenate([x_p[p_fit], x_o[o_fit]])
    y_fit = np.concatenate([np.zeros(len(p_fit)), np.ones(len(o_fit))])
    mean, scale = x_fit.mean(axis=0), np.maximum(x_fit.std(axis=0), 1e-6)
    clf = LogisticRegression(C=0.5, class_weight="balanced", max_iter=2000).fit((x_fit - mean) / scale, y_fit)
    detector = OodDetector(
        centres, whitening, tuple(features), mean, scale, clf.coef_[0], float(clf.intercept_[0]), 1.0, 1.0
    )
    s_p = detector.score(p_logits[p_hold], p_emb[p_hold], [products.cues[i] for i in p_hold])
    s_o = detector.score(o_logits[o_hold], o_emb[o_hold], [outliers.cues[i] for i in o_hold])
    threshold = float(np.quantile(s_p, 1 - MAX_FALSE_FLAGS))
    review = float(min(np.quantile(s_p, 1 - REVIEW_SHARE), threshold))
    detector = OodDetector(**{**detector.__dict__, "threshold": threshold, "review": review})
    return detector, ood_metrics(s_p, s_o, threshold)


def _halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random split of range(n) into two halves."""
    order = rng.permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative."""
    labels = np.concatenate([np.zeros(len(negatives)), np.ones(len(positives))])
    return float(roc_auc_score(labels, np.concatenate([negatives, positives])))


def ood_metrics(product_scores: np.ndarray, outlier_scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of non-products flagged, share of products falsely flagged, AUROC."""
    return {
        "ood_flagged": float((outlier_scores >= threshold).mean()),
        "ood_false_flag": float((product_scores >= threshold).mean()),
        "ood_auroc": auroc(product_scores, outlier_scores),
    }


def cue_rows(cues: Sequence[Mapping[str, float]]) -> np.ndarray:
    """(N, len(CUE_NAMES)) matrix of photo cues."""
    return np.array([[float(c.get(name, 0.0)) for name in CUE_NAMES] for c in cues])
