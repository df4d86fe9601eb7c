"""Read a product photo the way Fashion-MNIST was made: the product, light on black, fitted into the model input.

Polarity comes from the background: on a light background the product's darkness is its intensity (Zalando
inverted its photos), on a dark one its lightness, on a mid-grey one its distance either way. Pixels are
measured relative to the fitted background, so gradients and uneven light cancel out; what lies outside the
(slightly grown) product mask is set to black (on a textured backdrop, beyond one pixel of it: a wider rim would
take in the backdrop's pattern); a product at a slant is turned upright (`tilt`); the product's
bounding box is fitted, aspect kept and centred. A smaller thing lying apart from it, or props of another colour
laid around it, are left out (`props`).
A 28×28 light-on-black Fashion-MNIST image comes out as it went in. A cut-out (a product on a transparent
background, as shops export them) is read on white with its transparency as the product mask.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from PIL import Image

from shoplens.imaging.background import Background, border_mask
from shoplens.imaging.decode import OPAQUE, flatten_alpha
from shoplens.imaging.foreground import (
    FAINT_SHARE,
    Foreground,
    is_faint,
    product_intensity,
    separate,
)
from shoplens.imaging.framing import banners, drawn_frame, inner_photo, letterbox, tiles
from shoplens.imaging.hanger import drop_hook
from shoplens.imaging.mannequin import drop_neck
from shoplens.imaging.mask_parts import clean_mask, fill_holes, mask_box
from shoplens.imaging.order_stats import percentile
from shoplens.imaging.pairs import collage_tile, half_of_a_mirrored_pair, one_of_a_pair
from shoplens.imaging.props import drop_apart, drop_props
from shoplens.imaging.reflection import drop_reflection
from shoplens.imaging.tilt import upright

WORK_SIDE = 224  # longest side of the working copy on which the background and mask are found
TARGET_CONTRAST = 0.45  # faint products (foreground.LOW_CONTRAST) are brightened to this, by at most MAX_GAIN
MAX_GAIN = 4.0
SHARPEN = 0.0  # unsharp-mask amount after shrinking to the input size
FAINT = 0.05  # intensity above which pixels next to the mask still count for the bounding box
CUTOUT_BORDER = 0.9  # share of the border that must be transparent for an image to count as a cut-out
INNER_TOUCH = 0.1  # the photo inside bars is read only if its product keeps off its edges ...
INNER_SHARE = (0.01, 0.8)  # ... and covers a plausible share of it
# Beside a banner: the share of the border the backdrop's fit holds, at least, parts at most (a corner badge),
# and how fully the product fills its box, less than (a screenshot's header bar has a panel or card below it)
BANNER_INLIERS = 0.9
BANNER_PARTS = 2
BANNER_FILL = 0.93
CUE_NAMES = (
    "bg_spread",
    "bg_inliers",
    "bg_level",
    "fg_share",
    "components",
    "solidity",
    "border_touch",
    "bbox_fill",
    "contrast",
    "grabcut",
    "aspect",
)


@dataclass(frozen=True)
class PhotoReading:
    """A photo read for the model: its input, the product mask, and cues about the photo itself."""

    array: np.ndarray  # (1, H, W) uint8 model input, product light on black
    mask: np.ndarray  # (h, w) bool product mask on the working copy
    rgb: np.ndarray  # (h, w, 3) uint8 working copy of the photo (for colour attributes)
    cues: dict[str, float]


def working_copy(img: Image.Image, side: int = WORK_SIDE) -> np.ndarray:
    """(h, w, 3) uint8 RGB copy whose longer side is at most `side` (transparency flattened onto white)."""
    img = flatten_alpha(img, (255, 255, 255))
    img = img.convert("RGB") if img.mode != "RGB" else img
    scale = side / max(img.size)
    if scale < 1:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    return np.asarray(img, dtype=np.uint8)


def cutout_mask(img: Image.Image, shape: tuple[int, int]) -> np.ndarray | None:
    """The product mask a cut-out's transparency draws, at shape (h, w); None when the image is no cut-out.

    A cut-out is transparent along (nearly) all of its border and opaque over part of the frame; an image that
    merely carries an alpha channel, opaque everywhere, is read like any photo.
    """
    if img.mode not in ("LA", "RGBA"):  # decode_image gives L, LA, RGB or RGBA
        return None
    alpha = img.getchannel("A").resize((shape[1], shape[0]), Image.Resampling.BOX)
    opaque = np.asarray(alpha) >= OPAQUE
    transparent_border = float((~opaque[border_mask(shape, 0.0)]).mean())
    if transparent_border < CUTOUT_BORDER or not FAINT_SHARE <= opaque.mean() <= 1 - FAINT_SHARE:
        return None
    return opaque


def fit_to_input(intensity: np.ndarray, mask: np.ndarray, size: tuple[int, int] = (28, 28)) -> np.ndarray:
    """Crop the mask's bounding box of intensity, black outside the grown mask, fitted into size, centred."""
    out = np.zeros(size, np.float32)
    if not mask.any():
        return out
    top, bottom, left, right = mask_box(mask)
    grow = max(1, round(max(bottom - top, right - left) / max(size) / 2))  # about half an output pixel
    kept = cv2.dilate(mask.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
    # faint edges belong to the product
    top, bottom, left, right = mask_box(mask | (kept & (intensity > FAINT)))
    scale = min(size[0] / (bottom - top), size[1] / (right - left))
    kept = fill_holes(kept, max_share=1.0)  # dark patches inside the product are product
    soft = cv2.GaussianBlur(kept.astype(np.float32), (0, 0), grow) if grow > 1 else kept.astype(np.float32)
    crop = (intensity * soft)[top:bottom, left:right]
    height = min(size[0], max(1, round((bottom - top) * scale)))
    width = min(size[1], max(1, round((right - left) * scale)))
    if (height, width) != crop.shape:
        method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (width, height), interpolation=method)
        if SHARPEN:  # Zalando sharpened after shrinking; an image already at input size is left alone
            crop = np.clip(crop + SHARPEN * (crop - cv2.GaussianBlur(crop, (0, 0), 1.0)), 0, 1)
    y0, x0 = (
        (size[0] - height + 1) // 2,
        (size[1] - width + 1) // 2,
    )  # odd spare pixel on top/left, as Zalando did
    out[y0 : y0 + height, x0 : x0 + width] = crop
    return out


def _gain(intensity: np.ndarray, mask: np.ndarray) -> float:
    """Brightening for faint products (white on white, black on black); 1 for everything else."""
    if not is_faint(intensity, mask):
        return 1.0
    level = float(percentile(intensity[mask], 90))
    return float(min(MAX_GAIN, TARGET_CONTRAST / max(level, 1e-3)))


def photo_cues(
    background: Background, fg: Foreground, intensity: np.ndarray, box_mask: np.ndarray | None = None
) -> dict[str, float]:
    """Numbers describing the photo (not the product's category) that tell product shots from other pictures.

    The box's fill and aspect are measured on box_mask when given (the product turned upright), else on the mask.
    """
    mask = fg.mask
    area = float(mask.sum())
    cues = dict.fromkeys(CUE_NAMES, 0.0)
    cues.update(
        bg_spread=background.spread,
        bg_inliers=background.inliers,
        bg_level=background.level / 255,
        fg_share=area / mask.size,
        components=float(fg.components),
        grabcut=float(fg.grabcut),
    )
    if area:
        ys, xs = np.nonzero(mask if box_mask is None else box_mask)
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull = cv2.convexHull(np.concatenate(contours))
        edges = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
        cues.update(
            solidity=area / max(cv2.contourArea(hull), 1.0),
            border_touch=float(edges.mean()),
            bbox_fill=min(1.0, area / box),
            contrast=float(percentile(intensity[mask], 90)),
            aspect=float(np.log((xs.max() - xs.min() + 1) / (ys.max() - ys.min() + 1))),
        )
    return cues


def read_photo(img: Image.Image, size: tuple[int, int] = (28, 28), refine: bool = True) -> PhotoReading:
    """Read a decoded photo of any mode and size into the model's light-on-black input, with its product mask.

    A letterboxed photo (flat bars on opposite sides), or one with a banner along a side (a strip of one colour
    carrying a shop's name or price), is read without them when the photo inside shows a product clear of its
    edges (beside a banner: one product on a plain backdrop); otherwise, or when in doubt, the whole frame is
    read. A photo framed by a drawn
    line is read inside it, and a photo shown as a card on a page inside the innermost rectangle of straight edges
    when that holds one product on a plain backdrop. A collage of a product's photos is read by one tile: split by
    straight lines, the tile whose product stands out most; on one plain backdrop (three or four alike parts), the
    tile of the largest.
    """
    if img.width == 0 or img.height == 0:
        raise ValueError(f"cannot read an empty {img.width}x{img.height} image")
    rgb = working_copy(img)
    outline = cutout_mask(img, rgb.shape[:2])
    if outline is not None:
        return _read(rgb, outline, size, refine)

    def inside(box: tuple[slice, slice]) -> PhotoReading:
        return _read(np.ascontiguousarray(rgb[box]), None, size, refine)

    panel = inner_photo(rgb)  # a card or polaroid on a page: the photo inside, when it shows one product
    inner = inside(panel) if panel is not None else None
    if inner is not None and _clear(inner.cues) and _alone(inner.cues):
        return inner
    frame = drawn_frame(rgb)
    if frame is not None:
        return inside(frame)
    for find in (letterbox, banners):
        box = find(rgb)
        if box is None:
            continue
        inner = inside(box)
        # beside a banner, a product on a plain backdrop, no rectangle (below a screenshot's bar: panels, cards)
        if _clear(inner.cues) and (find is letterbox or _alone(inner.cues)):
            return inner
    # a collage split by lines: the tile whose product stands out most, of those read clear
    clear = [reading for reading in map(inside, tiles(rgb)) if _clear(reading.cues)]
    if clear:
        return max(clear, key=lambda reading: reading.cues["contrast"])
    return _read(rgb, None, size, refine)


def _alone(cues: dict[str, float]) -> bool:
    """Whether a photo read inside a larger one shows one product on a plain backdrop, and no rectangle."""
    return (
        cues["components"] <= BANNER_PARTS
        and cues["bg_inliers"] >= BANNER_INLIERS
        and cues["bbox_fill"] < BANNER_FILL
    )


def _clear(cues: dict[str, float]) -> bool:
    """Whether a photo read inside a larger one shows a product clear of its edges, of a plausible share of it."""
    low, high = INNER_SHARE
    return cues["border_touch"] <= INNER_TOUCH and low <= cues["fg_share"] <= high


def _read(
    rgb: np.ndarray, outline: np.ndarray | None, size: tuple[int, int], refine: bool, collage: bool = True
) -> PhotoReading:
    """read_photo on a working copy, with the cut-out's outline when there is one; `collage`: look for alike parts
    tiled on one backdrop (off inside a tile)."""
    background, fg = separate(rgb, refine=refine and outline is None)  # no GrabCut for a mask not kept
    intensity = product_intensity(rgb, background)
    tile = None
    if (
        collage
        and outline is None
        and background.inliers >= BANNER_INLIERS
        and not is_faint(intensity, fg.mask)
    ):
        tile = collage_tile(fg.mask)  # (a faint product's mask falls apart by itself)
    if tile is not None:
        inner = _read(np.ascontiguousarray(rgb[tile]), None, size, refine, collage=False)
        if _clear(inner.cues):
            return inner
    if outline is not None:  # the shop drew the product's outline itself: a white garment stays whole
        mask, parts = clean_mask(outline)
        if parts == 2:  # ... and may show shoes as a pair, as in its photos
            mask, parts = one_of_a_pair(mask)
        fg = replace(fg, mask=mask, components=parts, grabcut=False)
    if outline is None:  # a glossy floor's mirror image, a mannequin's neck or a hanger's hook is no product
        fg = replace(fg, mask=drop_hook(drop_neck(drop_reflection(fg.mask, intensity))))
    fg = replace(fg, mask=half_of_a_mirrored_pair(fg.mask))  # shoes heel to heel: one of them is read
    scene = fg  # what the photo shows, for the cues: a scene of several things must still look like one
    if not is_faint(intensity, fg.mask):  # a smaller thing lying apart from the product is not read with it
        fg = replace(fg, mask=drop_apart(fg.mask))  # (a faint product's mask falls apart by itself)
    fg = replace(fg, mask=drop_props(fg.mask, rgb))  # a flat-lay's props: told apart by their colour
    # on a textured backdrop the input's grown rim would read the backdrop's pattern as the product's faint edge
    product = intensity * _near(fg.mask) if background.textured else intensity
    turned = upright(product, fg.mask)  # a product laid at a slant is read straight
    fitted = np.clip(fit_to_input(turned.intensity, turned.mask, size) * _gain(intensity, fg.mask), 0, 1)
    array = (fitted * 255 + 0.5).astype(np.uint8)[None]
    # the cues measure the box of the product turned upright, unless they see more than the product
    upright_box = turned.mask if turned.angle and scene.mask is fg.mask else None
    cues = photo_cues(background, scene, intensity, upright_box)
    return PhotoReading(array, fg.mask, rgb, cues)


def _near(mask: np.ndarray) -> np.ndarray:
    """The mask grown by one pixel (float 0/1): where a product's edge may still lie."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
