"""Tiny datasets in the official file formats."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from shoplens.data.fashion_mnist import FILES
from shoplens.data.idx import write_idx


def synthetic_images(
    n: int, seed: int, num_classes: int = 10, size: int = 28
) -> tuple[np.ndarray, np.ndarray]:
    """Learnable uint8 images: class c is a stripe texture (orientation c % 2, period by c // 2), random phase."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    coords = np.arange(size)
    images = rng.integers(0, 50, size=(n, size, size)).astype(np.uint8)
    for i, c in enumerate(labels):
        period = (2, 4, 6, 8, 12)[int(c) // 2 % 5]
        stripes = ((coords + rng.integers(period)) // (period // 2)) % 2 == 0
        mask = stripes[:, None] if c % 2 == 0 else stripes[None, :]
        images[i][np.broadcast_to(mask, (size, size))] += 180
    return images, labels.astype(np.uint8)


def write_fashion_mnist_like(root: Path, n_train: int = 200, n_test: int = 60) -> Path:
    """The four official file names, holding synthetic data."""
    root.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = synthetic_images(n, seed)
        img_name, lbl_name, _ = FILES[split]
        write_idx(root / img_name, images)
        write_idx(root / lbl_name, labels)
    return root


def write_image_folder(root: Path, n: int, seed: int = 0, num_classes: int = 10) -> Path:
    """A labelled folder root/c<k>/<i>.png of n learnable synthetic images (see synthetic_images)."""
    from PIL import Image

    images, labels = synthetic_images(n, seed, num_classes)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / f"c{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:06d}.png")
    return root


def fm_garment(seed: int = 0) -> np.ndarray:
    """A 28×28 Fashion-MNIST-like garment: a light, shaded T-shirt shape with a darker print, on black."""
    img = np.zeros((28, 28), np.uint8)
    shirt = np.array(
        [[9, 3], [18, 3], [26, 8], [22, 12], [20, 10], [20, 26], [7, 26], [7, 10], [5, 12], [1, 8]]
    )
    cv2.fillPoly(img, [shirt], 1)
    shade = np.linspace(120, 230, 28)[None, :] + np.random.default_rng(seed).integers(-15, 15, (28, 28))
    img = (img * np.clip(shade, 0, 255)).astype(np.uint8)
    img[14:18, 11:16] = 250  # a print
    return img
