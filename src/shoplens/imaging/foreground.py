"""Product versus background: the product mask, measured against the background model of imaging.background.

A pixel is product when its CIELAB colour stands off the fitted background by more than the border's own noise
allows, so a textured or noisy background raises the bar; on a textured one the distance is to the nearest of the
border's background colours (its palette), unless no product stands off them; that mask is kept as drawn, its rim
(blurred by the smoothing a texture needs) cut back to the product's edge. Where the simple mask is unsure, OpenCV's
GrabCut refines it. On a busy print (imaging.texture) a plain product is the calm stretch in it: that mask is taken
where the colours' own went astray (missing the stretch, or spilling from it to the frame's edge), and a border busy
all along (stripes running along a side as well as across) makes the backdrop textured.

A faint product (white on white, black on black, white a shade lighter than light grey) often passes that
bar only in its darkest or lightest parts: the mask then grows from them into every connected pixel that
departs from the background by more than its noise (hysteresis, as an edge detector links weak edges to
strong ones), and once more where it blends in (under FAINT_DISTANCE): on a copy smoothed as for a textured
backdrop, where the noise averages away and a white garment's plain stretches between its seams show. On a
gradient, or on a backdrop that is not light (where a studio's pool of light may fade before the frame's edges,
so the border looks flat), the background is fitted once more inside the frame, around the first mask, so that a
spotlight's peak no longer passes for product. Thin strands of the mask that run to the photo's edge
(a floor's seams, a rail) are dropped, with the other rules on the mask's parts (imaging.mask_parts).

Before a real scene out of focus (a lifestyle shot: a busy backdrop, or one whose fit misses part of the border)
the mask may spill into the scene; where it reaches well past the hull of the photo's sharp edges
(imaging.focus), GrabCut decides again, with the scene outside the hull as background.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from shoplens.imaging.background import (
    Background,
    border_mask,
    busy_border,
    fit_background,
    fit_interior,
    is_gradient,
    luma,
    palette_distance,
    to_lab,
)
from shoplens.imaging.focus import sharp_hull
from shoplens.imaging.mask_parts import (
    FAINT_DISTANCE,
    clean_mask,
    drop_overlays,
    drop_soft_parts,
    drop_thin_border_parts,
    mask_box,
    overlay_alone,
)
from shoplens.imaging.order_stats import median, percentile
from shoplens.imaging.pairs import one_of_a_pair
from shoplens.imaging.texture import busy_everywhere, calm_product, texture_energy

MIN_THRESHOLD = 7.0  # ΔE a pixel must differ from the background at least (JPEG noise on white ≈ 2–4)
# Where nothing passes that on a clean background (white on white, black on black), a second look down to
# the background's own noise: SPREAD_FACTOR × its spread, at least FAINT_THRESHOLD ΔE.
FAINT_THRESHOLD = 3.0
FAINT_SHARE = 0.01  # a mask under this share of the photo counts as "nothing found"
MAX_THRESHOLD = 40.0
CONTRAST_FLOOR = 64.0  # luma range under which a departure is not stretched further (keeps noise down)
# A product whose 90th-percentile departure is under LOW_CONTRAST counts as faint, as does one that blends in
# (mask_parts.FAINT_DISTANCE).
LOW_CONTRAST = 0.3
SPREAD_FACTOR = 2.5  # threshold = SPREAD_FACTOR × the border's own 90th-percentile deviation
SMOOTHED_FLOOR = 1.0  # ΔE a smoothed departure must pass even where the border has no noise (blown-out white)
FLOODED = 0.8  # a mask grown over more of the photo than this is the background itself
# A faint product grown on the smoothed copy may reach GROW_REACH of its box's size past that box; where the growth
# runs along more than SPILL of that bound, it is the backdrop that departs from the fit (a vignette, a photo
# padded with a flat frame), not more product.
GROW_REACH = 0.15
SPILL = 0.25
INTERIOR_ROUNDS = 2  # fits, each on the background the previous one left
# A backdrop darker than this (median luma) is fitted again inside the frame even when its border is flat: a pool
# of light may lie around the product and fade before the edges. (A light one has no room to be lit further, and
# refitting it lost shop photos.)
POOL_LEVEL = 200.0
POOL_SETTLED = 0.02  # ... and fitted a second time only if the first changed more of the mask than this
INTERIOR_MAX_SHARE = 0.6  # not when the product fills more of the photo than this (too little left)
OVERLAY_FOUND = 2.0  # a closer look past a mask that is only an overlay must find this many times more
CALM_FOUND = 0.5  # a calm stretch overrides the colours' mask when that holds under this share of it ...
CALM_SPILL = 2.0  # ... or reaches the frame's edge with more than this many times its area
GRABCUT_SIDE = 128  # GrabCut runs on a copy no larger than this
# Before a scene out of focus: a backdrop that is textured or whose fit holds less than FOCUS_INLIERS of the border
# (a plain studio's holds all of it), a mask of which more than FOCUS_SPILL lies outside the sharp edges' hull.
FOCUS_INLIERS = 0.95
FOCUS_SPILL = 0.15


@dataclass(frozen=True)
class Foreground:
    """The product mask with the evidence behind it."""

    mask: np.ndarray  # (H, W) bool
    distance: np.ndarray  # (H, W) float32: ΔE to the background model
    threshold: float
    components: int  # connected parts kept
    grabcut: bool  # whether GrabCut refined the mask


def product_intensity(rgb: np.ndarray, background: Background) -> np.ndarray:
    """(h, w) float32 0..1: how far each pixel's luma departs from the background's, either way."""
    y, bg = luma(rgb), background.luma
    darker = (bg - y) / np.maximum(bg, CONTRAST_FLOOR)
    lighter = (y - bg) / np.maximum(255.0 - bg, CONTRAST_FLOOR)
    return np.clip(np.maximum(darker, lighter), 0.0, 1.0)


def is_faint(intensity: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the masked product departs little from its background (its 90th percentile under LOW_CONTRAST)."""
    return bool(mask.any()) and float(percentile(intensity[mask], 90)) < LOW_CONTRAST


def smoothing_sigma(shape: tuple[int, int], textured: bool) -> float:
    """Gaussian sigma (pixels) applied before colour distances: more on textured backgrounds."""
    return (0.012 if textured else 0.004) * max(shape)


def separate(rgb: np.ndarray, refine: bool = True) -> tuple[Background, Foreground]:
    """Background model and product mask of an (H, W, 3) uint8 sRGB photo at working resolution."""
    shape = rgb.shape[:2]
    lab, y = to_lab(rgb), luma(rgb)
    smooth_lab = _smooth(lab, smoothing_sigma(shape, False))
    background = fit_background(smooth_lab, y)
    energy = texture_energy(lab)
    calm = calm_product(lab, energy)  # a plain product on a busy print: its calm stretch
    if not background.textured and (
        calm is not None
        or busy_everywhere(energy)
        or busy_border(smooth_lab, background, _bar(background.spread))
    ):
        background = replace(background, textured=True)  # fine lines or grains the surface leaves out
    if background.textured:  # measure again after averaging the texture away
        smooth_lab = _smooth(lab, smoothing_sigma(shape, True))
        textured = fit_background(smooth_lab, y, seams=False)
        background = replace(textured, textured=True)
    distance = np.linalg.norm(smooth_lab - background.lab, axis=-1).astype(np.float32)
    threshold = _bar(background.spread)
    found = _by_palette(rgb, smooth_lab, background, refine) if background.textured else None
    if found is None:
        found = _foreground(rgb, distance, threshold, background, refine)
    if calm is not None and _astray(found.mask, calm):
        found = _calm(calm, smooth_lab)
    faint = max(SPREAD_FACTOR * background.spread, FAINT_THRESHOLD)
    if not background.textured and faint < threshold:
        # Nothing found, or only what an overlay would be (a price tag over a black coat on black): look closer.
        empty = found.mask.mean() < FAINT_SHARE
        badge = not empty and overlay_alone(found.mask) and not _blends_in(found)
        if empty or badge:
            closer = _foreground(rgb, distance, faint, background, refine)
            if closer.mask.sum() > (OVERLAY_FOUND * found.mask.sum() if badge else 0):
                found = closer
    if (
        not background.textured
        and faint < found.threshold
        and (is_faint(product_intensity(rgb, background), found.mask) or _blends_in(found))
    ):
        found = _grow(found, faint)
    if not background.textured and _blends_in(found):
        found = _grow_smoothed(lab, background, found)
    plain = min(shape) >= 48 and not background.textured  # a cubic needs room
    gradient = plain and is_gradient(background)
    if plain and (gradient or background.level < POOL_LEVEL) and 0 < found.mask.mean() <= INTERIOR_MAX_SHARE:
        # Each round sees more background, as the mask sheds what was not product.
        for _ in range(INTERIOR_ROUNDS):
            inner = fit_interior(smooth_lab, y, found.mask, background)
            distance = np.linalg.norm(smooth_lab - inner.lab, axis=-1).astype(np.float32)
            again = _foreground(rgb, distance, found.threshold, inner, refine)
            if not again.mask.any():
                break
            settled = (again.mask ^ found.mask).sum() <= POOL_SETTLED * found.mask.sum()
            background, found = inner, again
            if settled and not gradient:  # no pool shed: a second round would find what this one did
                break
    if refine and (background.textured or background.inliers < FOCUS_INLIERS):
        found = _in_focus(rgb, lab, found)
    return background, found


def _in_focus(rgb: np.ndarray, lab: np.ndarray, found: Foreground) -> Foreground:
    """The mask decided again by GrabCut when it spills past the sharp edges into a scene out of focus.

    Outside the hull of the sharp edges the scene is background, except where the mask reaches (probably
    background: the product's own soft side keeps the product's colours and stays); inside it, the mask is
    probably product and the rest probably background.
    """
    mask = found.mask
    if min(mask.shape) < 64 or mask.mean() < FAINT_SHARE:
        return found
    hull = sharp_hull(lab)
    if hull is None or (mask & ~hull).sum() <= FOCUS_SPILL * mask.sum() or (mask & hull).mean() < FAINT_SHARE:
        return found
    seeds = np.full(mask.shape, cv2.GC_BGD, np.uint8)
    seeds[hull | mask] = cv2.GC_PR_BGD
    seeds[hull & mask] = cv2.GC_PR_FGD
    refined, parts = clean_mask(_grabcut_seeded(rgb, seeds))
    if refined.mean() < FAINT_SHARE:
        return found
    return replace(found, mask=refined, components=parts, grabcut=True)


def _bar(spread: float) -> float:
    """The ΔE a pixel must stand off the background to be product, given the border's own spread around it."""
    return float(np.clip(SPREAD_FACTOR * spread, MIN_THRESHOLD, MAX_THRESHOLD))


def _by_palette(
    rgb: np.ndarray, smooth_lab: np.ndarray, background: Background, refine: bool
) -> Foreground | None:
    """On a textured backdrop, the pixels whose colour the border lacks (None when that finds no product).

    No smooth surface fits blotches of several colours; a product in the backdrop's own colours, though, is
    better told by its departure from the surface.
    """
    distance, spread = palette_distance(smooth_lab)
    # The border's own colours tell the product's outline better than GrabCut's blobs, unless its size is odd.
    found = _foreground(rgb, distance, _bar(spread), background, refine, texture_unsure=False)
    if found.mask.mean() < FAINT_SHARE:
        return None
    return found if found.grabcut else _tighten(found, smoothing_sigma(rgb.shape[:2], True))


def _astray(mask: np.ndarray, calm: np.ndarray) -> bool:
    """Whether the colours' mask went astray on a print: it misses most of the calm stretch, or spills from it to
    the frame's edge over more than CALM_SPILL times its area."""
    lost = np.count_nonzero(mask & calm) < CALM_FOUND * np.count_nonzero(calm)
    spilt = bool((mask & border_mask(mask.shape, 0.0)).any()) and mask.sum() > CALM_SPILL * calm.sum()
    return lost or spilt


def _calm(mask: np.ndarray, smooth_lab: np.ndarray) -> Foreground:
    """The Foreground of a calm stretch's mask, with the distances to the border's palette."""
    distance, spread = palette_distance(smooth_lab)
    return Foreground(mask, distance, _bar(spread), 1, False)


def _tighten(found: Foreground, sigma: float) -> Foreground:
    """The mask with its blurred rim cut back to where the product's edge was.

    Smoothing by sigma px spreads a step outwards; the edge is its middle, half the product's median distance.
    """
    mask = found.mask
    cut = max(found.threshold, 0.5 * float(median(found.distance[mask])))
    reach = 2 * int(np.ceil(2 * sigma)) + 1
    core = cv2.erode(mask.astype(np.uint8), np.ones((reach, reach), np.uint8)) > 0
    tight, parts = clean_mask(mask & (core | (found.distance >= cut)))
    return replace(found, mask=tight, components=parts) if tight.any() else found


def _blends_in(found: Foreground) -> bool:
    """Whether the masked product stands off its background by little colour (90th-pct ΔE under FAINT_DISTANCE)."""
    return bool(found.mask.any()) and float(percentile(found.distance[found.mask], 90)) < FAINT_DISTANCE


def _grow(found: Foreground, low: float) -> Foreground:
    """The mask grown into the connected pixels farther than `low` from the background (unless that floods it)."""
    grown, parts = _linked(found.mask, found.distance > low)
    if grown.mean() > FLOODED:  # the background itself, not a product
        return found
    return Foreground(grown, found.distance, low, parts, found.grabcut)


def _grow_smoothed(lab: np.ndarray, background: Background, found: Foreground) -> Foreground:
    """A faint mask grown further on a copy smoothed as for a textured backdrop, its blurred rim cut back.

    What the bars find of a white garment on white is often only its seams and shaded folds: the rest departs
    from the backdrop by less than the pixel noise, but by more than that noise averaged away.
    """
    shape = lab.shape[:2]
    sigma = smoothing_sigma(shape, True)
    distance = np.linalg.norm(_smooth(lab, sigma) - background.lab, axis=-1).astype(np.float32)
    border = border_mask(shape) & ~found.mask & (found.distance <= found.threshold)
    if not border.any():
        return found
    low = max(SPREAD_FACTOR * float(percentile(distance[border], 90)), SMOOTHED_FLOOR)
    grown, parts = _linked(found.mask, distance > low)
    reach = _reach(found.mask, GROW_REACH)
    outline = reach & ~(cv2.erode(reach.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    # A seed whose box, grown, covers the whole photo has no bound to spill over.
    spill = float(grown[outline].mean()) if outline.any() else 0.0
    if grown.mean() > FLOODED or spill > SPILL:  # the backdrop around it, not more product
        return found
    grown, parts = clean_mask(grown & reach)
    tight = _tighten(Foreground(grown, distance, low, parts, found.grabcut), sigma)
    mask, parts = clean_mask(tight.mask | found.mask)
    return replace(found, mask=mask, components=parts)


def _reach(mask: np.ndarray, share: float) -> np.ndarray:
    """The mask's bounding box grown by `share` of its height and width on every side, within the photo."""
    top, bottom, left, right = mask_box(mask)
    dy, dx = round(share * (bottom - top)), round(share * (right - left))
    reach = np.zeros(mask.shape, bool)
    reach[max(0, top - dy) : bottom + dy, max(0, left - dx) : right + dx] = True
    return reach


def _linked(seed: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, int]:
    """The seed with every connected part of candidates that touches it, cleaned, and its count of parts."""
    _, labels = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    linked = np.unique(labels[seed & candidates])
    return clean_mask(np.isin(labels, linked[linked > 0]) | seed)


def _foreground(
    rgb: np.ndarray,
    distance: np.ndarray,
    threshold: float,
    background: Background,
    refine: bool,
    texture_unsure: bool = True,
) -> Foreground:
    """The mask of pixels farther than threshold from the background, cleaned, refined by GrabCut when unsure.

    A textured background makes the mask unsure only with texture_unsure.
    """
    mask, parts = clean_mask(distance > threshold)
    used = False
    if refine and _unsure(mask, background.textured and texture_unsure):
        refined, refined_parts = clean_mask(grabcut(rgb, distance, threshold, mask))
        if refined.any():
            mask, parts, used = refined, refined_parts, True
    if parts > 1:
        mask, parts = drop_overlays(mask, distance)
    if parts > 1:
        mask, parts = drop_soft_parts(mask, distance)
    mask, parts = drop_thin_border_parts(mask, parts)
    if parts == 2:
        mask, parts = one_of_a_pair(mask)
    return Foreground(mask, distance, threshold, parts, used)


def _smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smoothed copy (the image itself when sigma is below half a pixel)."""
    return cv2.GaussianBlur(image, (0, 0), sigma) if sigma >= 0.5 else image


def _unsure(mask: np.ndarray, textured: bool) -> bool:
    """Whether the simple mask deserves GrabCut: a textured background, or an implausible size."""
    if min(mask.shape) < 64:
        return False
    return textured or not 0.01 <= mask.mean() <= 0.8


def _small_size(shape: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the copy GrabCut runs on: at most GRABCUT_SIDE pixels on its longer side."""
    h, w = shape
    scale = min(1.0, GRABCUT_SIDE / max(h, w))
    return max(8, round(w * scale)), max(8, round(h * scale))


def _run_grabcut(small: np.ndarray, seeds: np.ndarray) -> np.ndarray | None:
    """GrabCut's product mask of a small copy from its seed labels (cv2.GC_*); None when it refuses them."""
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.setRNGSeed(0)  # GrabCut starts its colour models from random draws: the same photo, the same mask
        cv2.grabCut(small, seeds, None, bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # GrabCut refuses seeds without both classes
        return None
    return (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)


def _grabcut_seeded(rgb: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """GrabCut from full-size seed labels, run on a small copy; the seeds' probable product when it refuses."""
    h, w = seeds.shape
    size = _small_size((h, w))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    fg = _run_grabcut(small, cv2.resize(seeds, size, interpolation=cv2.INTER_NEAREST))
    if fg is None:
        return (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    return cv2.resize(fg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0


def grabcut(rgb: np.ndarray, distance: np.ndarray, threshold: float, mask: np.ndarray) -> np.ndarray:
    """GrabCut seeded by the colour-distance mask, on a copy at most GRABCUT_SIDE pixels on its longer side."""
    h, w = mask.shape
    size = _small_size((h, w))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    dist = cv2.resize(distance, size, interpolation=cv2.INTER_AREA)
    core = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    seeds = np.where(dist > threshold, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    seeds[cv2.erode(core, np.ones((5, 5), np.uint8)) > 0] = cv2.GC_FGD
    border = border_mask(seeds.shape, 0.02)
    seeds[border & (dist <= threshold)] = cv2.GC_BGD
    if not (seeds == cv2.GC_PR_FGD).any() and not (seeds == cv2.GC_FGD).any():
        return np.zeros_like(mask)
    fg = _run_grabcut(small, seeds)
    if fg is None:  # keep the simple mask
        return mask
    return cv2.resize(fg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
