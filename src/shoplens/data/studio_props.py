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


PROPS = ("phone", "cup", "glasses", "leaves", "notebook", "watch", "pen", "flower")
PROP_SIZE = (0.12, 0.25)  # a prop's longer side, share of the photo's shorter side
PROP_GAP = (0.02, 0.12)  # clear of the garment's box and of each other, share of the photo's shorter side
PROP_TRIES = 60  # places tried for each prop before it is left out


def lay_props(scene: np.ndarray, garment: np.ndarray, count: int, rng: np.random.Generator) -> dict:
    """Lay up to `count` small things around the garment, as a flat-lay is styled, each with a soft shadow.

    Each is one of PROPS, its longer side PROP_SIZE of the photo's shorter side, turned any way, its box PROP_GAP
    clear of the garment itself (so it may sit in a corner of the garment's box) and of the others' boxes; left out
    where no place is found. `scene` (h, w, 3) float 0..1 is drawn on in place; `garment` (h, w) is where the
    garment will be pasted over it.
    """
    h, w = scene.shape[:2]
    short = min(h, w)
    covered = cv2.integral((garment > 0.05).astype(np.uint8))  # garment pixels in any box, at once
    taken: list[tuple[int, int, int, int]] = []
    laid = []
    for _ in range(count):
        kind = str(rng.choice(PROPS))
        rgba = _turned(
            _prop(kind, round(float(rng.uniform(*PROP_SIZE)) * short), rng), float(rng.uniform(0, 360))
        )
        ph, pw = rgba.shape[:2]
        gap = round(float(rng.uniform(*PROP_GAP)) * short)
        for _try in range(PROP_TRIES):
            top, left = int(rng.integers(0, max(1, h - ph))), int(rng.integers(0, max(1, w - pw)))
            mine = (left, top, left + pw, top + ph)
            y0, x0 = max(0, top - gap), max(0, left - gap)
            y1, x1 = min(h, top + ph + gap), min(w, left + pw + gap)
            near = covered[y1, x1] - covered[y0, x1] - covered[y1, x0] + covered[y0, x0]
            if near == 0 and all(_apart(mine, other, gap) for other in taken):
                break
        else:
            continue  # no room left for it
        _lay(scene, rgba, top, left, rng)
        taken.append(mine)
        laid.append(kind)
    return {"props": laid}


def _apart(a: tuple[float, ...], b: tuple[float, ...], gap: float) -> bool:
    """Whether two boxes (left, top, right, bottom) keep `gap` clear between them along at least one axis."""
    return a[0] >= b[2] + gap or a[2] + gap <= b[0] or a[1] >= b[3] + gap or a[3] + gap <= b[1]


def _turned(rgba: np.ndarray, degrees: float) -> np.ndarray:
    """The prop turned about its centre, on a canvas grown to hold it, cropped to what it covers."""
    h, w = rgba.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2)
    matrix[:, 2] += (size[0] - w) / 2, (size[1] - h) / 2
    out = cv2.warpAffine(rgba, matrix, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
    rows, cols = np.nonzero(out[..., 3] > 0.02)
    return out[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _lay(scene: np.ndarray, rgba: np.ndarray, top: int, left: int, rng: np.random.Generator) -> None:
    """Composite a prop onto the scene with a soft shadow falling down and to the right."""
    ph, pw = rgba.shape[:2]
    alpha = rgba[..., 3]
    pad = max(2, round(0.15 * max(ph, pw)))
    shadow = np.zeros((ph + 2 * pad, pw + 2 * pad), np.float32)
    shift = max(1, round(float(rng.uniform(0.02, 0.06)) * max(ph, pw)))
    shadow[pad + shift : pad + shift + ph, pad + shift : pad + shift + pw] = alpha
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(1.0, 0.04 * max(ph, pw))) * float(rng.uniform(0.15, 0.35))
    h, w = scene.shape[:2]
    y0, x0 = max(0, top - pad), max(0, left - pad)
    y1, x1 = min(h, top + ph + pad), min(w, left + pw + pad)
    region = scene[y0:y1, x0:x1]
    region *= 1 - shadow[y0 - top + pad : y1 - top + pad, x0 - left + pad : x1 - left + pad, None]
    region = scene[top : top + ph, left : left + pw]  # colours premultiplied by coverage (drawn on black)
    region *= 1 - alpha[..., None]
    region += rgba[..., :3]


def _prop(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 4) float RGBA 0..1, colour premultiplied by coverage: one prop seen from above, drawn at 3×
    and shrunk (smooth edges)."""
    scale = 3
    s = max(8, size) * scale
    canvas = np.zeros((s, s, 4), np.float32)
    c = s / 2

    def disc(x: float, y: float, r: float, colour: tuple[float, ...]) -> None:
        cv2.circle(canvas, (round(x), round(y)), max(1, round(r)), (*colour, 1.0), -1)

    def oval(x: float, y: float, rx: float, ry: float, angle: float, colour: tuple[float, ...]) -> None:
        axes = (max(1, round(rx)), max(1, round(ry)))
        cv2.ellipse(canvas, (round(x), round(y)), axes, angle, 0, 360, (*colour, 1.0), -1)

    def bar(x0: float, y0: float, x1: float, y1: float, colour: tuple[float, ...]) -> None:
        cv2.rectangle(canvas, (round(x0), round(y0)), (round(x1), round(y1)), (*colour, 1.0), -1)

    def tone(low: float, high: float) -> tuple[float, float, float]:
        return tuple(float(v) for v in rng.uniform(low, high, 3))

    if kind == "phone":  # a dark slab, its screen a shade apart
        body, half = tone(0.05, 0.25), 0.26 * s
        bar(c - half, 0.02 * s, c + half, 0.98 * s, body)
        screen = tuple(min(1.0, v + 0.1) for v in body)
        bar(c - half + 0.03 * s, 0.07 * s, c + half - 0.03 * s, 0.93 * s, screen)
    elif kind == "cup":  # saucer, cup, drink, handle
        saucer = tone(0.85, 0.98)
        disc(c, c, 0.46 * s, saucer)
        bar(c + 0.2 * s, c - 0.05 * s, c + 0.44 * s, c + 0.05 * s, saucer)
        disc(c, c, 0.3 * s, tuple(v * 0.97 for v in saucer))
        disc(c, c, 0.25 * s, (0.35, 0.2, 0.1) if rng.random() < 0.7 else (0.75, 0.55, 0.35))
    elif kind == "glasses":  # two lenses on a bridge, the temples folded
        frame = tone(0.02, 0.15) if rng.random() < 0.6 else (0.45, 0.28, 0.12)
        for side in (-1, 1):
            oval(c + side * 0.24 * s, c, 0.2 * s, 0.14 * s, 0, frame)
            bar(
                c + side * 0.42 * s - 0.02 * s,
                c - 0.3 * s,
                c + side * 0.42 * s + 0.02 * s,
                c - 0.05 * s,
                frame,
            )
        bar(c - 0.06 * s, c - 0.06 * s, c + 0.06 * s, c - 0.03 * s, frame)
    elif kind == "leaves":  # a sprig: leaves along a stem
        green = (float(rng.uniform(0.1, 0.3)), float(rng.uniform(0.35, 0.6)), float(rng.uniform(0.1, 0.3)))
        bar(c - 0.01 * s, 0.05 * s, c + 0.01 * s, 0.95 * s, tuple(v * 0.8 for v in green))
        for k in range(int(rng.integers(3, 6))):
            y = 0.15 * s + k * 0.17 * s
            for side in (-1, 1):
                oval(c + side * 0.16 * s, y, 0.17 * s, 0.07 * s, side * 30, green)
    elif kind == "notebook":  # a cover in any colour, a spine and an elastic band
        cover = tone(0.1, 0.9)
        bar(0.15 * s, 0.02 * s, 0.85 * s, 0.98 * s, cover)
        bar(0.15 * s, 0.02 * s, 0.22 * s, 0.98 * s, tuple(v * 0.7 for v in cover))
        bar(0.7 * s, 0.02 * s, 0.73 * s, 0.98 * s, tone(0.05, 0.3))
    elif kind == "watch":  # strap through a case with a dial
        strap = tone(0.05, 0.2) if rng.random() < 0.5 else (0.4, 0.25, 0.12)
        bar(c - 0.12 * s, 0.02 * s, c + 0.12 * s, 0.98 * s, strap)
        disc(c, c, 0.25 * s, tone(0.6, 0.8))
        disc(c, c, 0.2 * s, tone(0.9, 1.0) if rng.random() < 0.6 else tone(0.02, 0.1))
    elif kind == "pen":  # a slim barrel with a cap
        barrel = tone(0.02, 0.9)
        bar(c - 0.035 * s, 0.02 * s, c + 0.035 * s, 0.98 * s, barrel)
        bar(c - 0.04 * s, 0.02 * s, c + 0.04 * s, 0.3 * s, tuple(v * 0.6 for v in barrel))
    else:  # a flower: petals round a heart
        petal = (float(rng.uniform(0.8, 1.0)), float(rng.uniform(0.3, 0.9)), float(rng.uniform(0.4, 0.9)))
        n = int(rng.integers(5, 8))
        for k in range(n):
            a = 2 * np.pi * k / n
            disc(c + 0.25 * s * np.cos(a), c + 0.25 * s * np.sin(a), 0.17 * s, petal)
        disc(c, c, 0.14 * s, (0.95, 0.75, 0.15))
    small = cv2.resize(canvas, (max(8, size), max(8, size)), interpolation=cv2.INTER_AREA)
    return np.clip(small, 0, 1)
