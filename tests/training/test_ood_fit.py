"""Fitting a bundle's "not a product" detector on photos of validation garments and synthetic non-products."""

from __future__ import annotations

import numpy as np

from shoplens.data import ImageDataset
from shoplens.data.fashion_mnist import CLASS_NAMES
from shoplens.inference import Predictor
from shoplens.inference.ood import load_detector
from shoplens.models.bundle import load_bundle
from shoplens.training.ood_fit import fit_bundle_detector
from tests.support.bundles import PHOTO_PRE, make_bundle


def garments(n: int) -> ImageDataset:
    """Light blobs on black, sized like Fashion-MNIST, classes in turn."""
    rng = np.random.default_rng(0)
    images = np.zeros((n, 1, 28, 28), np.uint8)
    for img in images:
        top, left = rng.integers(2, 8, 2)
        img[0, top : top + rng.integers(12, 20), left : left + rng.integers(10, 18)] = rng.integers(80, 255)
    return ImageDataset(images, np.arange(n) % 10, list(CLASS_NAMES))


def test_the_detector_is_fitted_stored_and_served(tmp_path) -> None:
    path = make_bundle(tmp_path, "v1", seed=0, preprocess=PHOTO_PRE)
    held_out = fit_bundle_detector(path, garments(30), n=24)
    assert set(held_out) == {"ood_flagged", "ood_false_flag", "ood_auroc"}
    assert all(0 <= v <= 1 for v in held_out.values())
    detector = load_detector(path)
    assert detector is not None and 0 < detector.review <= detector.threshold <= 1
    assert Predictor(load_bundle(path)).ood is not None
