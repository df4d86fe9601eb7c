"""Fashion-MNIST TEST garments shot the ways studios shoot them: an evaluation instrument, never training data.

The photo benchmark (`shop_photos`) lays each garment on a backdrop. Studios also hang it, stand it where the
wall meets the floor, light it with a hard spot or dress a mannequin in it. Each photo here is one set-up:

- `plain`: the garment on a studio backdrop, as a reference.
- `hanger`: on a wire hanger, its hook and the ends of its bar showing above the shoulders (tops, dresses, coats)
  or a clip bar above the waistband (trousers).
- `seam`: the wall meets the floor (or a table's edge) behind it, a step of 8–30 % in brightness at 55–85 % of
  the height, level or tilted by up to 3°; lit floors are darker or lighter than the wall.
- `cast_shadow`: a hard shadow from a spotlight, offset by 4–10 % of the garment's size, 25–55 % dark.
- `mannequin`: a neck form (white, black or skin-toned) above the collar of tops, dresses and coats.
- `pair`, `pair_overlapping`: sandals, sneakers and ankle boots as pairs, the second shoe mirrored, beside the first
  (3–25 % of a shoe apart) or behind it (overlapping by 3–20 %).
- `reflection`: shoes and bags on a glossy floor, their mirror image below them at 15–40 % opacity, fading.

Then what shops lay over the finished photo (any category):

- `watermark`: the shop's name or address in grey or white letters 3–6 % of the height tall, 50–100 % opaque,
  along the bottom or top edge or across a lower corner.
- `logo`: a coloured plate with white letters, 15–30 % of the width wide, in a corner.
- `price_tag`: a white tag with a red or black price, 12–22 % of the width wide, in a lower corner.
- `frame`: a grey or coloured line 1–4 px (at 600 px) thick drawn around the photo, 1–4 % inside its edges.

Each set-up shoots only the categories it fits (`ELIGIBLE`).

A second group (`GROUPS["tilted"]`) lays any garment at a slant: `tilted_5_10`, `tilted_10_20` and `tilted_20_35`
turn it by that many degrees, either way, beside `plain` as the reference. A third (`GROUPS["beside"]`) shows another,
smaller garment (35–60 % of its size, any category) standing beside it, 5–25 % of its width apart (`beside`).
A fourth (`GROUPS["surfaces"]`) lays it on photographed surfaces instead of a studio backdrop: `on_brick`,
`on_grass` and `on_gravel` are scikit-image's bundled photos of them (grey), tinted as such surfaces are
(terracotta, green, warm or cool stone), seen at 0.5–2× their scale and cropped anywhere.
A fifth (`GROUPS["patterns"]`) dresses the garment in a pattern of its colour and a second palette colour at least
0.2 apart in lightness, under the same shading: `striped` (stripes across, down or at 45°, 6–16 per garment, 30–60 %
of the second colour), `checked` (gingham: bands both ways at half strength, full where they cross), `dotted`
(polka dots, 5–14 per garment) and `printed` (a block, disc or bar of the second colour, 20–40 % of the garment's
width, on its upper middle).

The garment itself is coloured and shaded as in `shop_photos` (`garment_layers`); light, dark and mid-grey
backdrops, 360–1600 px canvases, sensor noise and JPEG 70–95.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shoplens.data.procedural import hex_to_rgb, paste_clipped
from shoplens.data.shop_photos import (
    PALETTE,
    EncodedPhoto,
    encode_jpeg,
    garment_layers,
    garment_order,
    sample_spec,
    studio,
    to_uint8,
)

SETUPS = (
    "plain",
    "hanger",
    "seam",
    "cast_shadow",
    "mannequin",
    "pair",
    "pair_overlapping",
    "reflection",
    "watermark",
    "logo",
    "price_tag",
    "frame",
)
OVERLAYS = ("watermark", "logo", "price_tag", "frame")  # laid over the finished photo
TILTS = {"tilted_5_10": (5.0, 10.0), "tilted_10_20": (10.0, 20.0), "tilted_20_35": (20.0, 35.0)}  # degrees
SURFACES = {  # set-up: (scikit-image picture, tints it may take, RGB factors)
    "on_brick": ("brick.png", ((1.0, 0.62, 0.48), (0.95, 0.8, 0.7), (0.85, 0.85, 0.85))),
    "on_grass": ("grass.png", ((0.55, 0.85, 0.4), (0.65, 0.8, 0.45))),
    "on_gravel": ("gravel.png", ((0.95, 0.9, 0.82), (0.82, 0.86, 0.92), (0.9, 0.9, 0.9))),
}
PATTERNS = ("striped", "checked", "dotted", "printed")  # drawn on the garment in a second colour
GROUPS = {
    "studio": SETUPS,
    "tilted": ("plain", *TILTS),
    "beside": ("plain", "beside"),
    "surfaces": ("plain", *SURFACES),
    "patterns": ("plain", *PATTERNS),
}
KNOWN = (*SETUPS, *TILTS, "beside", *SURFACES, *PATTERNS)
SHOP_NAMES = ("SHOP.COM", "© modehaus", "www.style-store.example", "BRANDNAME", "outlet24", "LUXE")
WORN_ON_TOP = (0, 2, 3, 4, 6)  # T-shirt/top, Pullover, Dress, Coat, Shirt: what hangs from shoulders
HUNG = (*WORN_ON_TOP, 1)  # ... and trousers, from a clip bar
SHOES = (5, 7, 9)  # Sandal, Sneaker, Ankle boot: shown as pairs
ELIGIBLE = {
    "hanger": HUNG,
    "mannequin": WORN_ON_TOP,
    "pair": SHOES,
    "pair_overlapping": SHOES,
    "reflection": (*SHOES, 8),  # shoes and bags stand on glossy floors
}
PAIR_GAP = {
    "pair": (0.03, 0.25),
    "pair_overlapping": (-0.2, -0.03),
}  # between the shoes, share of one's width
HANGER_GREYS = (0.15, 0.35, 0.75)  # dark wire, grey wire, chrome
MANNEQUIN_COLOURS = ((0.95, 0.95, 0.93), (0.1, 0.1, 0.1), (0.86, 0.69, 0.55))
# ITU-R 601 luma weights: a pattern's two colours differ in lightness by at least 0.2 on this measure
LUMA = np.float32([0.299, 0.587, 0.114])


def studio_photo(
    image28: np.ndarray, label: int, setup: str, rng: np.random.Generator, other: np.ndarray | None = None
) -> tuple[np.ndarray, dict]:
    """One upright photo (uint8 RGB) of the garment in the set-up (`other`: the garment beside it), with metadata."""
    if setup not in KNOWN:
        raise ValueError(f"unknown set-up {setup!r}; expected one of {', '.join(KNOWN)}")
    if (setup == "beside") != (other is not None):
        raise ValueError("the 'beside' set-up, and only it, shows another garment")
    if label not in ELIGIBLE.get(setup, (label,)):
        raise ValueError(f"category {label} is not shot in the {setup!r} set-up")
    backdrop = str(rng.choice(["light", "mid_grey", "dark"], p=[0.6, 0.25, 0.15]))
    spec = sample_spec(rng, background=backdrop)
    if setup in TILTS:
        spec = replace(spec, tilt=float(rng.choice([-1.0, 1.0]) * rng.uniform(*TILTS[setup])))
    long_side = int(np.exp(rng.uniform(np.log(360), np.log(1600))))
    side_by_side = setup in PAIR_GAP or setup == "beside"
    portrait = rng.random() < 0.7 and not side_by_side
    h, w = (
        (long_side, int(long_side * rng.choice([1.0, 0.8, 0.75])))
        if portrait
        else (int(long_side * 0.75), long_side)
    )
    share = rng.uniform(0.3, 0.42) if side_by_side else rng.uniform(0.45, 0.75)
    rgb, alpha = garment_layers(image28, spec, max(16, round(share * min(h, w))), rng)
    rows, cols = np.nonzero(alpha > 0.5)
    meta: dict = {"setup": setup, "backdrop": backdrop, "colour": spec.colour, "width": w, "height": h}
    if setup in PATTERNS:
        rgb = draw_pattern(rgb, alpha, spec.colour, setup, rng, meta)
    gh, gw = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    room_top = round(0.22 * h)  # space above for a hook or a neck
    room_below = round(0.05 * h) if setup != "reflection" else round(0.5 * gh)  # ... below for a reflection
    top = int(rng.integers(room_top, max(room_top + 1, h - gh - room_below))) - rows.min()
    placed = [(rgb, alpha, top)]
    span = gw
    meta["tilt"] = spec.tilt
    if setup in PAIR_GAP:  # the other shoe, mirrored, beside it (behind it when they overlap)
        gap = round(float(rng.uniform(*PAIR_GAP[setup])) * gw)
        shift = gw + gap
        placed.insert(0, (rgb[:, ::-1], alpha[:, ::-1], top + round(rng.uniform(-0.05, 0.05) * gh)))
        span = 2 * gw + gap
        meta["pair_gap"] = gap / gw
    if other is not None:  # another garment standing on the same line, to the right
        other_rgb, other_alpha = garment_layers(
            other,
            replace(sample_spec(rng, background=backdrop), tilt=0.0),
            max(16, round(share * rng.uniform(0.35, 0.6) * min(h, w))),
            rng,
        )
        other_rows, other_cols = np.nonzero(other_alpha > 0.5)
        gap = round(float(rng.uniform(0.05, 0.25)) * gw)
        shift = gw + gap
        placed.insert(0, (other_rgb, other_alpha, top + rows.max() - other_rows.max()))
        span = shift + other_cols.max() - other_cols.min() + 1
        meta["other_gap"] = gap / gw
    if setup == "reflection":  # the mirror image, fading away from the contact line, behind it
        opacity = float(rng.uniform(0.15, 0.4))
        fade = np.linspace(1, 0, alpha.shape[0], dtype=np.float32)[:, None] ** float(rng.uniform(0.5, 2))
        mirror = alpha[::-1] * opacity * np.roll(fade, alpha.shape[0] - 1 - rows.max(), axis=0)
        placed.insert(0, (rgb[::-1], mirror, top + 2 * rows.max() + 2 - alpha.shape[0]))
        meta["reflection_opacity"] = opacity
    x = int(rng.integers(0, max(1, w - span)))  # where the garment's box (the pair's) starts
    left = x - cols.min()
    lefts = [left] * len(placed)  # a reflection lies right under the garment
    if setup in PAIR_GAP:  # the mirrored shoe's box starts `shift` after the first one's
        lefts[0] = x + shift - (alpha.shape[1] - 1 - cols.max())
    if other is not None:  # ... and so does the other garment's
        lefts[0] = x + shift - other_cols.min()
    if setup in SURFACES:
        scene = _surface(h, w, setup, rng)
        meta["backdrop"] = setup.removeprefix("on_")
    else:
        scene = studio(h, w, rng, backdrop)
    if setup == "seam":
        meta.update(_seam(scene, rng))
    canvas_alpha = np.zeros((h, w), np.float32)
    paste_clipped(canvas_alpha, alpha, left, top)
    box = (left + cols.min(), top + rows.min(), left + cols.max() + 1, top + rows.max() + 1)
    if setup == "cast_shadow":
        meta.update(_cast_shadow(scene, canvas_alpha, gw, rng))
    drawn = Image.fromarray(to_uint8(scene))
    if setup == "hanger":
        meta.update(_hanger(drawn, box, label, rng))
    if setup == "mannequin":
        meta.update(_mannequin(drawn, box, rng))
    scene = np.asarray(drawn, np.float32) / 255
    for (layer_rgb, layer_alpha, layer_top), layer_left in zip(placed, lefts, strict=True):
        layer, cover = np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)
        paste_clipped(layer, layer_rgb, layer_left, layer_top)
        paste_clipped(cover, layer_alpha, layer_left, layer_top)
        scene += (layer - scene) * cover[..., None]
    if setup in OVERLAYS:
        drawn = Image.fromarray(to_uint8(scene))
        meta.update(_overlay(drawn, setup, rng))
        scene = np.asarray(drawn, np.float32) / 255
    scene += rng.standard_normal(scene.shape, dtype=np.float32) * float(rng.uniform(0.5, 4) / 255)
    return to_uint8(scene), meta


def draw_pattern(
    rgb: np.ndarray, alpha: np.ndarray, colour: str, kind: str, rng: np.random.Generator, meta: dict
) -> np.ndarray:
    """The shaded garment (RGB 0..1) redrawn in a pattern of its colour and a second one, its shading kept.

    The second colour and the pattern's draws are added to `meta`.
    """
    first = hex_to_rgb(PALETTE[colour])
    lightness = {name: float(hex_to_rgb(value) @ LUMA) for name, value in PALETTE.items()}
    others = [name for name in PALETTE if abs(lightness[name] - lightness[colour]) >= 0.2]
    second = str(rng.choice(others))
    shade = rgb / np.maximum(first, 1e-3)  # the garment's shading, as garment_layers applied it
    h, w = alpha.shape
    rows, cols = np.nonzero(alpha > 0.5)
    size = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "printed":
        cy = rows.min() + rng.uniform(0.3, 0.45) * (rows.max() - rows.min())
        cx = float(cols.mean())
        half = rng.uniform(0.1, 0.2) * (cols.max() - cols.min() + 1)
        shape = str(rng.choice(["block", "disc", "bar"]))
        if shape == "disc":
            cover = (np.hypot(yy - cy, xx - cx) <= half).astype(np.float32)
        else:
            tall = half * (0.8 if shape == "block" else 0.3)
            cover = ((np.abs(yy - cy) <= tall) & (np.abs(xx - cx) <= half)).astype(np.float32)
        meta["print"] = shape
    else:
        period = size / rng.uniform(*((5, 14) if kind == "dotted" else (6, 16)))
        if kind == "striped":
            angle = float(rng.choice([0.0, 90.0, 45.0, -45.0]))
            across = (np.cos(np.radians(angle)) * yy + np.sin(np.radians(angle)) * xx) / period
            cover = ((across % 1) < rng.uniform(0.3, 0.6)).astype(np.float32)
            meta["stripe_angle"] = angle
        elif kind == "checked":
            bands = rng.uniform(0.3, 0.5)
            cover = 0.5 * (((yy / period) % 1) < bands) + 0.5 * (((xx / period) % 1) < bands)
        else:
            radius = rng.uniform(0.15, 0.3)
            cover = (np.hypot((yy / period) % 1 - 0.5, (xx / period) % 1 - 0.5) <= radius).astype(np.float32)
        meta["pattern_period"] = float(period / size)
    cover = cv2.GaussianBlur(cover.astype(np.float32), (0, 0), max(0.5, size / 400))  # printed, not aliased
    meta["second_colour"] = second
    paint = first + (hex_to_rgb(PALETTE[second]) - first) * cover[..., None]
    return np.clip(paint * shade, 0, 1).astype(np.float32)


@functools.cache
def _picture(name: str) -> np.ndarray:
    """One of scikit-image's bundled pictures, grey, 0..1 (read once per process)."""
    import skimage  # a dependency of the package; its data folder ships the pictures

    path = Path(skimage.__file__).parent / "data" / name
    return np.asarray(Image.open(path).convert("L"), np.float32) / 255


def _surface(h: int, w: int, setup: str, rng: np.random.Generator) -> np.ndarray:
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


def _overlay(img: Image.Image, kind: str, rng: np.random.Generator) -> dict:
    """Draw what a shop lays over the finished photo: a watermark, a logo plate, a price tag or a frame line."""
    w, h = img.size
    draw = ImageDraw.Draw(img, "RGBA")
    if kind == "frame":
        margin = round(float(rng.uniform(0.01, 0.04)) * min(w, h))
        width = max(1, round(float(rng.uniform(1, 4)) * min(w, h) / 600))
        colour = tuple(
            int(c) for c in rng.choice([(60, 60, 60), (150, 150, 150), (20, 40, 90), (140, 30, 40)])
        )
        draw.rectangle((margin, margin, w - 1 - margin, h - 1 - margin), outline=colour, width=width)
        return {"frame_margin": margin / min(w, h), "frame_width": width}
    if kind == "watermark":
        text = str(rng.choice(SHOP_NAMES))
        font = ImageFont.load_default(max(8, round(float(rng.uniform(0.03, 0.06)) * h)))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left, bottom - top
        where = str(rng.choice(["bottom", "top", "corner"]))
        x = (w - tw) // 2 if where != "corner" else w - tw - round(0.04 * w)
        y = round(0.03 * h) if where == "top" else h - th - round(0.04 * h)
        grey = int(rng.choice([90, 160, 250]))
        draw.text((x - left, y - top), text, fill=(grey, grey, grey, int(rng.uniform(128, 256))), font=font)
        return {"watermark": where}
    plate_w = round(float(rng.uniform(*((0.15, 0.3) if kind == "logo" else (0.12, 0.22)))) * w)
    plate_h = round(plate_w * float(rng.uniform(0.3, 0.5)))
    right_side, low = bool(rng.random() < 0.5), kind == "price_tag" or bool(rng.random() < 0.3)
    x = w - plate_w - round(0.03 * w) if right_side else round(0.03 * w)
    y = h - plate_h - round(0.03 * h) if low else round(0.03 * h)
    if kind == "logo":
        fill = tuple(int(c) for c in rng.integers(0, 200, 3))
        ink, text = (255, 255, 255), str(rng.choice(SHOP_NAMES))
        draw.rectangle((x, y, x + plate_w, y + plate_h), fill=fill)
    else:
        ink = (200, 0, 0) if rng.random() < 0.6 else (20, 20, 20)
        text = f"{rng.integers(5, 200)},99 EUR" if rng.random() < 0.5 else f"${rng.integers(5, 200)}.99"
        draw.rectangle((x, y, x + plate_w, y + plate_h), fill=(250, 250, 250), outline=(40, 40, 40), width=2)
    size = max(6, round(plate_h * 0.5))
    font = ImageFont.load_default(size)
    while size > 6 and draw.textlength(text, font=font) > 0.9 * plate_w:  # the letters stay on the plate
        size -= 1
        font = ImageFont.load_default(size)
    draw.text((x + 0.05 * plate_w, y + plate_h * 0.2), text, fill=ink, font=font)
    return {"corner": ("bottom " if low else "top ") + ("right" if right_side else "left")}


def _seam(scene: np.ndarray, rng: np.random.Generator) -> dict:
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


def _cast_shadow(scene: np.ndarray, alpha: np.ndarray, garment_width: int, rng: np.random.Generator) -> dict:
    """A hard shadow of the garment, offset away from a spotlight."""
    angle = rng.uniform(0, 2 * np.pi)
    shift = rng.uniform(0.04, 0.1) * garment_width
    matrix = np.float32([[1, 0, shift * np.cos(angle)], [0, 1, shift * np.sin(angle)]])
    shadow = cv2.warpAffine(alpha, matrix, (alpha.shape[1], alpha.shape[0]))
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(0.5, 0.006 * garment_width))
    darkness = float(rng.uniform(0.25, 0.55))
    scene *= (1 - darkness * shadow)[..., None]
    return {"shadow_darkness": darkness, "shadow_shift": shift / garment_width}


def _hanger(img: Image.Image, box: tuple[int, ...], label: int, rng: np.random.Generator) -> dict:
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


def _mannequin(img: Image.Image, box: tuple[int, ...], rng: np.random.Generator) -> dict:
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


def studio_photos(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0, setups: tuple[str, ...] = SETUPS
) -> Iterator[EncodedPhoto]:
    """`count` studio photos of Fashion-MNIST TEST images (N, 28, 28), `setups` in turn; photo i from (seed, i).

    Each set-up takes the next garment, in a seeded order, of a category it shoots, and no garment twice.
    """
    order = garment_order(len(images), seed + 1)  # other garments than the photo benchmark's first ones
    used: set[int] = set()
    cursor = dict.fromkeys(setups, 0)
    for i in range(count):
        setup = setups[i % len(setups)]
        eligible = ELIGIBLE.get(setup)
        while cursor[setup] < len(order) and (
            int(order[cursor[setup]]) in used
            or (eligible and int(labels[order[cursor[setup]]]) not in eligible)
        ):
            cursor[setup] += 1
        if cursor[setup] == len(order):
            return  # no garment left for this set-up
        idx = int(order[cursor[setup]])
        used.add(idx)
        rng = np.random.default_rng([seed, 3, i])
        other = int(order[-1 - i]) if setup == "beside" else None  # from the far end of the order
        pixels, meta = studio_photo(
            images[idx], int(labels[idx]), setup, rng, None if other is None else images[other]
        )
        if other is not None:
            meta["other_label"] = int(labels[other])
        quality = int(rng.integers(70, 96))
        meta.update(set="studio", label=int(labels[idx]), test_index=idx, jpeg_quality=quality)
        yield EncodedPhoto(encode_jpeg(pixels, quality), meta)
