"""What a studio adds to the scene around the garment: a wall/floor seam, a pool of light, a hard cast shadow,
a wire hanger, a mannequin's neck (drawn for `data.studio_scenes`; an evaluation instrument, never training data)."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

WORN_ON_TOP = (0, 2, 3, 4, 6)  # T-shirt/top, Pullover, Dress, Coat, Shirt: what hangs from shoulders
HANGER_GREYS = (0.15, 0.35, 0.75)  # dark wire, grey wire, chrome
MANNEQUIN_COLOURS = ((0.95, 0.95, 0.93), (0.1, 0.1, 0.1), (0.86, 0.69, 0.55))


def seam(scene: np.ndarray, rng: np.random.Generator) -> dict:
    """Darken or lighten everything below a (slightly tilted) line: the floor or a table top."""
    h, w = scene.shape[:2]
    at, tilt = float(rng.uniform(0.55, 0.85)), float(rng.uniform(-3, 3))
    ys, xs = np.mgrid[0:h, 0:w]
    below = ys > at * h + (xs - w / 2) * np.tan(np.radians(tilt))
    level = float(scene.mean())
    step = float(rng.uniform(0.08, 0.3))
    if level > 0.8 or rng.random() < 0.6:  # a light wall can only have a darker floor
        step = -step
    lift = abs(step) * 0.3 if level < 0.25 else 0.0  # on a dark set a step must be added to show
    scene[below] = np.clip(scene[below] * (1 + step) + lift, 0, 1)
    return {"seam_at": at, "seam_tilt": tilt, "seam_step": step}


def spotlight(scene: np.ndarray, lift: tuple[float, float], rng: np.random.Generator) -> dict:
    """Add a pool of light to the backdrop, in its tint: an elliptical Gaussian that need not reach the edges."""
    h, w = scene.shape[:2]
    cy, cx = float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))
    sy, sx = float(rng.uniform(0.2, 0.45)), float(rng.uniform(0.2, 0.45))
    peak = float(rng.uniform(*lift))
    v = (np.arange(h, dtype=np.float32) / h - cy) / sy
    u = (np.arange(w, dtype=np.float32) / w - cx) / sx
    pool = np.exp(-0.5 * (v[:, None] ** 2 + u[None, :] ** 2))
    tint = scene.reshape(-1, 3).mean(axis=0)
    tint = tint / max(float(tint.mean()), 1e-3)
    scene += (peak * pool)[..., None] * tint
    np.clip(scene, 0, 1, out=scene)
    return {"spot_peak": peak, "spot_centre": (cy, cx), "spot_spread": (sy, sx)}


def cast_shadow(scene: np.ndarray, alpha: np.ndarray, garment_width: int, rng: np.random.Generator) -> dict:
    """A hard shadow of the garment, offset away from a spotlight."""
    angle = rng.uniform(0, 2 * np.pi)
    shift = rng.uniform(0.04, 0.1) * garment_width
    matrix = np.float32([[1, 0, shift * np.cos(angle)], [0, 1, shift * np.sin(angle)]])
    shadow = cv2.warpAffine(alpha, matrix, (alpha.shape[1], alpha.shape[0]))
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(0.5, 0.006 * garment_width))
    darkness = float(rng.uniform(0.25, 0.55))
    scene *= (1 - darkness * shadow)[..., None]
    return {"shadow_darkness": darkness, "shadow_shift": shift / garment_width}


def hanger(img: Image.Image, box: tuple[int, ...], label: int, rng: np.random.Generator) -> dict:
    """A wire hanger's hook and bar (behind the garment, which is pasted over it)."""
    left, top, right, _bottom = box
    width = right - left
    cx = (left + right) / 2 + rng.uniform(-0.05, 0.05) * width
    wire = max(2, round(width * rng.uniform(0.008, 0.02)))
    grey = int(255 * float(rng.choice(HANGER_GREYS)))
    colour = (grey, grey, grey)
    draw = ImageDraw.Draw(img)
    hook = width * rng.uniform(0.12, 0.2)
    if label in WORN_ON_TOP:  # shoulders slope down from the neck
        span, drop = width * rng.uniform(0.3, 0.42), hook * 0.35
        neck = (cx, top - drop)
        draw.line([(cx - span, top + drop), neck, (cx + span, top + drop)], fill=colour, width=wire)
    else:  # trousers: a clip bar across the waistband
        span = width * rng.uniform(0.4, 0.55)
        neck = (cx, top - hook * 0.35)
        draw.line([(cx - span, top + 2), (cx + span, top + 2)], fill=colour, width=wire)
        draw.line([(cx, top + 2), neck], fill=colour, width=wire)
    r = hook * 0.3
    draw.line([neck, (neck[0], neck[1] - hook * 0.4)], fill=colour, width=wire)
    draw.arc(
        [neck[0] - r, neck[1] - hook * 0.4 - 2 * r, neck[0] + r, neck[1] - hook * 0.4],
        180,
        60,
        fill=colour,
        width=wire,
    )
    return {"hanger_wire": wire, "hanger_grey": grey / 255}


def mannequin(img: Image.Image, box: tuple[int, ...], rng: np.random.Generator) -> dict:
    """A neck form rising from the collar."""
    left, top, right, _bottom = box
    width = right - left
    cx = (left + right) / 2
    colour = MANNEQUIN_COLOURS[int(rng.integers(len(MANNEQUIN_COLOURS)))]
    fill = tuple(int(255 * c) for c in colour)
    neck_w, neck_h = width * rng.uniform(0.1, 0.16), width * rng.uniform(0.15, 0.3)
    draw = ImageDraw.Draw(img)
    draw.rectangle([cx - neck_w, top - neck_h, cx + neck_w, top + neck_h * 0.5], fill=fill)
    draw.ellipse(
        [cx - neck_w, top - neck_h - neck_w * 0.5, cx + neck_w, top - neck_h + neck_w * 0.5], fill=fill
    )
    return {"mannequin": "white" if colour[0] > 0.9 else "black" if colour[0] < 0.2 else "skin"}
