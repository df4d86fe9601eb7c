"""Fashion-MNIST TEST garments rendered as shop photos: an evaluation instrument, never training data.

Each photo is drawn from a seeded generator (photo i of seed s is the same whatever else is rendered) and
carries its metadata (`EncodedPhoto.meta`). What varies, and how (probabilities are per photo):

- **Garment**: the 28×28 test image, upsampled smoothly. Its intensities give the alpha (a soft threshold at
  a fifth of the garment's 90th-percentile intensity, so faint garments stay opaque) and the shading:
  Fashion-MNIST stores *inverted* luminance, so the garment is darker where the original was darker, by a
  factor 2^(−k·(v − median)/128) in linear light, k ∈ [0.4, 1.1], plus ±2.5 % cloth grain.
- **Colour**: one of `PALETTE` (16 named clothing colours with hex), uniform; besides, 7 % of photos are
  forced white-on-white (white garment, light background) and 7 % black-on-black.
- **Background** (`BACKGROUND_WEIGHTS`): `light` near-white studio (grey level 230–255; 35 % of them
  blown out: lit so far past white that they stay pure white whatever the light and noise), `dark` studio
  (5–45), `mid_grey` (90–165), `gradient` (linear or radial between two random colours) and `textured`
  (procedural fabric, wood, noise or paper, equally likely); studio backdrops get a slight tint and a soft
  sweep of light (±1–5 %).
- **Framing**: the garment's bounding box, long side, is `scale` ∈ [0.40, 0.95] of the canvas's short side,
  placed anywhere (uniformly) where it fits whole; 40 % are tilted by up to ±6°. Canvas long side
  log-uniform in 200–2000 px, aspect 1:1, 4:5, 3:4, 2:3 or 9:16, portrait or landscape.
- **Light and camera** (all in linear light): exposure ±8 %, white balance (warmer or cooler by up to 6 %,
  a green/magenta tint up to 3 %), a lighting ramp (0–20 % across the frame) and vignette (0–15 % in the
  corners), a soft drop shadow (60 %: opacity 0.15–0.5, offset and blur relative to the garment), Gaussian
  blur (half of the photos, σ 0.3–1.5 px per 800 px), sensor noise (σ log-uniform 0.5–6 grey levels, a
  little more in bright areas), JPEG quality 60–95, and 20 % of files stored turned with EXIF Orientation
  6, 8 or 3 so that a correct decoder turns them upright.

The light-on-dark set (`light_on_dark_photos`) cycles through the original test images as 28×28 PNGs
(light garment on black), the same upscaled to 112–1024 px (PNG or JPEG), and renders of light-coloured
garments on the dark studio background.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from shoplens.data.procedural import (
    TEXTURES,
    EncodedPhoto,
    encode_jpeg,
    encode_png,
    gradient,
    hex_to_rgb,
    linear_ramp,
    paste_clipped,
    radial_ramp,
    rgb_to_hex,
    rotate_expanded,
    smooth_noise,
    to_uint8,
)

PALETTE: dict[str, str] = {
    "black": "#1C1C1E",
    "white": "#F4F4F2",
    "grey": "#8E8E8E",
    "navy": "#1F2B4A",
    "blue": "#2F5DA8",
    "light blue": "#9DC3E6",
    "red": "#C1272D",
    "burgundy": "#6E1E2E",
    "pink": "#F0A6C0",
    "green": "#2E7D4F",
    "olive": "#6B6B35",
    "beige": "#D8C7A4",
    "brown": "#6B4428",
    "yellow": "#F2CB3A",
    "orange": "#E8772E",
    "purple": "#6A3D9A",
}
LIGHT_COLOURS = ("white", "light blue", "pink", "beige", "yellow", "grey")
BACKGROUND_WEIGHTS: dict[str, float] = {
    "light": 0.35,
    "dark": 0.15,
    "mid_grey": 0.15,
    "gradient": 0.15,
    "textured": 0.2,
}
SCALE_RANGE = (0.40, 0.95)
CANVAS_RANGE = (200, 2000)
JPEG_RANGE = (60, 95)
ASPECTS = (1.0, 4 / 5, 3 / 4, 2 / 3, 9 / 16)
EXIF_SHARE = 0.2
BLOWN_OUT_SHARE = 0.35  # of light backdrops
BLOWN_OUT_LEVEL = 1.35  # display value before clipping: > 1 even after the darkest light, vignette and noise
GARMENT_LEVEL = 10  # intensities above this (of 255) belong to the garment when measuring its extent
FIELD_SIDE = 256  # smooth light fields are computed this size (longer side) and scaled up
GAMMA = 2.2  # light is multiplied in linear light: display value × factor^(1/GAMMA)


@dataclass(frozen=True)
class ShopPhotoSpec:
    """Everything that decides one rendered photo; `seed` drives its textures, grain and noise."""

    width: int
    height: int
    background: str
    texture: str | None
    blown_out: bool  # a light backdrop lit far past white: pure white whatever the light and noise
    colour: str
    scale: float
    position: tuple[float, float]  # where the garment box sits in the free space, 0..1 across and down
    tilt: float  # degrees
    shading: float
    light_gradient: float
    light_angle: float
    vignette: float
    exposure: float  # overall gain (linear light)
    white_balance: tuple[float, float, float]  # per-channel gains (linear light): a warm or cool cast
    shadow_opacity: float
    shadow_blur: float  # fraction of the garment's size
    shadow_offset: tuple[float, float]  # fraction of the garment's size
    blur_sigma: float  # pixels
    noise_sigma: float  # 0..1 display units
    jpeg_quality: int
    exif_orientation: int
    seed: int


def sample_spec(
    rng: np.random.Generator, background: str | None = None, colour: str | None = None
) -> ShopPhotoSpec:
    """Draw one photo's conditions (background and colour may be imposed)."""
    long_side = round(np.exp(rng.uniform(np.log(CANVAS_RANGE[0]), np.log(CANVAS_RANGE[1]))))
    short_side = max(CANVAS_RANGE[0], round(long_side * float(rng.choice(ASPECTS))))
    width, height = (long_side, short_side) if rng.random() < 0.5 else (short_side, long_side)
    pair = rng.random()
    if background is None and colour is None and pair < 0.14:  # 7 % white-on-white, 7 % black-on-black
        background, colour = ("light", "white") if pair < 0.07 else ("dark", "black")
    kinds = list(BACKGROUND_WEIGHTS)
    background = background or str(rng.choice(kinds, p=list(BACKGROUND_WEIGHTS.values())))
    shadow = rng.random() < 0.6
    angle = rng.uniform(0, 2 * np.pi)
    return ShopPhotoSpec(
        width=int(width),
        height=int(height),
        background=background,
        texture=str(rng.choice(list(TEXTURES))) if background == "textured" else None,
        blown_out=background == "light" and rng.random() < BLOWN_OUT_SHARE,
        colour=colour or str(rng.choice(list(PALETTE))),
        scale=float(rng.uniform(*SCALE_RANGE)),
        position=(float(rng.random()), float(rng.random())),
        tilt=float(rng.uniform(-6, 6)) if rng.random() < 0.4 else 0.0,
        shading=float(rng.uniform(0.4, 1.1)),
        light_gradient=float(rng.uniform(0, 0.2)),
        light_angle=float(angle),
        vignette=float(rng.uniform(0, 0.15)),
        exposure=float(rng.uniform(0.92, 1.08)),
        white_balance=_white_balance(rng),
        shadow_opacity=float(rng.uniform(0.15, 0.5)) if shadow else 0.0,
        shadow_blur=float(rng.uniform(0.02, 0.08)),
        shadow_offset=tuple(
            float(v) for v in rng.uniform(0, 0.04) * np.array([np.cos(angle), np.sin(angle)])
        ),
        blur_sigma=float(rng.uniform(0.3, 1.5) * long_side / 800) if rng.random() < 0.5 else 0.0,
        noise_sigma=float(np.exp(rng.uniform(np.log(0.5), np.log(6))) / 255),
        jpeg_quality=int(rng.integers(JPEG_RANGE[0], JPEG_RANGE[1] + 1)),
        exif_orientation=int(rng.choice([6, 8, 3], p=[0.45, 0.35, 0.2])) if rng.random() < EXIF_SHARE else 1,
        seed=int(rng.integers(2**31)),
    )


def studio(
    height: int, width: int, rng: np.random.Generator, kind: str, blown_out: bool = False
) -> np.ndarray:
    """A plain studio backdrop (light, dark or mid_grey) with a slight tint and a soft sweep of light."""
    if blown_out:  # over-exposed: stays white under the photo's light, vignette and noise
        return np.full((height, width, 3), BLOWN_OUT_LEVEL, np.float32)
    level = {"light": (0.9, 1.0), "dark": (0.02, 0.18), "mid_grey": (0.35, 0.65)}[kind]
    base = rng.uniform(*level) + rng.uniform(-0.02, 0.02, 3).astype(np.float32)
    (sw, sh), _ = _field_size(height, width)
    sweep = radial_ramp(sh, sw, (rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.6)))
    lift = rng.uniform(0.01, 0.05)
    shade = lift * (1 - sweep) if kind == "dark" else -lift * sweep  # a spot of light, or falling off from it
    small = np.clip(base + shade[..., None], 0, 1).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def background_image(spec: ShopPhotoSpec, rng: np.random.Generator) -> np.ndarray:
    """The backdrop of a photo at its full size (textures drawn at ≤ 1200 px and scaled up)."""
    h, w = spec.height, spec.width
    if spec.background in ("light", "dark", "mid_grey"):
        return studio(h, w, rng, spec.background, spec.blown_out)
    shrink = min(1.0, 1200 / max(h, w))
    sh, sw = max(2, round(h * shrink)), max(2, round(w * shrink))
    if spec.background == "gradient":
        c0, c1 = (
            cv2.cvtColor(
                np.array([[[rng.uniform(0, 360), rng.uniform(0, 0.6), rng.uniform(0.1, 1)]]], np.float32),
                cv2.COLOR_HSV2RGB,
            )[0, 0]
            for _ in range(2)
        )
        small = gradient(sh, sw, rng, c0, c1)
    else:
        small = TEXTURES[spec.texture or "noise"](sh, sw, rng)
    return small if shrink == 1.0 else cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def garment_layers(
    image28: np.ndarray, spec: ShopPhotoSpec, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The coloured, shaded garment (RGB, alpha), tilted, cropped to its box whose long side is `size` px."""
    v = image28.astype(np.float32)
    ys, xs = np.nonzero(v > GARMENT_LEVEL)
    if len(ys) == 0:
        raise ValueError("the image holds no garment (every intensity ≤ 10)")
    crop = np.pad(v, 3)[ys.min() : ys.max() + 7, xs.min() : xs.max() + 7]
    extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    ref = float(np.percentile(v[v > GARMENT_LEVEL], 90))
    median = float(np.median(v[v > 0.28 * ref]))
    layers = np.dstack([crop, _shading_source(crop, ref, median)])  # alpha source, shading source
    mid = cv2.resize(layers, (crop.shape[1] * 8, crop.shape[0] * 8), interpolation=cv2.INTER_CUBIC)
    mid = cv2.GaussianBlur(mid, (0, 0), 2.5)  # the 28-px grid gone, the shape kept
    if spec.tilt:
        mid = rotate_expanded(mid, spec.tilt)
    factor = size / (8 * extent)
    big_size = (max(1, round(mid.shape[1] * factor)), max(1, round(mid.shape[0] * factor)))
    big = cv2.resize(mid, big_size, interpolation=cv2.INTER_LINEAR)
    edge = np.clip((big[..., 0] - 0.12 * ref) / (0.16 * ref), 0, 1)
    alpha = edge * edge * (3 - 2 * edge)
    rows, cols = np.nonzero(alpha > 0.5)
    box_long = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    fit = size / box_long  # exact size after tilt and thresholding
    margin = max(2, round(0.02 * box_long))
    r0, r1 = max(0, rows.min() - margin), min(big.shape[0], rows.max() + 1 + margin)
    c0, c1 = max(0, cols.min() - margin), min(big.shape[1], cols.max() + 1 + margin)
    out = (max(1, round((c1 - c0) * fit)), max(1, round((r1 - r0) * fit)))
    shading = cv2.resize(np.ascontiguousarray(big[r0:r1, c0:c1, 1]), out, interpolation=cv2.INTER_LINEAR)
    alpha = np.clip(
        cv2.resize(np.ascontiguousarray(alpha[r0:r1, c0:c1]), out, interpolation=cv2.INTER_LINEAR), 0, 1
    )
    # Linear-light factor 2^(−k·(v − median)/128) within [0.3, 2.2], applied as its 1/GAMMA power.
    exponent = np.clip(-spec.shading * (shading - median) / 128, np.log2(0.3), np.log2(2.2)) / GAMMA
    grain = smooth_noise(*shading.shape, rng, max(shading.shape) / 6, 1)
    shade = np.exp2(exponent) * (1 + 0.05 * (grain - 0.5))
    return np.clip(hex_to_rgb(PALETTE[spec.colour]) * shade[..., None], 0, 1), alpha


def render(
    image28: np.ndarray, spec: ShopPhotoSpec
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The upright photo (uint8 RGB), the garment's alpha on the canvas, and its box (left, top, right, bottom)."""
    rng = np.random.default_rng(spec.seed)
    h, w = spec.height, spec.width
    size = max(1, round(spec.scale * min(h, w)))
    rgb, alpha = garment_layers(image28, spec, size, rng)
    rows, cols = np.nonzero(alpha > 0.5)
    bh, bw = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    left = round(spec.position[0] * (w - bw)) - cols.min()
    top = round(spec.position[1] * (h - bh)) - rows.min()
    canvas_alpha = np.zeros((h, w), np.float32)
    paste_clipped(canvas_alpha, alpha, left, top)
    scene = background_image(spec, rng)
    if spec.shadow_opacity:
        scene *= _shadow(canvas_alpha, spec, size)[..., None]
    region = scene[max(0, top) : top + rgb.shape[0], max(0, left) : left + rgb.shape[1]]
    a = canvas_alpha[max(0, top) : top + rgb.shape[0], max(0, left) : left + rgb.shape[1], None]
    y0, x0 = max(0, -top), max(0, -left)
    region += (rgb[y0 : y0 + region.shape[0], x0 : x0 + region.shape[1]] - region) * a
    scene *= _lighting(spec)[..., None] * (np.array(spec.white_balance, np.float32) ** (1 / GAMMA))
    if spec.blur_sigma >= 0.3:
        scene = cv2.GaussianBlur(scene, (0, 0), spec.blur_sigma)
    noise = rng.standard_normal(scene.shape, dtype=np.float32)
    noise *= spec.noise_sigma * (0.6 + 0.4 * np.sqrt(np.clip(scene, 0, 1)))  # shot noise grows with light
    scene += noise
    box = (
        int(left + cols.min()),
        int(top + rows.min()),
        int(left + cols.max() + 1),
        int(top + rows.max() + 1),
    )
    return to_uint8(scene), canvas_alpha, box


def shop_photo(
    image28: np.ndarray, label: int, test_index: int, spec: ShopPhotoSpec, kind: str = "shop"
) -> EncodedPhoto:
    """Render and encode one photo (JPEG, maybe EXIF-turned) with its metadata."""
    pixels, _alpha, box = render(image28, spec)
    meta = {"set": kind, "label": int(label), "test_index": int(test_index), **asdict(spec)}
    meta.update(colour_hex=PALETTE[spec.colour], box=list(box), background_rgb=_border_hex(pixels))
    return EncodedPhoto(encode_jpeg(pixels, spec.jpeg_quality, spec.exif_orientation), meta)


def garment_order(count: int, seed: int) -> np.ndarray:
    """A seeded order of test indices; shop photos take it from the front, light-on-dark from the back."""
    return np.random.default_rng([seed, 0]).permutation(count)


def shop_photos(images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0) -> Iterator[EncodedPhoto]:
    """`count` shop photos of Fashion-MNIST TEST images (N, 28, 28); photo i depends only on (seed, i)."""
    order = garment_order(len(images), seed)
    for i in range(min(count, len(images))):
        spec = sample_spec(np.random.default_rng([seed, 1, i]))
        yield shop_photo(images[order[i]], labels[order[i]], order[i], spec)


def light_on_dark_photos(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0
) -> Iterator[EncodedPhoto]:
    """Light garments on black: the original PNGs, upscaled copies, and colourised renders, in turn."""
    order = garment_order(len(images), seed)[::-1]
    for i in range(min(count, len(images))):
        idx, rng = int(order[i]), np.random.default_rng([seed, 2, i])
        meta = {"set": "light_on_dark", "label": int(labels[idx]), "test_index": idx}
        if i % 3 == 0:
            yield EncodedPhoto(
                encode_png(images[idx]), {**meta, "variant": "original_png", "width": 28, "height": 28}
            )
        elif i % 3 == 1:
            side = int(rng.integers(112, 1025))
            big = cv2.resize(images[idx], (side, side), interpolation=cv2.INTER_CUBIC)
            jpeg = rng.random() < 0.5
            data = (
                encode_jpeg(np.repeat(big[..., None], 3, 2), int(rng.integers(70, 96)))
                if jpeg
                else encode_png(big)
            )
            yield EncodedPhoto(
                data,
                {**meta, "variant": "upscaled_" + ("jpeg" if jpeg else "png"), "width": side, "height": side},
            )
        else:
            spec = sample_spec(rng, background="dark", colour=str(rng.choice(LIGHT_COLOURS)))
            photo = shop_photo(images[idx], labels[idx], idx, spec, kind="light_on_dark")
            yield EncodedPhoto(photo.data, {**photo.meta, "variant": "colourised"})


def _shading_source(crop: np.ndarray, ref: float, median: float) -> np.ndarray:
    """Intensities for shading, the garment's edge ring replaced by the mean of its interior neighbours.

    Fashion-MNIST's edges are anti-aliased (coverage, not darkness): used as shading they would draw a
    bright rim around every garment.
    """
    inside = (crop > 0.2 * ref).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    core = cv2.erode(inside, kernel).astype(np.float32)
    ring = cv2.dilate(inside, kernel).astype(bool) & (core == 0)
    weight = cv2.boxFilter(core, -1, (5, 5), normalize=False)
    total = cv2.boxFilter(crop * core, -1, (5, 5), normalize=False)
    fill = np.where(weight > 0, total / np.maximum(weight, 1e-6), median)
    return np.where(ring, fill, crop).astype(np.float32)


def _white_balance(rng: np.random.Generator) -> tuple[float, float, float]:
    """Per-channel gains of a camera's white balance: warmer or cooler by up to 6 %, green tint up to 3 %."""
    warmth, tint = rng.uniform(-0.06, 0.06), rng.uniform(-0.03, 0.03)
    gains = np.array([1 + warmth, 1 + tint, 1 - warmth])
    return tuple(float(g) for g in gains / gains.mean())


def _field_size(height: int, width: int) -> tuple[tuple[int, int], float]:
    """(width, height) of the reduced copy on which smooth light fields are computed, and its scale."""
    shrink = min(1.0, FIELD_SIDE / max(height, width))
    return (max(2, round(width * shrink)), max(2, round(height * shrink))), shrink


def _shadow(alpha: np.ndarray, spec: ShopPhotoSpec, size: int) -> np.ndarray:
    """Display-space factor darkening the backdrop under a soft, offset copy of the garment's alpha."""
    h, w = alpha.shape
    small_size, shrink = _field_size(h, w)
    small = cv2.resize(alpha, small_size, interpolation=cv2.INTER_AREA)
    dx, dy = (o * size * shrink for o in spec.shadow_offset)
    small = cv2.warpAffine(small, np.float32([[1, 0, dx], [0, 1, dy]]), small_size)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, spec.shadow_blur * size * shrink))
    factor = (1 - spec.shadow_opacity * np.clip(small, 0, 1)) ** (1 / GAMMA)
    return cv2.resize(factor.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _lighting(spec: ShopPhotoSpec) -> np.ndarray:
    """Display-space factor of the light over the scene: a ramp along light_angle and a vignette."""
    (sw, sh), _ = _field_size(spec.height, spec.width)
    ramp = 1 + spec.light_gradient * (linear_ramp(sh, sw, spec.light_angle) - 0.5) * 2
    light = spec.exposure * ramp * (1 - spec.vignette * radial_ramp(sh, sw, (0.5, 0.5)) ** 2)
    factor = (light ** (1 / GAMMA)).astype(np.float32)
    return cv2.resize(factor, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)


def _border_hex(pixels: np.ndarray) -> str:
    """Mean colour of the photo's border strip (the background as a viewer sees it), as #RRGGBB."""
    strip = max(1, min(pixels.shape[:2]) // 20)
    edges = np.concatenate(
        [
            pixels[:strip].reshape(-1, 3),
            pixels[-strip:].reshape(-1, 3),
            pixels[:, :strip].reshape(-1, 3),
            pixels[:, -strip:].reshape(-1, 3),
        ]
    )
    return rgb_to_hex(edges.mean(0) / 255)
