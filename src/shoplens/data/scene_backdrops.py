"""Backdrops made from scikit-image's bundled photos, for the studio set-ups (`data.studio_scenes`).

`SURFACES`: brick, grass and gravel (grey photos), tinted as such surfaces are, seen at 0.5–2× their scale and cropped
anywhere. `SCENES`: a real scene (an astronaut, a cat, a coffee cup, a rocket, a motorcycle) at 1–1.6× the canvas,
cropped anywhere and thrown out of focus. An evaluation instrument, never training data.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SURFACES = {  # set-up: (scikit-image picture, tints it may take, RGB factors)
    "on_brick": ("brick.png", ((1.0, 0.62, 0.48), (0.95, 0.8, 0.7), (0.85, 0.85, 0.85))),
    "on_grass": ("grass.png", ((0.55, 0.85, 0.4), (0.65, 0.8, 0.45))),
    "on_gravel": ("gravel.png", ((0.95, 0.9, 0.82), (0.82, 0.86, 0.92), (0.9, 0.9, 0.9))),
}
SCENES = {"scene_soft": (0.005, 0.015), "scene_blurred": (0.015, 0.04)}  # blur, share of the longer side
SCENE_PICTURES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")


@functools.cache
def _picture(name: str, mode: str = "L") -> np.ndarray:
    """One of scikit-image's bundled pictures in a PIL mode ("L" grey, "RGB"), float32 0..1 (read once per process)."""
    import skimage  # a dependency of the package; its data folder ships the pictures

    path = Path(skimage.__file__).parent / "data" / name
    return np.asarray(Image.open(path).convert(mode), np.float32) / 255


def blurred_scene(h: int, w: int, setup: str, rng: np.random.Generator, meta: dict) -> np.ndarray:
    """(h, w, 3) float 0..1: a real scene behind the product, cropped anywhere and thrown out of focus."""
    name = SCENE_PICTURES[int(rng.integers(len(SCENE_PICTURES)))]
    picture = _picture(name, "RGB")
    scale = max(h / picture.shape[0], w / picture.shape[1]) * float(rng.uniform(1.0, 1.6))
    size = (int(np.ceil(picture.shape[1] * scale)), int(np.ceil(picture.shape[0] * scale)))
    big = cv2.resize(picture, size, interpolation=cv2.INTER_LINEAR)
    top = int(rng.integers(0, big.shape[0] - h + 1))
    left = int(rng.integers(0, big.shape[1] - w + 1))
    blur = float(rng.uniform(*SCENES[setup]))
    scene = cv2.GaussianBlur(big[top : top + h, left : left + w], (0, 0), blur * max(h, w))
    meta.update(backdrop="scene", scene=name.split(".")[0], scene_blur=blur)
    return np.clip(scene * float(rng.uniform(0.75, 1.05)), 0, 1)


def photographed_surface(h: int, w: int, setup: str, rng: np.random.Generator) -> np.ndarray:
    """(h, w, 3) float 0..1: a photographed surface, tinted, at a random scale and crop."""
    name, tints = SURFACES[setup]
    grey = _picture(name)
    scale = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0)))) * max(h, w) / max(grey.shape)
    reps = (
        int(np.ceil(max(h, w) / (scale * min(grey.shape)))) + 1
    )  # mirrored tiles where one does not cover it
    tiled = np.tile(np.concatenate([grey, grey[::-1]], axis=0), (reps, reps))[: reps * grey.shape[0]]
    tiled = np.concatenate([tiled, tiled[:, ::-1]], axis=1)
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    big = cv2.resize(tiled, None, fx=scale, fy=scale, interpolation=method)
    top = int(rng.integers(0, big.shape[0] - h + 1))
    left = int(rng.integers(0, big.shape[1] - w + 1))
    tint = np.asarray(tints[int(rng.integers(len(tints)))], np.float32)
    return np.clip(big[top : top + h, left : left + w, None] * tint * float(rng.uniform(0.85, 1.1)), 0, 1)
