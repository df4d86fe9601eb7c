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

Then what shops lay over the finished photo (any category; drawn by `data/shop_overlays.py`):

- `watermark`: the shop's name or address in grey or white letters 3–6 % of the height tall, 50–100 % opaque,
  along the bottom or top edge or across a lower corner.
- `logo`: a coloured plate with white letters, 15–30 % of the width wide, in a corner.
- `price_tag`: a white tag with a red or black price, 12–22 % of the width wide, in a lower corner.
- `frame`: a grey or coloured line 1–4 px (at 600 px) thick drawn around the photo, 1–4 % inside its edges.

Each set-up shoots only the categories it fits (`ELIGIBLE`).

A second group (`GROUPS["tilted"]`) lays any garment at a slant: `tilted_5_10`, `tilted_10_20` and `tilted_20_35`
turn it by that many degrees, either way, beside `plain` as the reference. A third (`GROUPS["beside"]`) shows another,
smaller garment (35–60 % of its size, any category) standing beside it, 5–25 % of its width apart (`beside`); a
further one (`GROUPS["alike"]`) another garment of its category about its size (85–110 %) in another colour,
3–15 % of its width apart, as shops show colour variants (`alike`).
A fourth (`GROUPS["surfaces"]`) lays it on photographed surfaces instead of a studio backdrop: `on_brick`,
`on_grass` and `on_gravel` are scikit-image's bundled photos of them (grey), tinted as such surfaces are
(terracotta, green, warm or cool stone), seen at 0.5–2× their scale and cropped anywhere.
A fifth (`GROUPS["patterns"]`) dresses the garment in a pattern of its colour and a second one: `striped`,
`checked`, `dotted` or `printed` (`data/garment_patterns.py`).
A sixth (`GROUPS["scenes"]`) shoots it as a lifestyle shot, in front of a real scene out of focus: scikit-image's
bundled colour photos (an astronaut, a cat, a coffee cup, a rocket, a motorcycle) at 1–1.6× the canvas, cropped
anywhere, blurred by a Gaussian of 0.5–1.5 % of the canvas's longer side (`scene_soft`) or 1.5–4 % (`scene_blurred`).
A seventh (`GROUPS["cut"]`) shoots it close, cut by the frame: the garment at 60–95 % of the canvas's shorter side,
pushed past one edge or a corner until 8–20 % (`cut_8_20`) or 20–35 % (`cut_20_35`) of it lies outside the photo.
An eighth (`GROUPS["spot"]`) lights the backdrop with a pool of light that need not reach the photo's edges: an
elliptical Gaussian centred anywhere in the middle 60 % of the frame, its spread 20–45 % of the frame's height and
width, adding 4–18 % of full brightness (in the backdrop's tint) at its peak to a dark backdrop (`spot_dark`) or
4–12 % to a mid-grey one (`spot_grey`).
A ninth (`GROUPS["small"]`) shoots it from further away: its longer side 25–40 % (`small_25_40`) or 15–25 %
(`small_15_25`) of the canvas's shorter side instead of `plain`'s 45–75 %, anywhere in the frame.
A tenth (`GROUPS["collage"]`) tiles one garment as shops show its colour variants in one picture (`collage_photo`):
`collage_2x2` or `collage_1x3` `plain` photos of it in as many colours, on one backdrop, each padded to a square
with its own edge's pixels, 240–560 px a tile, with white or light grey gutters of 0–4 % of a tile between them.
An eleventh (`GROUPS["flatlay"]`) styles it as a flat-lay: the garment at 40–60 % of the shorter side, with up to
one (`flatlay_1`) or three (`flatlay_3`) props laid around it (`data/studio_props.lay_props`: a phone, a cup on a
saucer, sunglasses, a sprig of leaves, a notebook, a watch, a pen or a flower, seen from above, 12–25 % of the
shorter side long, turned any way, with a soft shadow), 2–12 % of the shorter side clear of the garment itself and
of each other, so a prop may sit in a corner of the garment's box.
A twelfth (`GROUPS["cloths"]`) lays it on a printed cloth (`data/garment_patterns.draw_cloth`): `on_stripes`,
`on_gingham`, `on_dots` (the garment patterns' stripes, gingham and polka dots) or `on_blossoms` (small five-petal
blossoms scattered in two or three colours), in two palette colours at least 0.2 apart in lightness, repeating every
2–6 % of the longer side, under soft folds.

The garment itself is coloured and shaded as in `shop_photos` (`garment_layers`); light, dark and mid-grey
backdrops, 360–1600 px canvases, sensor noise and JPEG 70–95.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import cv2
import numpy as np
from PIL import Image

from shoplens.data.garment_patterns import CLOTHS, PATTERNS, draw_cloth, draw_pattern
from shoplens.data.procedural import cut_by_frame, paste_clipped
from shoplens.data.scene_backdrops import SCENES, SURFACES, blurred_scene, photographed_surface
from shoplens.data.shop_overlays import OVERLAYS, draw_overlay
from shoplens.data.shop_photos import (
    EncodedPhoto,
    encode_jpeg,
    garment_layers,
    garment_order,
    sample_spec,
    studio,
    to_uint8,
)
from shoplens.data.studio_props import (
    WORN_ON_TOP,
    cast_shadow,
    hanger,
    lay_props,
    mannequin,
    seam,
    spotlight,
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
TILTS = {"tilted_5_10": (5.0, 10.0), "tilted_10_20": (10.0, 20.0), "tilted_20_35": (20.0, 35.0)}  # degrees
CUTS = {"cut_8_20": (0.08, 0.2), "cut_20_35": (0.2, 0.35)}  # share of the garment outside the photo
SPOTS = {
    "spot_dark": ("dark", (0.04, 0.18)),
    "spot_grey": ("mid_grey", (0.04, 0.12)),
}  # backdrop, peak's lift
SMALL = {
    "small_25_40": (0.25, 0.4),
    "small_15_25": (0.15, 0.25),
}  # the garment's size, share of the shorter side
FLATLAY_SIZE = (0.4, 0.6)  # ... in a flat-lay, leaving room for the props
COLLAGES = {"collage_2x2": (2, 2), "collage_1x3": (1, 3)}  # tiles: rows, columns
FLATLAYS = {"flatlay_1": 1, "flatlay_3": 3}  # props laid around the garment, at most
ON_CLOTH = {f"on_{kind}": kind for kind in CLOTHS}  # laid on a printed cloth
GROUPS = {
    "studio": SETUPS,
    "tilted": ("plain", *TILTS),
    "beside": ("plain", "beside"),
    "alike": ("plain", "alike"),
    "surfaces": ("plain", *SURFACES),
    "patterns": ("plain", *PATTERNS),
    "scenes": ("plain", *SCENES),
    "cut": ("plain", *CUTS),
    "spot": ("plain", *SPOTS),
    "small": ("plain", *SMALL),
    "collage": ("plain", *COLLAGES),
    "flatlay": ("plain", *FLATLAYS),
    "cloths": ("plain", *ON_CLOTH),
}
BESIDE = {"beside": ((0.35, 0.6), (0.05, 0.25)), "alike": ((0.85, 1.1), (0.03, 0.15))}  # other's size, gap
KNOWN = (*SETUPS, *TILTS, *BESIDE, *SURFACES, *PATTERNS, *SCENES, *CUTS, *SPOTS, *SMALL, *FLATLAYS, *ON_CLOTH)
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


def studio_photo(
    image28: np.ndarray,
    label: int,
    setup: str,
    rng: np.random.Generator,
    other: np.ndarray | None = None,
    backdrop: str | None = None,
) -> tuple[np.ndarray, dict]:
    """One upright photo (uint8 RGB) of the garment in the set-up (`other`: the garment beside it), with metadata.

    `backdrop` ("light", "mid_grey", "dark"): the studio's backdrop instead of a drawn one (a collage's tiles share it).
    """
    if setup not in KNOWN:
        raise ValueError(f"unknown set-up {setup!r}; expected one of {', '.join(KNOWN)}")
    if (setup in BESIDE) != (other is not None):
        raise ValueError("the 'beside' and 'alike' set-ups, and only they, show another garment")
    if label not in ELIGIBLE.get(setup, (label,)):
        raise ValueError(f"category {label} is not shot in the {setup!r} set-up")
    drawn_backdrop = str(rng.choice(["light", "mid_grey", "dark"], p=[0.6, 0.25, 0.15]))  # drawn either way
    backdrop = SPOTS[setup][0] if setup in SPOTS else backdrop or drawn_backdrop
    spec = sample_spec(rng, background=backdrop)
    if setup in TILTS:
        spec = replace(spec, tilt=float(rng.choice([-1.0, 1.0]) * rng.uniform(*TILTS[setup])))
    long_side = int(np.exp(rng.uniform(np.log(360), np.log(1600))))
    side_by_side = setup in PAIR_GAP or setup in BESIDE
    portrait = rng.random() < 0.7 and not side_by_side
    h, w = (
        (long_side, int(long_side * rng.choice([1.0, 0.8, 0.75])))
        if portrait
        else (int(long_side * 0.75), long_side)
    )
    # the garment's size, share of the shorter side: two things side by side, a close-up, a flat-lay, far away, or
    # as a rule
    sizes = (
        (0.3, 0.42)
        if side_by_side
        else (0.6, 0.95)
        if setup in CUTS
        else FLATLAY_SIZE
        if setup in FLATLAYS
        else SMALL.get(setup, (0.45, 0.75))
    )
    share = rng.uniform(*sizes)
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
            max(16, round(share * rng.uniform(*BESIDE[setup][0]) * min(h, w))),
            rng,
        )
        other_rows, other_cols = np.nonzero(other_alpha > 0.5)
        gap = round(float(rng.uniform(*BESIDE[setup][1])) * gw)
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
    if setup in CUTS:
        top, left, cut_side, cut_share = cut_by_frame(alpha, h, w, CUTS[setup], rng)
        meta.update(cut_side=cut_side, cut_share=round(cut_share, 3))
        placed = [(rgb, alpha, top)]
    lefts = [left] * len(placed)  # a reflection lies right under the garment
    if setup in PAIR_GAP:  # the mirrored shoe's box starts `shift` after the first one's
        lefts[0] = x + shift - (alpha.shape[1] - 1 - cols.max())
    if other is not None:  # ... and so does the other garment's
        lefts[0] = x + shift - other_cols.min()
    if setup in SURFACES:
        scene = photographed_surface(h, w, setup, rng)
        meta["backdrop"] = setup.removeprefix("on_")
    elif setup in SCENES:
        scene = blurred_scene(h, w, setup, rng, meta)
    elif setup in ON_CLOTH:
        scene = draw_cloth(h, w, ON_CLOTH[setup], rng, meta)
        meta["backdrop"] = "cloth"
    else:
        scene = studio(h, w, rng, backdrop)
    if setup == "seam":
        meta.update(seam(scene, rng))
    if setup in SPOTS:
        meta.update(spotlight(scene, SPOTS[setup][1], rng))
    canvas_alpha = np.zeros((h, w), np.float32)
    paste_clipped(canvas_alpha, alpha, left, top)
    box = (left + cols.min(), top + rows.min(), left + cols.max() + 1, top + rows.max() + 1)
    if setup == "cast_shadow":
        meta.update(cast_shadow(scene, canvas_alpha, gw, rng))
    if setup in FLATLAYS:
        meta.update(lay_props(scene, canvas_alpha, FLATLAYS[setup], rng))
    drawn = Image.fromarray(to_uint8(scene))
    if setup == "hanger":
        meta.update(hanger(drawn, box, label, rng))
    if setup == "mannequin":
        meta.update(mannequin(drawn, box, rng))
    scene = np.asarray(drawn, np.float32) / 255
    for (layer_rgb, layer_alpha, layer_top), layer_left in zip(placed, lefts, strict=True):
        layer, cover = np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)
        paste_clipped(layer, layer_rgb, layer_left, layer_top)
        paste_clipped(cover, layer_alpha, layer_left, layer_top)
        scene += (layer - scene) * cover[..., None]
    if setup in OVERLAYS:
        drawn = Image.fromarray(to_uint8(scene))
        meta.update(draw_overlay(drawn, setup, rng))
        scene = np.asarray(drawn, np.float32) / 255
    scene += rng.standard_normal(scene.shape, dtype=np.float32) * float(rng.uniform(0.5, 4) / 255)
    return to_uint8(scene), meta


def collage_photo(
    image28: np.ndarray, label: int, layout: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """A shop's collage (uint8 RGB) of one garment in colour variants: rows × columns `plain` photos of it on one
    backdrop, each padded to a square with its own edge's pixels, side by side with gutters; with metadata."""
    rows, cols = layout
    backdrop = str(rng.choice(["light", "mid_grey", "dark"], p=[0.6, 0.25, 0.15]))
    side = int(rng.integers(240, 561))
    gutter = round(float(rng.uniform(0.0, 0.04)) * side)
    shade = 255 if rng.random() < 0.7 else int(rng.integers(225, 245))
    canvas = np.full(
        (rows * side + (rows - 1) * gutter, cols * side + (cols - 1) * gutter, 3), shade, np.uint8
    )
    colours = []
    for k in range(rows * cols):
        pixels, meta = studio_photo(
            image28, label, "plain", np.random.default_rng(rng.integers(2**32)), None, backdrop
        )
        h, w = pixels.shape[:2]
        pad = abs(h - w) // 2
        spread = ((0, 0), (pad, abs(h - w) - pad)) if h > w else ((pad, abs(h - w) - pad), (0, 0))
        tile = cv2.resize(
            np.pad(pixels, (*spread, (0, 0)), mode="edge"), (side, side), interpolation=cv2.INTER_AREA
        )
        row, col = divmod(k, cols)
        top, left = row * (side + gutter), col * (side + gutter)
        canvas[top : top + side, left : left + side] = tile
        colours.append(meta["colour"])
    h, w = canvas.shape[:2]
    setup = f"collage_{rows}x{cols}"
    meta = {
        "setup": setup,
        "backdrop": backdrop,
        "colours": colours,
        "width": w,
        "height": h,
        "gutter": gutter / side,
    }
    return canvas, meta


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
        other = None  # from the far end of the order: any garment, or the next unused one of the category
        if setup == "beside":
            other = int(order[-1 - i])
        elif setup == "alike":
            other = next(
                (int(j) for j in order[::-1] if labels[j] == labels[idx] and int(j) not in used), None
            )
            if other is None:
                return  # no garment of the category left to stand beside it
            used.add(other)
        if setup in COLLAGES:
            pixels, meta = collage_photo(images[idx], int(labels[idx]), COLLAGES[setup], rng)
        else:
            pixels, meta = studio_photo(
                images[idx], int(labels[idx]), setup, rng, None if other is None else images[other]
            )
        if other is not None:
            meta["other_label"] = int(labels[other])
        quality = int(rng.integers(70, 96))
        meta.update(set="studio", label=int(labels[idx]), test_index=idx, jpeg_quality=quality)
        yield EncodedPhoto(encode_jpeg(pixels, quality), meta)
