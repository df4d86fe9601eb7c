"""Small folders: a batch size and epoch count that still train, warnings for thin classes, review thresholds.

A preset is tuned for Fashion-MNIST's 54,000 training images; on a folder of a few hundred the same batch of
256 leaves under one optimisation step per epoch. `adapt_to_data` keeps the preset where it fits and, where it
does not, caps the batch at a share of the training images and adds epochs up to a target number of steps.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from shoplens.training.metrics import choose_review_threshold
from shoplens.training.presets import TrainConfig

BATCH_SHARE = 8  # the batch holds at most 1/8 of the training images: at least 8 steps per epoch
MIN_BATCH = 8
TARGET_STEPS = 600  # optimisation steps a small folder's run aims for (when no time budget is set)
MAX_EPOCHS = 400
MIN_CLASS_IMAGES = 20  # fewer training images in a class: a warning
DEFAULT_REVIEW_THRESHOLD = 0.6  # used when validation is too small to choose one
MIN_VAL_FOR_THRESHOLD = 200  # validation images needed to choose the overall review threshold
MIN_CLASS_VAL_FOR_THRESHOLD = 50  # validation predictions of a class needed for its own threshold


def adapt_to_data(
    cfg: TrainConfig, train_size: int, keep: Collection[str] = ()
) -> tuple[TrainConfig, dict[str, Any]]:
    """The config with batch size, LR and epochs fitted to train_size; options named in `keep` stay as given.

    Returns the config and what changed ({option: [before, after]}); an empty dict when the preset fits.
    """
    changes: dict[str, Any] = {}
    batch = cfg.batch_size
    cap = max(MIN_BATCH, train_size // BATCH_SHARE)
    if "batch_size" not in keep and batch > cap:
        batch = cap
        changes["batch_size"] = [cfg.batch_size, batch]
        if "lr" not in keep:  # square-root scaling: smaller batches, noisier gradients, a gentler step
            lr = round(cfg.lr * math.sqrt(batch / cfg.batch_size), 6)
            changes["lr"] = [cfg.lr, lr]
    steps_per_epoch = max(1, train_size // batch)
    wanted = min(MAX_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch))
    if "epochs" not in keep and cfg.time_budget is None and cfg.epochs < wanted:
        changes["epochs"] = [cfg.epochs, wanted]
    if not changes:
        return cfg, {}
    return dataclasses.replace(cfg, **{k: v[1] for k, v in changes.items()}), changes


def thin_classes(class_counts: Mapping[str, int]) -> list[str]:
    """A warning for each class with fewer than MIN_CLASS_IMAGES training images."""
    return [
        f"class {name!r} has only {count} training images (fewer than {MIN_CLASS_IMAGES}): "
        "expect unreliable predictions for it; add photos"
        for name, count in class_counts.items()
        if count < MIN_CLASS_IMAGES
    ]


def review_thresholds(
    probs: np.ndarray, y_true: np.ndarray, labels: Sequence[str], target_accuracy: float
) -> tuple[float, dict[str, float], str]:
    """The overall review threshold, one per predicted class, and how they were chosen.

    The overall one is chosen on validation when it holds at least MIN_VAL_FOR_THRESHOLD images, else it is
    DEFAULT_REVIEW_THRESHOLD (a handful of right answers would give 0, i.e. never review). A class gets its own
    threshold from the validation images predicted as it when there are MIN_CLASS_VAL_FOR_THRESHOLD of them;
    otherwise it keeps the overall one.
    """
    if len(y_true) < MIN_VAL_FOR_THRESHOLD:
        rule = f"default {DEFAULT_REVIEW_THRESHOLD} (validation has {len(y_true)} < {MIN_VAL_FOR_THRESHOLD} images)"
        return DEFAULT_REVIEW_THRESHOLD, dict.fromkeys(labels, DEFAULT_REVIEW_THRESHOLD), rule
    overall = choose_review_threshold(probs, y_true, target_accuracy)
    predicted = probs.argmax(axis=1)
    per_class = {}
    for i, name in enumerate(labels):
        mine = predicted == i
        enough = int(mine.sum()) >= MIN_CLASS_VAL_FOR_THRESHOLD
        per_class[name] = (
            choose_review_threshold(probs[mine], y_true[mine], target_accuracy) if enough else overall
        )
    rule = (
        f"chosen on {len(y_true)} validation images for {target_accuracy:.0%} accepted accuracy; per class "
        f"where at least {MIN_CLASS_VAL_FOR_THRESHOLD} validation images are predicted as it"
    )
    return overall, per_class, rule
