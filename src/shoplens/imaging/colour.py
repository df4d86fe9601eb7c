"""Dominant colours of the product in a photo: foreground only, k-means in CIELAB, named clothing colours.

The background is what the photo's border looks like: pixels far (in CIELAB) from the border's median colour
are the product. Those are clustered with k-means; each cluster is named after the nearest of ~15 clothing
colours, clusters of the same name merge, and each colour comes with its hex and its share of the product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image

from shoplens.imaging.decode import DEFAULT_MAX_PIXELS, OPAQUE, decode_image

PALETTE: dict[str, str] = {  # clothing colour names and a typical shade of each
    "black": "#151515",
    "white": "#F4F4F2",
    "grey": "#8C8C8C",
    "navy": "#1F2A48",
    "blue": "#3565A8",
    "light blue": "#9CC3E4",
    "green": "#2F6B3A",
    "olive": "#6E6B2F",
    "yellow": "#E8C840",
    "orange": "#DB7F2A",
    "red": "#B8322E",
    "burgundy": "#741E2C",
    "pink": "#E59AB4",
    "purple": "#6A3D8C",
    "brown": "#6A4A34",
    "beige": "#CDB08A",
}
MAX_SIDE = 128  # colours need no detail: the photo is shrunk first
NEUTRAL_CHROMA = (
    8.0  # CIELAB chroma below which a colour has no hue to name (the palette's least is navy's, ~20)
)
BACKGROUND_DELTA = 14.0  # CIELAB distance from the border's colour above which a pixel is product
MIN_FOREGROUND = 0.005  # a smaller share: the photo is taken as all product (e.g. a close-up of fabric)
SIMILARITY_SCALE = 20.0  # CIELAB distance at which two colours count as about 0.6 alike (Gaussian kernel σ)


@dataclass(frozen=True)
class Colour:
    """A named colour of the product, its measured hex, and its share of the product's pixels."""

    name: str
    hex: str
    share: float


def _lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) as float CIELAB (L 0..100, a and b about -128..127)."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb.reshape(-1, 1, 3)), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    return lab.astype(np.float32) * np.array([100 / 255, 1, 1], np.float32) - np.array(
        [0, 128, 128], np.float32
    )


def _rgb(hexes: Sequence[str]) -> np.ndarray:
    """uint8 RGB (N, 3) of '#RRGGBB' strings."""
    return np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in hexes], np.uint8)


_NAMES = list(PALETTE)
_PALETTE_LAB = _lab(_rgb(list(PALETTE.values())))
_ALL = np.arange(len(_NAMES))
_NEUTRAL = np.array([_NAMES.index(n) for n in ("black", "grey", "white")])


def name_of(lab: np.ndarray) -> str:
    """The palette name nearest to a CIELAB colour; a colour with next to no hue takes the nearest neutral (a dark
    grey lies nearer to brown than to black or grey, but nobody calls charcoal brown)."""
    candidates = _NEUTRAL if float(np.hypot(lab[1], lab[2])) < NEUTRAL_CHROMA else _ALL
    distances = np.linalg.norm(_PALETTE_LAB[candidates] - lab, axis=1)
    return _NAMES[int(candidates[int(np.argmin(distances))])]


def foreground_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean (H, W): pixels unlike the photo's border (all pixels when almost none are)."""
    lab = _lab(rgb).reshape(*rgb.shape[:2], 3)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    distance = np.linalg.norm(lab - np.median(border, axis=0), axis=2)
    mask = distance > BACKGROUND_DELTA
    return mask if mask.mean() >= MIN_FOREGROUND else np.ones_like(mask)


def dominant_colours(
    rgb: np.ndarray, k: int = 3, seed: int = 0, product: np.ndarray | None = None
) -> list[Colour]:
    """Up to k named colours of the product in a uint8 RGB photo (H, W, 3), largest share first.

    `product` (H, W bool), when given, says where the product is (a cut-out's opaque pixels); otherwise it is
    what differs from the photo's border.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {rgb.shape}")
    if product is not None and (product.shape != rgb.shape[:2] or not product.any()):
        raise ValueError(f"expected a non-empty product mask of shape {rgb.shape[:2]}")
    scale = MAX_SIDE / max(rgb.shape[:2])
    if scale < 1:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if product is not None:
            size = (rgb.shape[1], rgb.shape[0])
            product = cv2.resize(product.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    pixels = rgb[product if product is not None and product.any() else foreground_mask(rgb)]
    lab = _lab(pixels)
    packed = (pixels[:, 0].astype(np.int32) << 16) | (pixels[:, 1].astype(np.int32) << 8) | pixels[:, 2]
    k = max(1, min(k, len(np.unique(packed))))  # no more clusters than distinct colours
    if k == 1:  # one colour (or one pixel, where cv2.kmeans answers labels out of range)
        assigned = np.zeros(len(lab), dtype=np.int32)
    else:
        cv2.setRNGSeed(seed)
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
        _, assigned, _ = cv2.kmeans(lab, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
        assigned = assigned.ravel()
    merged: dict[str, list[int]] = {}
    for c in range(k):
        members = np.flatnonzero(assigned == c)
        if len(members):
            merged.setdefault(name_of(lab[members].mean(axis=0)), []).extend(members.tolist())
    colours = [
        Colour(name, _hex(np.median(pixels[idx], axis=0)), round(len(idx) / len(pixels), 4))
        for name, idx in merged.items()
    ]
    return sorted(colours, key=lambda c: -c.share)


def photo_colours(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, decoded: Image.Image | None = None
) -> list[Colour]:
    """Dominant colours of the product in an encoded photo (safe decode, EXIF orientation applied), from the photo
    decoded reduced to twice MAX_SIDE; `decoded`: the same bytes already decoded whole (used when that is what the
    reduced decode would give), so every caller names the same colours for the same bytes."""
    at_least = 2 * MAX_SIDE
    if decoded is not None and min(decoded.size) // at_least < 2:  # no codec would shrink it
        return image_colours(decoded)
    return image_colours(decode_image(data, max_pixels=max_pixels, at_least=at_least))


def image_colours(image: Image.Image) -> list[Colour]:
    """Dominant colours of the product in a decoded photo.

    A large photo is first shrunk by a whole factor (box filter) to at least twice MAX_SIDE: copying every
    pixel of a 1600 × 2000 photo as an array took 66 ms, the colours themselves 7 ms.
    """
    if image.mode not in ("RGB", "LA", "RGBA"):  # palette and CMYK photos, which reduce() refuses
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    factor = max(image.size) // (2 * MAX_SIDE)
    image = image.reduce(factor) if factor > 1 else image
    product = None
    if image.mode in ("LA", "RGBA"):  # transparent pixels are not the product, whatever colour they hold
        opaque = np.asarray(image.getchannel("A")) >= OPAQUE
        product = opaque if opaque.any() and not opaque.all() else None
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return dominant_colours(np.asarray(rgb), product=product)


def palette_similarity(a: Sequence[Colour], b: Sequence[Colour]) -> float:
    """How alike two products' colours are, 0..1: the cosine of their share histograms under a CIELAB kernel.

    Each colour is a point in CIELAB (its measured hex) weighted by its share; two histograms are compared with
    k(x, y) = exp(−|x − y|² / 2σ²) as the inner product, so near shades count as partly the same colour.
    1 for the same palette, near 0 for colours far apart; 0 when either has no colours.
    """
    if not a or not b:
        return 0.0
    la, lb = np.stack([_hex_lab(c.hex) for c in a]), np.stack([_hex_lab(c.hex) for c in b])
    wa, wb = np.array([c.share for c in a]), np.array([c.share for c in b])

    def inner(x: np.ndarray, wx: np.ndarray, y: np.ndarray, wy: np.ndarray) -> float:
        d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2)
        return float(wx @ np.exp(-d2 / (2 * SIMILARITY_SCALE**2)) @ wy)

    norm = np.sqrt(inner(la, wa, la, wa) * inner(lb, wb, lb, wb))
    return float(np.clip(inner(la, wa, lb, wb) / norm, 0.0, 1.0)) if norm > 0 else 0.0


@lru_cache(maxsize=65536)
def _hex_lab(hex_colour: str) -> np.ndarray:
    """CIELAB of a '#RRGGBB' colour (cached: a search compares the same few shades again and again)."""
    lab = _lab(_rgb([hex_colour]))[0]
    lab.flags.writeable = False
    return lab


def _hex(rgb: np.ndarray) -> str:
    """'#RRGGBB' of a uint8-range RGB colour."""
    return "#" + "".join(f"{round(float(v)):02X}" for v in rgb)
