"""Product versus background: a background model fitted on the photo's border, and a foreground mask.

The border is assumed to be background. A smooth surface (quadratic in x and y, robust to a product that
touches the border) fitted to its CIELAB colours models uniform and gradient backgrounds alike; the border's
own deviation from that surface (its spread) sets how far a pixel must differ to count as product, so a
textured or noisy background raises the bar. Where the simple mask is unsure, OpenCV's GrabCut refines it.

A faint product (white on white, black on black) often passes that bar only in its darkest or lightest
parts: the mask then grows from them into every connected pixel that departs from the background by more
than its noise (hysteresis, as an edge detector links weak edges to strong ones). On a gradient (the border's
surface spans more than GRADIENT_RANGE) the background is fitted once more, as a cubic surface on every pixel
away from the first mask: a spotlight's or a radial gradient's peak inside the frame, which the border alone
cannot show, then no longer passes for product. Thin strands of the mask that run to the photo's edge (a
floor's seams, a rail) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BORDER_SHARE = 0.04  # width of the border strip, as a share of the shorter side
MIN_THRESHOLD = 7.0  # ΔE a pixel must differ from the background at least (JPEG noise on white ≈ 2–4)
# Where nothing passes that on a clean background (white on white, black on black), a second look down to
# the background's own noise: SPREAD_FACTOR × its spread, at least FAINT_THRESHOLD ΔE.
FAINT_THRESHOLD = 3.0
FAINT_SHARE = 0.01  # a mask under this share of the photo counts as "nothing found"
MAX_THRESHOLD = 40.0
CONTRAST_FLOOR = 64.0  # luma range under which a departure is not stretched further (keeps noise down)
LOW_CONTRAST = 0.3  # a product whose 90th-percentile departure is under this counts as faint
SPREAD_FACTOR = 2.5  # threshold = SPREAD_FACTOR × the border's own 90th-percentile deviation
TEXTURED_SPREAD = 5.0  # above this the background counts as textured: distances are taken on a smoothed image
GRADIENT_RANGE = 15.0  # ΔE across the border-fitted surface above which the background counts as a gradient
INTERIOR_DEGREE = 3  # ... and is fitted again, as a cubic surface, on the pixels away from the product
INTERIOR_ROUNDS = 2  # fits, each on the background the previous one left
INTERIOR_MAX_SHARE = 0.6  # not when the product fills more of the photo than this (too little left)
_MAX_INTERIOR_SAMPLES = 4000
# Strands of the mask narrower than this (px of the working copy) that run to the photo's edge are dropped.
THIN_WIDTH = 5
KEEP_SHARE = 0.08  # components smaller than this share of the largest are dropped
SOFT_EDGE_RATIO = 0.3  # parts whose outline is softer than this share of the sharpest part's are shading
GRABCUT_SIDE = 128  # GrabCut runs on a copy no larger than this
_ROBUST_ROUNDS = 3
_MAX_BORDER_SAMPLES = 1200  # border pixels used for the fit (every k-th)
_SEED_DISTANCE = 12.0  # ΔE from a corner's colour within which border pixels seed the fit


@dataclass(frozen=True)
class Background:
    """A background model: its CIELAB colour and luma at every pixel, and how well the border fits it."""

    lab: np.ndarray  # (H, W, 3) float32
    luma: np.ndarray  # (H, W) float32, 0..255
    spread: float  # ΔE of the border around the model (90th percentile of the inliers)
    inliers: float  # share of border pixels the model explains
    textured: bool

    @property
    def level(self) -> float:
        """Median background luma, 0..255."""
        return float(np.median(self.luma))


@dataclass(frozen=True)
class Foreground:
    """The product mask with the evidence behind it."""

    mask: np.ndarray  # (H, W) bool
    distance: np.ndarray  # (H, W) float32: ΔE to the background model
    threshold: float
    components: int  # connected parts kept
    grabcut: bool  # whether GrabCut refined the mask


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (L 0..100, a and b about -128..127) of an (H, W, 3) uint8 sRGB image, float32."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2Lab).astype(np.float32)
    return lab * np.float32([100 / 255, 1, 1]) - np.float32([0, 128, 128])  # OpenCV's 8-bit encoding undone


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma 0..255 of an (H, W, 3) uint8 sRGB image, as Pillow's convert("L") computes it."""
    return rgb.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])


def product_intensity(rgb: np.ndarray, background: Background) -> np.ndarray:
    """(h, w) float32 0..1: how far each pixel's luma departs from the background's, either way."""
    y, bg = luma(rgb), background.luma
    darker = (bg - y) / np.maximum(bg, CONTRAST_FLOOR)
    lighter = (y - bg) / np.maximum(255.0 - bg, CONTRAST_FLOOR)
    return np.clip(np.maximum(darker, lighter), 0.0, 1.0)


def is_faint(intensity: np.ndarray, mask: np.ndarray) -> bool:
    """Whether the masked product departs little from its background (its 90th percentile under LOW_CONTRAST)."""
    return bool(mask.any()) and float(np.percentile(intensity[mask], 90)) < LOW_CONTRAST


def border_mask(shape: tuple[int, int], share: float = BORDER_SHARE) -> np.ndarray:
    """(H, W) bool: the strip along the edges, at least one pixel wide."""
    h, w = shape
    width = max(1, round(share * min(h, w)))
    border = np.zeros(shape, bool)
    border[:width], border[-width:], border[:, :width], border[:, -width:] = True, True, True, True
    return border


def _powers(degree: int) -> list[tuple[int, int]]:
    """(power of u, power of v) of each polynomial term up to a total degree, lowest first: 1, u, v, u², uv, v², …"""
    return [(i, d - i) for d in range(degree + 1) for i in range(d, -1, -1)]


def _terms(u: np.ndarray, v: np.ndarray, degree: int) -> list[np.ndarray]:
    """The polynomial terms of u and v up to a total degree, in _powers' order."""
    return [u**i * v**j for i, j in _powers(degree)]


def _degree(n_terms: int) -> int:
    """The total degree whose polynomial in two variables has n_terms terms (1, 3, 6, 10, …)."""
    return round((np.sqrt(8 * n_terms + 1) - 3) / 2)


def _design(ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int], degree: int = 2) -> np.ndarray:
    """Surface terms (see _terms) of pixel coordinates scaled to -0.5..0.5, one row per pixel."""
    u = xs.astype(np.float32) / max(shape[1] - 1, 1) - 0.5
    v = ys.astype(np.float32) / max(shape[0] - 1, 1) - 0.5
    return np.stack(_terms(u, v, degree), axis=-1)


def fit_background(lab: np.ndarray, luma_img: np.ndarray, border: np.ndarray | None = None) -> Background:
    """Fit a smooth background (colour and luma) to the border, ignoring border pixels that are product."""
    shape = lab.shape[:2]
    border = border_mask(shape) if border is None else border
    ys, xs = np.nonzero(border)
    step = max(1, len(ys) // _MAX_BORDER_SAMPLES)
    ys, xs = ys[::step], xs[::step]
    values = np.concatenate([lab[ys, xs], luma_img[ys, xs, None]], axis=1)
    degree = 2 if min(shape) >= 48 else 1  # a quadratic surface needs a border wide enough to pin it down
    design = _design(ys, xs, shape, degree)
    # Start from the whole border and from each corner's colour; refine the fit that explains most of it.
    starts = [
        _robust_fit(design, values, start, rounds=1)
        for start in [np.ones(len(ys), bool), *_corner_seeds(values, ys, xs, shape)]
    ]
    _, _, keep = max(starts, key=lambda fit: int((fit[1] <= _SEED_DISTANCE).sum()))
    coef, residual, keep = _robust_fit(design, values, keep, rounds=_ROBUST_ROUNDS)
    spread = float(np.percentile(residual[keep], 90))
    surface = _surface(coef, shape)
    return Background(
        lab=surface[..., :3].astype(np.float32),
        luma=np.clip(surface[..., 3], 0, 255).astype(np.float32),
        spread=spread,
        inliers=float(keep.mean()),
        textured=spread > TEXTURED_SPREAD,
    )


def fit_interior(
    lab: np.ndarray, luma_img: np.ndarray, product: np.ndarray, border_fit: Background
) -> Background:
    """The background fitted again, as a cubic surface, on every pixel away from the product mask."""
    shape = lab.shape[:2]
    away = cv2.dilate(product.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
    ys, xs = np.nonzero(away)
    step = max(1, len(ys) // _MAX_INTERIOR_SAMPLES)
    ys, xs = ys[::step], xs[::step]
    values = np.concatenate([lab[ys, xs], luma_img[ys, xs, None]], axis=1)
    coef = np.linalg.lstsq(_design(ys, xs, shape, INTERIOR_DEGREE), values, rcond=None)[0].astype(np.float32)
    surface = _surface(coef, shape)
    return Background(
        lab=surface[..., :3].astype(np.float32),
        luma=np.clip(surface[..., 3], 0, 255).astype(np.float32),
        spread=border_fit.spread,
        inliers=border_fit.inliers,
        textured=False,
    )


def is_gradient(background: Background) -> bool:
    """Whether the fitted background's colour changes across the frame by more than GRADIENT_RANGE ΔE."""
    h, w = background.lab.shape[:2]
    rows, cols = np.r_[0:h:4, h - 1], np.r_[0:w:4, w - 1]  # a smooth surface: every 4th pixel and the last
    lab = background.lab[np.ix_(rows, cols)].reshape(-1, 3)  # ... show its range
    return float(np.linalg.norm(lab.max(axis=0) - lab.min(axis=0))) > GRADIENT_RANGE


def _surface(coef: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, channels) values of the fitted surface at every pixel (terms as in _design)."""
    u = (np.arange(shape[1], dtype=np.float32) / max(shape[1] - 1, 1) - 0.5)[None, :, None]
    v = (np.arange(shape[0], dtype=np.float32) / max(shape[0] - 1, 1) - 0.5)[:, None, None]
    # Per power of v, a polynomial in u along one row: only the last sum works at full size.
    rows: dict[int, np.ndarray] = {}
    for (i, j), c in zip(_powers(_degree(len(coef))), coef):
        rows[j] = rows.get(j, 0) + u**i * c
    return sum(v**j * row for j, row in rows.items())


def _robust_fit(
    design: np.ndarray, values: np.ndarray, keep: np.ndarray, rounds: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refit on the pixels the surface explains, a few rounds: (coefficients, ΔE residuals, inliers)."""
    for _ in range(rounds):
        coef = _ridge(design[keep], values[keep])
        residual = np.linalg.norm((design @ coef - values)[:, :3], axis=1)
        keep = residual <= max(2.5 * float(np.median(residual[keep])), 3.0)
    return coef, residual, keep


def _corner_seeds(
    values: np.ndarray, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]
) -> list[np.ndarray]:
    """For each corner, the border pixels close to its colour (at least a handful of them)."""
    h, w = shape
    reach = max(1, round(0.1 * min(h, w)))
    near = (np.minimum(xs, w - 1 - xs) < reach) & (np.minimum(ys, h - 1 - ys) < reach)
    seeds = []
    for top in (True, False):
        for left in (True, False):
            corner = near & ((ys < h / 2) == top) & ((xs < w / 2) == left)
            if corner.any():
                close = np.linalg.norm(values[:, :3] - np.median(values[corner, :3], axis=0), axis=1)
                if (close <= _SEED_DISTANCE).sum() >= 4:
                    seeds.append(close <= _SEED_DISTANCE)
    return seeds


def _ridge(design: np.ndarray, values: np.ndarray, alpha: float = 1e-3) -> np.ndarray:
    """Least-squares coefficients with a little ridge so that a thin border never makes them explode."""
    gram = design.T @ design + alpha * len(design) * np.eye(design.shape[1], dtype=np.float32)
    gram[0, 0] -= alpha * len(design)  # the constant term is not shrunk
    return np.linalg.solve(gram, design.T @ values).astype(np.float32)


def smoothing_sigma(shape: tuple[int, int], textured: bool) -> float:
    """Gaussian sigma (pixels) applied before colour distances: more on textured backgrounds."""
    return (0.012 if textured else 0.004) * max(shape)


def separate(rgb: np.ndarray, refine: bool = True) -> tuple[Background, Foreground]:
    """Background model and product mask of an (H, W, 3) uint8 sRGB photo at working resolution."""
    shape = rgb.shape[:2]
    lab, y = to_lab(rgb), luma(rgb)
    smooth_lab = _smooth(lab, smoothing_sigma(shape, False))
    background = fit_background(smooth_lab, y)
    if background.textured:  # measure again after averaging the texture away
        smooth_lab = _smooth(lab, smoothing_sigma(shape, True))
        textured = fit_background(smooth_lab, y)
        background = Background(textured.lab, textured.luma, textured.spread, textured.inliers, True)
    distance = np.linalg.norm(smooth_lab - background.lab, axis=-1).astype(np.float32)
    threshold = float(np.clip(SPREAD_FACTOR * background.spread, MIN_THRESHOLD, MAX_THRESHOLD))
    found = _foreground(rgb, distance, threshold, background, refine)
    faint = max(SPREAD_FACTOR * background.spread, FAINT_THRESHOLD)
    if found.mask.mean() < FAINT_SHARE and not background.textured and faint < threshold:
        closer = _foreground(rgb, distance, faint, background, refine)
        if closer.mask.any():
            found = closer
    if (
        not background.textured
        and faint < found.threshold
        and is_faint(product_intensity(rgb, background), found.mask)
    ):
        found = _grow(found, faint)
    refit = min(shape) >= 48 and not background.textured and is_gradient(background)  # a cubic needs room
    if refit and 0 < found.mask.mean() <= INTERIOR_MAX_SHARE:
        # Each round sees more background, as the mask sheds what was not product.
        for _ in range(INTERIOR_ROUNDS):
            inner = fit_interior(smooth_lab, y, found.mask, background)
            distance = np.linalg.norm(smooth_lab - inner.lab, axis=-1).astype(np.float32)
            again = _foreground(rgb, distance, found.threshold, inner, refine)
            if not again.mask.any():
                break
            background, found = inner, again
    return background, found


def _grow(found: Foreground, low: float) -> Foreground:
    """The mask grown into the connected pixels farther than `low` from the background (unless that floods it)."""
    candidates = found.distance > low
    _, labels = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    linked = np.unique(labels[found.mask & candidates])
    grown, parts = clean_mask(np.isin(labels, linked[linked > 0]) | found.mask)
    if grown.mean() > 0.8:  # the background itself, not a product
        return found
    return Foreground(grown, found.distance, low, parts, found.grabcut)


def _foreground(
    rgb: np.ndarray, distance: np.ndarray, threshold: float, background: Background, refine: bool
) -> Foreground:
    """The mask of pixels farther than threshold from the background, cleaned, refined by GrabCut when unsure."""
    mask, parts = clean_mask(distance > threshold)
    used = False
    if refine and _unsure(mask, background):
        refined, refined_parts = clean_mask(grabcut(rgb, distance, threshold, mask))
        if refined.any():
            mask, parts, used = refined, refined_parts, True
    if parts > 1:
        mask, parts = drop_soft_parts(mask, distance)
    mask, parts = drop_thin_border_parts(mask, parts)
    return Foreground(mask, distance, threshold, parts, used)


def drop_thin_border_parts(mask: np.ndarray, parts: int) -> tuple[np.ndarray, int]:
    """Drop thin strands of the mask that run to the photo's edge (a floor's seams, a rail), and count the parts.

    Thin means narrower than THIN_WIDTH pixels of the working copy: what a morphological opening removes.
    """
    if not mask.any() or min(mask.shape) < 64:
        return mask, parts
    kernel = np.ones((THIN_WIDTH, THIN_WIDTH), np.uint8)
    thin = mask & (cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel) == 0)
    _, labels = cv2.connectedComponents(thin.astype(np.uint8), connectivity=8)
    edge = border_mask(mask.shape, 0.0)
    strands = np.unique(labels[edge & thin])
    if not strands[strands > 0].size:
        return mask, parts
    cleaned, kept = clean_mask(mask & ~np.isin(labels, strands[strands > 0]))
    return (cleaned, kept) if cleaned.any() else (mask, parts)


def drop_soft_parts(mask: np.ndarray, distance: np.ndarray) -> tuple[np.ndarray, int]:
    """Drop the mask's parts whose outline is soft next to the sharpest part's, and count the parts kept.

    A product's outline is a step in the distance to the background; the blob a radial gradient or a
    vignette leaves where the smooth background surface does not fit rises gently.
    """
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 2 or min(mask.shape) < 2:  # one part, or a strip too thin for a gradient
        return mask, count - 1
    gy, gx = np.gradient(distance)
    edge = np.hypot(gx, gy)
    rim = mask & ~(cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    sums = np.bincount(labels[rim], weights=edge[rim], minlength=count)[1:]
    sharpness = sums / np.maximum(np.bincount(labels[rim], minlength=count)[1:], 1)
    keep = np.flatnonzero(sharpness >= SOFT_EDGE_RATIO * sharpness.max()) + 1
    return np.isin(labels, keep), len(keep)


def _smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smoothed copy (the image itself when sigma is below half a pixel)."""
    return cv2.GaussianBlur(image, (0, 0), sigma) if sigma >= 0.5 else image


def clean_mask(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Drop specks, keep the largest connected part and those not much smaller, fill small holes."""
    if not mask.any():
        return mask, 0
    m = mask.astype(np.uint8)
    if min(mask.shape) >= 64:
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if count <= 1:
        return np.zeros_like(mask), 0
    areas = stats[1:, cv2.CC_STAT_AREA]
    kept = np.flatnonzero(areas >= KEEP_SHARE * areas.max()) + 1
    out = np.isin(labels, kept)
    return fill_holes(out, max_share=0.02), len(kept)


def fill_holes(mask: np.ndarray, max_share: float) -> np.ndarray:
    """Fill enclosed background regions smaller than max_share of the mask's area."""
    inverse = (~mask).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inverse, connectivity=4)
    h, w = mask.shape
    out = mask.copy()
    limit = max_share * mask.sum()
    for i in range(1, count):
        x, y, bw, bh, area = stats[i]
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        if not touches and area <= limit:
            out[labels == i] = True
    return out


def _unsure(mask: np.ndarray, background: Background) -> bool:
    """Whether the simple mask deserves GrabCut: textured background, product on the border, or implausible size."""
    if min(mask.shape) < 64:
        return False
    return background.textured or not 0.01 <= mask.mean() <= 0.8


def grabcut(rgb: np.ndarray, distance: np.ndarray, threshold: float, mask: np.ndarray) -> np.ndarray:
    """GrabCut seeded by the colour-distance mask, on a copy at most GRABCUT_SIDE pixels on its longer side."""
    h, w = mask.shape
    scale = min(1.0, GRABCUT_SIDE / max(h, w))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    dist = cv2.resize(distance, size, interpolation=cv2.INTER_AREA)
    core = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    seeds = np.where(dist > threshold, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    seeds[cv2.erode(core, np.ones((5, 5), np.uint8)) > 0] = cv2.GC_FGD
    border = border_mask(seeds.shape, 0.02)
    seeds[border & (dist <= threshold)] = cv2.GC_BGD
    if not (seeds == cv2.GC_PR_FGD).any() and not (seeds == cv2.GC_FGD).any():
        return np.zeros_like(mask)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.setRNGSeed(0)  # GrabCut starts its colour models from random draws: the same photo, the same mask
        cv2.grabCut(small, seeds, None, bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # GrabCut refuses seeds without both classes: keep the simple mask
        return mask
    fg = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.uint8)
    return cv2.resize(fg, (w, h), interpolation=cv2.INTER_NEAREST) > 0
