"""Evaluate a bundle on held-out data: metrics, calibration, review threshold, report folder, model card."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from shoplens.data import ImageDataset
from shoplens.errors import ShopLensError
from shoplens.imaging import PreprocessConfig
from shoplens.inference.predictor import softmax
from shoplens.models.bundle import METRICS, Bundle, write_json
from shoplens.training.card import write_model_card
from shoplens.training.loop import predict_logits
from shoplens.training.metrics import (
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    review_stats,
)
from shoplens.training.report import write_report
from shoplens.training.small_data import review_thresholds


@dataclass(frozen=True)
class Calibration:
    """What validation decided: the temperature and the review thresholds (overall and per class)."""

    temperature: float
    review_threshold: float
    review_thresholds: dict[str, float]
    review_rule: str


def calibrate(
    model: nn.Module, val: ImageDataset, preprocess: PreprocessConfig, tta_flip: bool, target_accuracy: float
) -> Calibration:
    """Temperature fitted on validation logits, and review thresholds chosen on the calibrated probabilities."""
    if not len(val):
        threshold, per_class, rule = review_thresholds(np.zeros((0, 1)), np.zeros(0, int), val.class_names, 0)
        return Calibration(1.0, threshold, per_class, rule)
    logits = predict_logits(model, val.images, preprocess, tta_flip=tta_flip)
    temperature = fit_temperature(logits, val.labels)
    probs = softmax(logits, temperature)
    threshold, per_class, rule = review_thresholds(probs, val.labels, val.class_names, target_accuracy)
    return Calibration(float(temperature), float(threshold), per_class, rule)


def in_bundle_order(data: ImageDataset, labels: Sequence[str]) -> ImageDataset:
    """The data with its labels renumbered to the bundle's categories, matched by name (a hold-out folder's are
    sorted, a bundle's in training order; it may hold fewer); ShopLensError for a category the bundle lacks."""
    unknown = [name for name in data.class_names if name not in labels]
    if unknown:
        raise ShopLensError(
            f"the evaluation data has categories the model does not know: {', '.join(map(repr, unknown))} "
            f"(it knows {', '.join(map(repr, labels))})"
        )
    if list(data.class_names) == list(labels):
        return data
    index = np.array([list(labels).index(name) for name in data.class_names], np.int64)
    return ImageDataset(data.images, index[data.labels], list(labels), data.source, data.checksum, data.meta)


def evaluate_bundle(
    bundle: Bundle,
    test: ImageDataset,
    report_dir: str | Path | None = None,
    history: list[dict] | None = None,
    extra: dict[str, Any] | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """Test metrics for the bundle, written to a report folder and, with record, to the bundle (metrics.json,
    README.md): its own test set's; a hold-out set's are reported only."""
    test = in_bundle_order(test, bundle.labels)
    expected = (bundle.preprocess.in_chans, *bundle.preprocess.size)
    if tuple(test.images.shape[1:]) != expected:
        raise ShopLensError(f"evaluation images are {test.images.shape[1:]}, the bundle expects {expected}")
    logits = predict_logits(bundle.model, test.images, bundle.preprocess, tta_flip=bundle.tta_flip)
    probs = softmax(logits, bundle.temperature)
    metrics = classification_metrics(test.labels, probs, bundle.labels)
    metrics["ece_uncalibrated"] = float(expected_calibration_error(softmax(logits), test.labels))
    metrics["temperature"] = bundle.temperature
    cutoffs = np.array([bundle.threshold_for(label) for label in bundle.labels])
    metrics["review"] = review_stats(probs, test.labels, bundle.review_threshold, cutoffs)
    metrics["data"] = {"source": test.source, "checksum": test.checksum, "num_samples": len(test)}
    if extra is not None:  # training's own measurements (time, the detector's held-out numbers) for the card
        metrics["extra"] = extra
    report_dir = Path(report_dir) if report_dir else bundle.path / "report"
    write_report(
        report_dir,
        title=f"ShopLens evaluation: {bundle.name} {bundle.version} ({bundle.config['architecture']})",
        metrics=metrics,
        class_names=bundle.labels,
        y_true=test.labels,
        probs=probs,
        images=test.images,
        history=history,
        extra=extra,
    )
    if record:
        write_json(bundle.path / METRICS, metrics)
        bundle.metrics = metrics
        write_model_card(bundle, metrics)
    return metrics
