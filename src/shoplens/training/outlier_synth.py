"""Synthetic pictures that are not products (textures, text, noise, gradients, screens, faces, objects, scenes).

Drawn from scratch, never from a benchmark's photos: they teach the "not a product" detector what to
reject and help pick its threshold. Each kind stands for a family of pictures users send by mistake.
"""

from __future__ import annotations

import string

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shoplens.training.photo_synth import RenderedPhoto, ramp, render_background, value_noise

KINDS = ("texture", "text", "noise", "gradient", "screen", "face", "shapes", "silhouette", "scene", "blank")


def _colour(rng: np.random.Generator, low: float = 0.0, high: float = 1.0) -> tuple[int, int, int]:
    """A random RGB colour with channels in [low, high] (0..255 ints)."""
    return tuple(int(v) for v in rng.uniform(low * 255, high * 255, 3))


def _font(rng: np.random.Generator, size: int) -> ImageFont.ImageFont:
    """Pillow's bundled scalable font at a size (no system fonts needed)."""
    return ImageFont.load_default(size=max(6, size))


def _word(rng: np.random.Generator) -> str:
    """A random word-like string."""
    return "".join(rng.choice(list(string.ascii_letters), int(rng.integers(2, 10))))


def _text(shape: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A page of text, a poster line or a label: dark on light or light on dark."""
    h, w = shape
    light = rng.random() < 0.75
    img = Image.new("RGB", (w, h), _colour(rng, 0.85, 1.0) if light else _colour(rng, 0.0, 0.25))
    draw = ImageDraw.Draw(img)
    ink = _colour(rng, 0.0, 0.3) if light else _colour(rng, 0.75, 1.0)
    size = int(h * rng.uniform(0.025, 0.2))
    y = int(rng.uniform(0.02, 0.2) * h)
    while y < h - size:
        line = " ".join(_word(rng) for _ in range(int(rng.integers(1, 12))))
        draw.text((int(rng.uniform(0.02, 0.15) * w), y), line, fill=ink, font=_font(rng, size))
        y += int(size * rng.uniform(1.2, 2.0))
    return img


def _screen(shape: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A user-interface screenshot: a bar, panels, buttons and lines of text."""
    h, w = shape
    img = Image.new("RGB", (w, h), _colour(rng, 0.9, 1.0) if rng.random() < 0.7 else _colour(rng, 0.1, 0.25))
    draw = ImageDraw.Draw(img)
    bar = int(h * rng.uniform(0.05, 0.12))
    draw.rectangle((0, 0, w, bar), fill=_colour(rng))
    for _ in range(int(rng.integers(3, 12))):
        x0, y0 = int(rng.uniform(0, 0.8) * w), int(rng.uniform(0.12, 0.9) * h)
        x1, y1 = x0 + int(rng.uniform(0.05, 0.5) * w), y0 + int(rng.uniform(0.02, 0.25) * h)
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=_colour(rng), outline=_colour(rng, 0, 0.5))
        else:
            draw.text((x0, y0), _word(rng), fill=_colour(rng, 0, 0.4), font=_font(rng, int(h * 0.04)))
    return img


def _face(shape: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A face: skin-toned oval with hair, eyes and mouth, head and shoulders on a background."""
    h, w = shape
    img = Image.fromarray((render_background(shape, rng) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.55)
    fw, fh = min(h, w) * rng.uniform(0.2, 0.4), min(h, w) * rng.uniform(0.28, 0.5)
    skin = tuple(int(v) for v in np.array([224, 172, 135]) * rng.uniform(0.35, 1.1))
    draw.ellipse((cx - fw * 1.8, cy + fh * 0.8, cx + fw * 1.8, cy + fh * 3), fill=_colour(rng))
    draw.ellipse((cx - fw * 1.1, cy - fh * 1.2, cx + fw * 1.1, cy + fh * 0.4), fill=_colour(rng, 0, 0.5))
    draw.ellipse((cx - fw, cy - fh, cx + fw, cy + fh), fill=skin)
    for side in (-1, 1):
        ex = cx + side * fw * 0.4
        draw.ellipse((ex - fw * 0.15, cy - fh * 0.25, ex + fw * 0.15, cy - fh * 0.1), fill=(30, 30, 30))
    draw.arc(
        (cx - fw * 0.4, cy + fh * 0.2, cx + fw * 0.4, cy + fh * 0.6), 20, 160, fill=(120, 40, 40), width=3
    )
    return img


def _shapes(shape: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Everyday objects as simple shapes on a table or studio background: discs, cups, boxes, stars."""
    h, w = shape
    img = Image.fromarray((render_background(shape, rng) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 9))):
        r = min(h, w) * rng.uniform(0.05, 0.35)
        cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
        kind = rng.integers(4)
        fill = _colour(rng)
        if kind == 0:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=_colour(rng))
        elif kind == 1:  # a cup: a body and a handle
            draw.ellipse(
                (cx + r * 0.5, cy - r * 0.5, cx + r * 1.3, cy + r * 0.4),
                outline=fill,
                width=max(2, int(r / 6)),
            )
            draw.rectangle((cx - r * 0.7, cy - r, cx + r * 0.7, cy + r), fill=fill)
        elif kind == 2:
            draw.rectangle((cx - r, cy - r * rng.uniform(0.3, 1), cx + r, cy + r), fill=fill)
        else:
            angles = np.linspace(0, 2 * np.pi, 11)[:-1] + rng.uniform(0, 1)
            radius = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
            draw.polygon(
                [(cx + q * np.cos(a), cy + q * np.sin(a)) for a, q in zip(angles, radius)], fill=fill
            )
    return img


def _silhouette(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """One smooth random blob with limbs (an animal, a tool, a plant), dark on light or light on dark."""
    h, w = shape
    field = value_noise(shape, rng, cells=rng.uniform(1.5, 4), octaves=2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    centre = np.hypot((yy / h - 0.5) * 2, (xx / w - 0.5) * 2)
    blob = (field - centre * rng.uniform(0.6, 1.2) + rng.uniform(0.1, 0.4)) > 0
    for _ in range(int(rng.integers(0, 5))):  # limbs, stalks, handles
        p0 = (int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(0.3, 0.7) * h))
        p1 = (int(rng.uniform(0.05, 0.95) * w), int(rng.uniform(0.05, 0.95) * h))
        limb = np.zeros(shape, np.uint8)
        cv2.line(limb, p0, p1, 1, max(2, int(min(h, w) * rng.uniform(0.01, 0.06))))
        blob |= limb > 0
    bg = render_background(shape, rng, str(rng.choice(("white", "light", "dark", "mid"))))
    fg = np.array(_colour(rng), np.float32) / 255
    return np.where(blob[..., None], fg, bg)


def _scene(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """An outdoor or indoor scene: sky over ground, with blurred shapes; no plain background anywhere."""
    h, w = shape
    sky = np.array(_colour(rng, 0.4, 1.0), np.float32) / 255
    ground = np.array(_colour(rng, 0.1, 0.6), np.float32) / 255
    horizon = rng.uniform(0.3, 0.7) + 0.1 * value_noise((1, w), rng, 3)[0]
    below = (np.arange(h)[:, None] / h) > horizon[None, :]
    img = np.where(below[..., None], ground, sky) * (1 + 0.25 * value_noise(shape, rng, 6, 4))[..., None]
    for _ in range(int(rng.integers(2, 12))):
        r = int(min(h, w) * rng.uniform(0.03, 0.2))
        cv2.circle(
            img, (int(rng.integers(w)), int(rng.integers(h))), r, tuple(rng.uniform(0, 1, 3).tolist()), -1
        )
    return np.clip(cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 3)), 0, 1)


def render_outlier(
    rng: np.random.Generator, sides: tuple[int, int] = (200, 800), kind: str | None = None
) -> RenderedPhoto:
    """One picture that is not a product, as an upload would look."""
    kind = kind or str(rng.choice(KINDS))
    long = int(np.exp(rng.uniform(np.log(sides[0]), np.log(sides[1]))))
    short = max(16, int(long * rng.uniform(0.55, 1.0)))
    shape = (long, short) if rng.random() < 0.5 else (short, long)
    if kind == "texture":
        base = np.array(_colour(rng), np.float32) / 255
        tex = value_noise(shape, rng, rng.uniform(4, 40), 4)[..., None] * rng.uniform(0.2, 0.8)
        out: np.ndarray | Image.Image = np.clip(
            base + tex * (np.array(_colour(rng), np.float32) / 255 - 0.5), 0, 1
        )
    elif kind == "noise":
        out = rng.uniform(0, 1, (*shape, 3)).astype(np.float32)
        if rng.random() < 0.5:
            out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 4))
    elif kind == "gradient":
        a, b = np.array(_colour(rng), np.float32) / 255, np.array(_colour(rng), np.float32) / 255
        t = ramp(shape, rng)[..., None]
        out = a * (1 - t) + b * t
    elif kind == "blank":
        out = np.broadcast_to(np.array(_colour(rng), np.float32) / 255, (*shape, 3)).copy()
    elif kind in ("silhouette", "scene"):
        out = (_silhouette if kind == "silhouette" else _scene)(shape, rng)
    else:
        out = {"text": _text, "screen": _screen, "face": _face, "shapes": _shapes}[kind](shape, rng)
    rgb = (
        np.asarray(out) if isinstance(out, Image.Image) else (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
    )
    quality = int(rng.integers(60, 96)) if rng.random() < 0.7 else None
    return RenderedPhoto(np.ascontiguousarray(rgb), np.zeros(shape, bool), kind, quality)
