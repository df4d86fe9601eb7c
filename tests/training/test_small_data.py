"""Small folders: batch and epochs adapt, thin classes warn, review thresholds never come out 0 from tiny sets."""

from __future__ import annotations

import numpy as np
import pytest

from shoplens.training.presets import preset_config
from shoplens.training.small_data import (
    DEFAULT_REVIEW_THRESHOLD,
    MIN_CLASS_IMAGES,
    TARGET_STEPS,
    adapt_to_data,
    review_thresholds,
    thin_classes,
)


def test_a_small_folder_gets_a_smaller_batch_a_gentler_lr_and_enough_steps() -> None:
    cfg, changes = adapt_to_data(preset_config("fast"), 138)
    assert cfg.batch_size == 17 <= 138 // 8 and changes["batch_size"] == [256, 17]
    assert cfg.lr < 0.2 and changes["lr"][0] == 0.2
    assert cfg.epochs * (138 // cfg.batch_size) >= TARGET_STEPS and changes["epochs"] == [8, cfg.epochs]


def test_fashion_mnist_keeps_its_preset_and_options_the_user_set_are_kept() -> None:
    fast = preset_config("fast")
    assert adapt_to_data(fast, 54_000) == (fast, {})
    cfg, changes = adapt_to_data(fast, 138, keep={"batch_size", "epochs"})
    assert (cfg.batch_size, cfg.epochs, cfg.lr) == (256, 8, 0.2) and changes == {}
    budgeted = preset_config("best")  # a time budget decides the length: epochs stay
    assert "epochs" not in adapt_to_data(budgeted, 138)[1]


def test_a_class_with_fewer_than_20_images_is_warned_about() -> None:
    warnings = thin_classes({"cap": 50, "scarf": MIN_CLASS_IMAGES - 1, "tote": MIN_CLASS_IMAGES})
    assert len(warnings) == 1 and "'scarf' has only 19 training images" in warnings[0]


def test_a_tiny_validation_split_falls_back_to_the_stated_default_never_0() -> None:
    probs, y = (
        np.eye(3)[np.arange(15) % 3] * 0.9 + 0.1 / 3,
        np.arange(15) % 3,
    )  # all right: the chooser says 0
    overall, per_class, rule = review_thresholds(probs, y, ["a", "b", "c"], 0.98)
    assert overall == DEFAULT_REVIEW_THRESHOLD > 0 and set(per_class.values()) == {DEFAULT_REVIEW_THRESHOLD}
    assert "default" in rule and "15" in rule


def test_each_class_gets_its_own_threshold_when_validation_has_enough_of_it() -> None:
    rng = np.random.default_rng(0)
    n = 600
    y = np.arange(n) % 3
    conf = rng.uniform(0.55, 1.0, n)
    wrong = (y == 2) & (conf < 0.8)  # below 0.8 a "c" is taken for an "a": only "a" predictions need review
    pred = np.where(wrong, 0, y)
    probs = np.full((n, 3), 0.0)
    probs[np.arange(n), pred] = conf
    probs[np.arange(n), (pred + 1) % 3] = 1 - conf
    overall, per_class, _ = review_thresholds(probs, y, ["a", "b", "c"], 0.98)
    assert per_class["b"] == 0.0 and per_class["a"] >= 0.79 and per_class["a"] != per_class["b"]
    assert overall == pytest.approx(per_class["a"], abs=0.05)
