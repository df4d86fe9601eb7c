"""The background of a product photo: a smooth surface fitted to its CIELAB colours, from the border or from within.

The border is assumed to be background. A smooth surface (quadratic in x and y, robust to a product that
touches the border) fitted to its colours models uniform and gradient backgrounds alike, and the border's own
deviation from it (its spread) says how noisy or textured the background is. On a gradient (the border's
surface spans more than GRADIENT_RANGE) the background can be fitted again as a cubic surface on every pixel
away from a product mask: a spotlight's peak inside the frame, which the border alone cannot show. A busy
texture (blotches of several colours) has no smooth surface; there the border's palette, a few k-means colours,
stands for the background, and a pixel's distance is to the nearest of them. A texture of fine lines or grains
(bricks and their mortar, gravel, grass) can leave most of the border on the surface and so a small spread: the
border is busy when what the surface misses lies in many separate runs along every side, as no product does.

Where a wall meets the floor (or a table's edge runs behind the product) the background steps in brightness along
a line across the frame. When both side edges show such a step at about the same height, and the colour below it
is the bottom edge's, the surface gets a step term along the line through the two: the floor is background too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from shoplens.imaging.order_stats import median, percentile

BORDER_SHARE = 0.04  # width of the border strip, as a share of the shorter side
TEXTURED_SPREAD = 5.0  # above this the background counts as textured: distances are taken on a smoothed image
GRADIENT_RANGE = 15.0  # ΔE across the border-fitted surface above which the background counts as a gradient
INTERIOR_DEGREE = 3  # ... and is fitted again, as a cubic surface, on the pixels away from the product
_MAX_INTERIOR_SAMPLES = 4000
_ROBUST_ROUNDS = 3
_MAX_BORDER_SAMPLES = 1200  # border pixels used for the fit (every k-th)
_SEED_DISTANCE = 12.0  # ΔE from a corner's colour within which border pixels seed the fit
_CLOSE_FIT = 3.0  # ΔE within which a plain backdrop's fit explains its border exactly
PALETTE_COLOURS = 8  # k-means colours that summarise a textured border
_MAX_PALETTE_SAMPLES = 4000
PALETTE_SIDES = 3  # sides of the border a palette colour must be seen along to count as background ...
PALETTE_SIDE_SHARE = 0.05  # ... in at least this share of that side's pixels, within PALETTE_REACH ΔE of it
PALETTE_REACH = 10.0  # (k-means cuts a wood's or a cloud's continuous shades into several colours)
# A border is busy (textured) when along each of its four sides at least BUSY_SHARE of the pixels, in at least
# BUSY_RUNS separate runs, stand off the surface by more than the product's bar: a product crossing a side
# makes one run or two there.
BUSY_RUNS = 3
BUSY_SHARE = 0.03
# A seam (wall meets floor): a step of SEAM_STEP to SEAM_MAX ΔE on both side edges, below SEAM_FROM of the height,
# SEAM_SHARE of it within SEAM_RAMP rows (a gradient rises over many), the two at most SEAM_TILT of the width
# apart in height, no other step along the side more than SEAM_SHARE as high (planks and stripes step often), and
# the side below it within SEAM_MATCH ΔE of the bottom edge's colour, which is one colour along the whole edge
# (90 % of it within SEAM_MATCH): a product filling the bottom edge to edge is no floor.
SEAM_STEP = 4.0
SEAM_MAX = 35.0
SEAM_FROM = 0.2
SEAM_SHARE = 0.6
SEAM_RAMP = 2
SEAM_TILT = 0.07
SEAM_MATCH = 8.0


@dataclass(frozen=True)
class Background:
    """A background model: its CIELAB colour and luma at every pixel, and how well the border fits it."""

    lab: np.ndarray  # (H, W, 3) float32
    luma: np.ndarray  # (H, W) float32, 0..255
    spread: float  # ΔE of the border around the model (90th percentile of the inliers)
    inliers: float  # share of border pixels the model explains
    textured: bool
    seam: tuple[float, float] | None = None  # first row below a wall/floor seam at the left and right edges

    @property
    def level(self) -> float:
        """Median background luma, 0..255."""
        return float(median(self.luma))


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (L 0..100, a and b about -128..127) of an (H, W, 3) uint8 sRGB image, float32."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2Lab).astype(np.float32)
    return lab * np.float32([100 / 255, 1, 1]) - np.float32([0, 128, 128])  # OpenCV's 8-bit encoding undone


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma 0..255 of an (H, W, 3) uint8 sRGB image, as Pillow's convert("L") computes it."""
    return rgb.astype(np.float32) @ np.float32([0.299, 0.587, 0.114])


def border_mask(shape: tuple[int, int], share: float = BORDER_SHARE) -> np.ndarray:
    """(H, W) bool: the strip along the edges, at least one pixel wide."""
    h, w = shape
    width = max(1, round(share * min(h, w)))
    border = np.zeros(shape, bool)
    border[:width], border[-width:], border[:, :width], border[:, -width:] = True, True, True, True
    return border


def busy_border(lab: np.ndarray, background: Background, bar: float) -> bool:
    """Whether what the fitted surface misses along the border lies in many separate runs on every side.

    bar is the ΔE a pixel must stand off to be product. Along each side, a place counts as missed when most of
    the border strip's depth there is: a line running along the side (a brick course's joint) is not a run.
    """
    h, w = lab.shape[:2]
    if min(h, w) < 48:
        return False
    width = max(1, round(BORDER_SHARE * min(h, w)))
    off = np.linalg.norm(lab - background.lab, axis=-1) > bar
    sides = (off[:width].mean(0), off[-width:].mean(0), off[:, :width].mean(1), off[:, -width:].mean(1))
    for depth in sides:
        missed = depth > 0.5
        runs = int(missed[0]) + int((missed[1:] & ~missed[:-1]).sum())
        if runs < BUSY_RUNS or missed.mean() < BUSY_SHARE:
            return False
    return True


def palette_distance(lab: np.ndarray) -> tuple[np.ndarray, float]:
    """ΔE from every pixel to the nearest background colour of the border's palette, and the border's 90th pct of it.

    Only colours found along at least PALETTE_SIDES of the four sides, or along two opposite ones (a plank, a
    stripe), count as background: a product that touches the border shows its colours on one side, or on two
    that meet at a corner, and stays product.
    """
    h, w = lab.shape[:2]
    ys, xs = np.nonzero(border_mask((h, w)))
    step = max(1, len(ys) // _MAX_PALETTE_SAMPLES)
    ys, xs = ys[::step], xs[::step]
    samples = lab[ys, xs].astype(np.float32)
    count = min(PALETTE_COLOURS, len(samples))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)  # k-means++ draws its first centres: the same photo, the same palette
    _, member, centres = cv2.kmeans(samples, count, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    width = max(1, round(BORDER_SHARE * min(h, w)))
    sides = [ys < width, ys >= h - width, xs < width, xs >= w - width]  # top, bottom, left, right
    near = np.linalg.norm(samples[None] - centres[:, None], axis=-1) < PALETTE_REACH  # (colours, samples)
    shown = np.stack([near[:, side].mean(axis=1) > PALETTE_SIDE_SHARE for side in sides], axis=1)
    across = (shown[:, 0] & shown[:, 1]) | (shown[:, 2] & shown[:, 3])  # a plank or a stripe runs across
    background = (shown.sum(axis=1) >= PALETTE_SIDES) | across
    kept = np.flatnonzero(background) if background.any() else [int(np.bincount(member.ravel()).argmax())]
    distance = np.full((h, w), np.inf, np.float32)
    for k in kept:
        np.minimum(distance, np.linalg.norm(lab - centres[k], axis=-1), out=distance)
    on_border = np.isin(member.ravel(), kept)
    return distance, float(percentile(distance[ys[on_border], xs[on_border]], 90))


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


def fit_background(
    lab: np.ndarray, luma_img: np.ndarray, border: np.ndarray | None = None, seams: bool = True
) -> Background:
    """Fit a smooth background (colour and luma) to the border, ignoring border pixels that are product.

    A wall/floor seam is looked for only with `seams` and the plain border strip (see find_seam).
    """
    shape = lab.shape[:2]
    seam = find_seam(lab) if seams and border is None else None  # a seam runs across the plain border strip
    border = border_mask(shape) if border is None else border
    ys, xs = np.nonzero(border)
    step = max(1, len(ys) // _MAX_BORDER_SAMPLES)
    ys, xs = ys[::step], xs[::step]
    values = np.concatenate([lab[ys, xs], luma_img[ys, xs, None]], axis=1)
    degree = 2 if min(shape) >= 48 else 1  # a quadratic surface needs a border wide enough to pin it down
    design = _with_seam(_design(ys, xs, shape, degree), ys, xs, shape, seam)
    # Start from the whole border and from each corner's colour; refine the fit that explains most of it. On a
    # plain backdrop the corners pick the same pixels: each distinct start is fitted once (first one kept).
    seeds = [np.ones(len(ys), bool), *_corner_seeds(values, ys, xs, shape)]
    distinct: dict[bytes, np.ndarray] = {}
    for seed in seeds:
        distinct.setdefault(seed.tobytes(), seed)
    starts = [_robust_fit(design, values, start, rounds=1) for start in distinct.values()]
    exact = max(starts, key=lambda fit: int((fit[1] <= _CLOSE_FIT).sum()))
    if (exact[1] <= _CLOSE_FIT).mean() >= 0.5:  # a plain backdrop that most of the border shows exactly
        keep = exact[2]
    else:  # noise or texture: the fit that explains most of the border roughly
        _, _, keep = max(starts, key=lambda fit: int((fit[1] <= _SEED_DISTANCE).sum()))
    coef, residual, keep = _robust_fit(design, values, keep, rounds=_ROBUST_ROUNDS)
    spread = float(percentile(residual[keep], 90))
    return _from_surface(coef, shape, spread, float(keep.mean()), spread > TEXTURED_SPREAD, seam)


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
    design = _with_seam(_design(ys, xs, shape, INTERIOR_DEGREE), ys, xs, shape, border_fit.seam)
    coef = np.linalg.lstsq(design, values, rcond=None)[0].astype(np.float32)
    return _from_surface(coef, shape, border_fit.spread, border_fit.inliers, False, border_fit.seam)


def is_gradient(background: Background) -> bool:
    """Whether the fitted background's colour changes across the frame by more than GRADIENT_RANGE ΔE."""
    h, w = background.lab.shape[:2]
    rows, cols = np.r_[0:h:4, h - 1], np.r_[0:w:4, w - 1]  # a smooth surface: every 4th pixel and the last
    lab = background.lab[np.ix_(rows, cols)].reshape(-1, 3)  # ... show its range
    return float(np.linalg.norm(lab.max(axis=0) - lab.min(axis=0))) > GRADIENT_RANGE


def _from_surface(
    coef: np.ndarray,
    shape: tuple[int, int],
    spread: float,
    inliers: float,
    textured: bool,
    seam: tuple[float, float] | None = None,
) -> Background:
    """The background a fitted surface (CIELAB and luma coefficients, the seam's step last) draws over the frame."""
    if seam is None:
        surface = _surface(coef, shape)
    else:
        surface = _surface(coef[:-1], shape) + below_seam(shape, seam)[..., None] * coef[-1]
    return Background(
        lab=surface[..., :3].astype(np.float32),
        luma=np.clip(surface[..., 3], 0, 255).astype(np.float32),
        spread=spread,
        inliers=inliers,
        textured=textured,
        seam=seam,
    )


def find_seam(lab: np.ndarray) -> tuple[float, float] | None:
    """(first row below it at the left edge, at the right edge) of a wall/floor seam across the frame, or None."""
    h, w = lab.shape[:2]
    if min(h, w) < 48:
        return None
    width = max(1, round(BORDER_SHARE * min(h, w)))
    window = max(2, round(0.03 * h))
    edge = lab[-width:].reshape(-1, 3)
    bottom = np.median(edge, axis=0)
    if percentile(np.linalg.norm(edge - bottom, axis=1), 90) > SEAM_MATCH:
        return None
    found = []
    for strip in (lab[:, :width], lab[:, -width:]):
        rows = np.median(strip, axis=1)  # (h, 3): each row's colour along this edge
        total = np.concatenate([np.zeros((1, 3), np.float32), np.cumsum(rows, axis=0)])
        r = np.arange(max(window, round(SEAM_FROM * h)), h - window)  # a step between rows r - 1 and r
        if not len(r):
            return None
        above = (total[r] - total[r - window]) / window
        below = (total[r + window] - total[r]) / window
        jump = np.linalg.norm(below - above, axis=1)
        i = int(np.argmax(jump))
        row = int(r[i])
        elsewhere = np.abs(r - row) > 2 * window
        if elsewhere.any() and jump[elsewhere].max() > SEAM_SHARE * jump[i]:  # planks, stripes: no one seam
            return None
        near = np.linalg.norm(rows[row : row + SEAM_RAMP].mean(0) - rows[row - SEAM_RAMP : row].mean(0))
        if not SEAM_STEP <= jump[i] <= SEAM_MAX or near < SEAM_SHARE * jump[i]:
            return None
        # What lies below the step is the floor that the bottom edge shows.
        if np.linalg.norm(below[i] - bottom) > SEAM_MATCH:
            return None
        found.append((row, float(below[i][0] - above[i][0])))
    (left, step_left), (right, step_right) = found
    if step_left * step_right <= 0 or abs(left - right) > SEAM_TILT * w:
        return None
    return float(left), float(right)


def below_seam(shape: tuple[int, int], seam: tuple[float, float]) -> np.ndarray:
    """(H, W) float32: 1 below the seam's line (through its left and right rows), 0 above."""
    h, w = shape
    left, right = seam
    line = left - 0.5 + (right - left) * np.arange(w, dtype=np.float32) / max(w - 1, 1)
    return (np.arange(h, dtype=np.float32)[:, None] > line[None, :]).astype(np.float32)


def _with_seam(
    design: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    shape: tuple[int, int],
    seam: tuple[float, float] | None,
) -> np.ndarray:
    """The surface design with the seam's step as its last column (unchanged without a seam)."""
    if seam is None:
        return design
    return np.column_stack([design, below_seam(shape, seam)[ys, xs]])


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
        keep = residual <= max(2.5 * float(median(residual[keep])), 3.0)
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
