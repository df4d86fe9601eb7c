"""Model bundles on disk, built in seconds: untrained, made confident, fitted to a few photos, or corrupt."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from shoplens.data import ImageDataset
from shoplens.data.fashion_mnist import CLASS_NAMES
from shoplens.imaging import PreprocessConfig
from shoplens.imaging.preprocess import images_to_batch, normalize
from shoplens.inference.ood import OodDetector
from shoplens.models import create_model, save_bundle

NAME = "fashion-mnist"  # the model name the service and the catalogue serve by default
DIM = 128 + 10  # search vectors of shopnet: its 128 features joined to the ten category probabilities
FMNIST_PRE = PreprocessConfig(
    size=(28, 28), mode="L", resize="pad", trim=True, invert=True, mean=(0.286,), std=(0.353,)
)
PHOTO_PRE = PreprocessConfig(size=(28, 28), mode="L", reader="photo", mean=(0.286,), std=(0.353,))


def bundle_at(
    path: Path,
    *,
    architecture: str = "shopnet",
    labels: Sequence[str] = CLASS_NAMES,
    preprocess: PreprocessConfig = FMNIST_PRE,
    seed: int = 0,
    model: nn.Module | None = None,
    accuracy: float | None = None,
    train_config: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    **options: Any,
) -> Path:
    """A bundle of `model` (else a freshly initialised `architecture`) at `path`; options go to save_bundle."""
    if model is None:
        torch.manual_seed(seed)
        model = create_model(architecture, num_classes=len(labels))
    path = save_bundle(
        path,
        model.eval(),
        architecture=architecture,
        model_kwargs={},
        labels=list(labels),
        preprocess=preprocess,
        train_config={"seed": seed} if train_config is None else train_config,
        data={"source": "test"} if data is None else data,
        **options,
    )
    if accuracy is not None:
        (path / "metrics.json").write_text(json.dumps({"accuracy": accuracy}))
    return path


def make_bundle(
    models_root: Path, version: str, seed: int, accuracy: float | None = None, **options: Any
) -> Path:
    """An untrained shopnet bundle at <models_root>/fashion-mnist/<version> (review threshold 0.5 by default)."""
    options.setdefault("review_threshold", 0.5)
    return bundle_at(models_root / NAME / version, seed=seed, accuracy=accuracy, **options)


def confident_bundle(models_root: Path, version: str, seed: int) -> Path:
    """An untrained shopnet bundle made very sure of itself (temperature 0.001): its predictions are confident."""
    return bundle_at(models_root / NAME / version, seed=seed, temperature=0.001)


def corrupt_bundle(models_root: Path, version: str) -> Path:
    """A version folder whose config is fine but whose weights are truncated."""
    path = make_bundle(models_root, version, seed=99)
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return path


def fitted_bundle(
    models_root: Path, version: str, images: list[Image.Image], labels: list[int], steps: int = 40
) -> Path:
    """A shopnet bundle fitted to a few photos (each to its label): categories differ, search means something."""
    torch.manual_seed(0)
    model = create_model("shopnet", num_classes=10)
    x = torch.from_numpy(normalize(images_to_batch(images, FMNIST_PRE), FMNIST_PRE))
    y = torch.tensor(labels)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is as fast, and far faster on a busy machine
    try:
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return bundle_at(
        models_root / NAME / version, model=model, train_config={"steps": steps}, review_threshold=0.9
    )


def add_detector(bundle_dir: Path, dim: int = 128, classes: int = 10, threshold: float = 0.5) -> None:
    """A "not a product" detector that flags photos whose border is no single background (few border inliers);
    with a threshold over 1 it flags nothing."""
    OodDetector(
        centres=np.zeros((classes, dim)),
        whitening=np.eye(dim),
        feature_names=("bg_inliers",),
        mean=np.array([0.7]),
        scale=np.array([0.1]),
        weights=np.array([-5.0]),
        bias=0.0,
        threshold=threshold,
        review=min(0.3, threshold),
    ).save(bundle_dir)


def garments(n: int) -> ImageDataset:
    """Light blobs on black, sized like Fashion-MNIST, classes in turn."""
    rng = np.random.default_rng(0)
    images = np.zeros((n, 1, 28, 28), np.uint8)
    for img in images:
        top, left = rng.integers(2, 8, 2)
        img[0, top : top + rng.integers(12, 20), left : left + rng.integers(10, 18)] = rng.integers(80, 255)
    return ImageDataset(images, np.arange(n) % 10, list(CLASS_NAMES))


def bundle_of_garment_folder(tmp_path: Path, per_class: int = 6) -> Path:
    """A photo-reading bundle (version v1 under tmp_path/models) whose training data is a folder of garments.

    Class sub-folders c0..c9 of light-on-black PNGs; half of its pool is its validation split.
    """
    data = garments(10 * per_class)
    names = [f"c{k}" for k in range(10)]
    for i, (img, label) in enumerate(zip(data.images, data.labels, strict=True)):
        folder = tmp_path / "photos" / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0]).save(folder / f"{i}.png")
    return make_bundle(
        tmp_path / "models",
        "v1",
        seed=0,
        preprocess=PHOTO_PRE,
        labels=names,
        train_config={"seed": 0, "val_fraction": 0.5},
        data={"kind": "folder", "path": str(tmp_path / "photos"), "test_fraction": 0.2},
    )
