"""What shops draw around a product photo: flat bars that pad it to a shape (letterboxing), a banner with their
name or a price along a side, a thin frame line; and a collage of several photos tiled into one (`tiles`).

Each is found on the working copy (see shoplens.imaging.photo) and returns the rows and columns of the photo
inside or beside it, which is then read as if it were the whole photo.
"""

from __future__ import annotations

import numpy as np

from shoplens.imaging.background import luma

# Letterboxing: bars of one flat colour that shops and platforms add on opposite sides to make a photo square.
BAR_TOLERANCE = 6  # grey levels a bar's pixels may stray from its colour (JPEG, resampling)
BAR_STEP = 3  # grey levels the photo inside a bar must step away from its colour by (more than) ...
BAR_EDGE_SHARE = 0.8  # ... along at least this share of its inner edge (a straight cut, not a product's top)
BAR_MIN = 2  # a bar is at least this many working-copy pixels deep
BAR_MARGIN = 2  # rows or columns cut beyond a bar's last one: its blend with the photo on resampling
BAR_MIN_SIDE = 48  # smaller working copies (thumbnails, Fashion-MNIST itself) are never searched for bars
# A banner: a strip of one colour along one side, carrying the shop's name or a price, added on top of the photo.
BANNER_TOLERANCE = 16  # grey levels (any channel) its pixels may stray from its colour (JPEG, text rims)
BANNER_SHARE = 0.6  # of its pixels, on average over its rows, in its colour (the rest: its text)
BANNER_ROW = 0.2  # ... and of every row: a row with less is past its inner edge
BANNER_CLEAR = 0.9  # ... and of its rows along that edge (no text there, nor a product standing on a floor)
BANNER_STEP = 2 * BANNER_TOLERANCE  # the photo beside it departs from its colour by more than this ...
BANNER_DEPTH = (0.04, 0.3)  # its depth as a share of the photo's side
# A drawn frame: on each side a line at most FRAME_WIDTH pixels thick, within FRAME_DEPTH of the side from the
# edge, stepping FRAME_STEP luma off the backdrop on both its sides (which agree within half of that) along
# FRAME_SHARE of its length.
FRAME_WIDTH = 4
FRAME_DEPTH = 0.12
FRAME_STEP = 12.0
FRAME_SHARE = 0.8
FRAME_MARGIN = 1  # rows or columns cut beyond a frame line: its blend with the backdrop on resampling
# A collage: equal tiles in one of these (rows, columns), split by straight lines across the whole picture (a
# gutter's two sides, or the seam where two tiles' backdrops meet), each within TILE_SEARCH of the picture's side
# from where equal tiles would meet; a line steps more than TILE_STEP grey levels along TILE_SHARE of its length.
TILE_LAYOUTS = ((2, 2), (1, 3), (1, 4), (3, 1))
TILE_SEARCH = 0.04
TILE_STEP = 5.0
TILE_SHARE = 0.9
TILE_ASPECT = (0.5, 2.0)  # a tile is no more than twice as long as it is wide


def letterbox(rgb: np.ndarray) -> tuple[slice, slice] | None:
    """(rows, columns) of the photo inside flat bars added on opposite sides, or None when there are none.

    A pair counts when both bars are one colour (within BAR_TOLERANCE), the same colour, at least BAR_MIN deep,
    and each ends in a straight step of at least BAR_STEP along BAR_EDGE_SHARE of its inner edge (between
    the bars of that colour across it, when the photo is framed on all sides): a product lying on a plain
    background rarely cuts its background off along a whole side, and read_photo checks what it finds inside.
    """
    h, w = rgb.shape[:2]
    if max(h, w) < BAR_MIN_SIDE:
        return None
    sides = [rgb, rgb[::-1], rgb.transpose(1, 0, 2), rgb.transpose(1, 0, 2)[::-1]]  # top, bottom, left, right
    flats = [_flat_rows(side) for side in sides]
    found = []
    for i, (depth, colour) in enumerate(flats):
        across = [flats[j] for j in ((2, 3) if i < 2 else (0, 1))]  # bars of the same colour along the edge
        start, stop = (
            d if d >= BAR_MIN and np.abs(c - colour).max() <= BAR_TOLERANCE else 0 for d, c in across
        )
        found.append(depth >= BAR_MIN and _steps(sides[i], depth, colour, start, stop))
    rows, cols = slice(0, h), slice(0, w)
    for near, far, length, axis in ((0, 1, h, 0), (2, 3, w, 1)):
        if not (found[near] and found[far]) or np.abs(flats[near][1] - flats[far][1]).max() > BAR_TOLERANCE:
            continue
        inner = slice(flats[near][0] + BAR_MARGIN, length - flats[far][0] - BAR_MARGIN)
        if inner.stop - inner.start < max(BAR_MIN_SIDE // 4, length // 5):
            continue
        rows, cols = (inner, cols) if axis == 0 else (rows, inner)
    return None if (rows, cols) == (slice(0, h), slice(0, w)) else (rows, cols)


def banners(rgb: np.ndarray) -> tuple[slice, slice] | None:
    """(rows, columns) of the photo beside strips of one colour along one or more of its sides, or None.

    A strip counts when BANNER_SHARE of it is its colour (text may cover the rest) and BANNER_CLEAR of its rows
    along its inner edge (a floor the product stands on holds the product there), it is BANNER_DEPTH deep, and
    the photo beside it departs from that colour by BANNER_STEP along BAR_EDGE_SHARE of its inner edge (a
    backdrop that ends where the product begins does not, along the product); read_photo checks what it finds
    beside it, as for letterboxes.
    """
    h, w = rgb.shape[:2]
    if max(h, w) < BAR_MIN_SIDE:
        return None
    sides = [rgb, rgb[::-1], rgb.transpose(1, 0, 2), rgb.transpose(1, 0, 2)[::-1]]  # top, bottom, left, right
    cuts = [0, 0, 0, 0]
    for i, side in enumerate(sides):
        n = len(side)
        most = int(BANNER_DEPTH[1] * n)
        colour = np.median(side[0], axis=0).astype(np.int16)
        off = np.abs(side[: most + 3].astype(np.int16) - colour).max(axis=2)  # (rows, width)
        share = (off <= BANNER_TOLERANCE).mean(axis=1)
        depth = int(np.argmax(share < BANNER_ROW)) if (share < BANNER_ROW).any() else len(share)
        if not max(BAR_MIN, BANNER_DEPTH[0] * n) <= depth <= most or share[:depth].mean() < BANNER_SHARE:
            continue
        if share[max(depth - 3, 0) : depth - 1].min() < BANNER_CLEAR:  # the last row before the step: a blend
            continue
        beside = off[min(depth + 1, len(off) - 1)]  # past a row blended with the strip
        if (beside > BANNER_STEP).mean() >= BAR_EDGE_SHARE:
            cuts[i] = depth + BAR_MARGIN
    if not any(cuts):
        return None
    top, bottom, left, right = cuts
    return slice(top, h - bottom), slice(left, w - right)


def _flat_rows(view: np.ndarray) -> tuple[int, np.ndarray]:
    """(how many of the first rows of an (H, W, 3) image are one flat colour, up to half of them; that colour)."""
    colour = np.median(view[0], axis=0).astype(np.int16)
    half = len(view) // 2
    for start in range(0, half, 8):  # eight rows at a time: most photos stop being flat early
        block = view[start : min(start + 8, half)].astype(np.int16)
        flat = (np.abs(block - colour).max(axis=2) <= BAR_TOLERANCE).mean(axis=1) >= 0.95  # 95 % of a row
        if not flat.all():
            return start + int(np.argmin(flat)), colour
    return half, colour


def _steps(view: np.ndarray, depth: int, colour: np.ndarray, start: int, stop: int) -> bool:
    """Whether the photo steps away from a bar `depth` rows deep along its edge, between start and stop."""
    if depth + 1 >= len(view) // 2:
        return False
    row = view[depth + 1, start : view.shape[1] - stop].astype(np.int16)  # past a row blended with the bar
    return bool(row.size) and float((np.abs(row - colour).max(axis=1) > BAR_STEP).mean()) >= BAR_EDGE_SHARE


def drawn_frame(rgb: np.ndarray) -> tuple[slice, slice] | None:
    """(rows, columns) inside a thin line drawn around the photo on all four sides, or None when there is none.

    Marketplaces and shops frame photos with a line a little inside the edge; its own edges would pass for the
    product's (or spoil the background's fit along the border) and stretch the product's box to the whole frame.
    """
    h, w = rgb.shape[:2]
    if max(h, w) < BAR_MIN_SIDE:
        return None
    y = luma(rgb)
    depths = [_line_depth(side) for side in (y, y[::-1], y.T, y.T[::-1])]  # top, bottom, left, right
    if any(d is None for d in depths):
        return None
    top, bottom, left, right = (int(d) for d in depths)
    if h - top - bottom < BAR_MIN_SIDE // 2 or w - left - right < BAR_MIN_SIDE // 2:
        return None
    return slice(top, h - bottom), slice(left, w - right)


def _line_depth(view: np.ndarray) -> int | None:
    """Rows from the top edge of a luma view to just past the one drawn line along it, or None.

    None as well when more than one line is found: a check or stripe pattern on the backdrop, not a frame.
    """
    n, length = view.shape
    middle = view[:, length // 10 : length - length // 10]  # a product may reach into the corners
    found: list[tuple[int, int]] = []  # (start, depth past the line)
    for start, depth in zip(*_lines(middle, max(3, round(FRAME_DEPTH * n))), strict=True):
        if depth and not (found and start <= found[-1][1]):  # a new line, not the same one again
            found.append((int(start), int(depth)))
    return found[0][1] if len(found) == 1 else None


def _lines(middle: np.ndarray, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts 2..stop-1, rows to just past a line starting at each of them, 0 where none starts there).

    A line is 1 to FRAME_WIDTH rows thick, steps FRAME_STEP off the rows on both its sides along FRAME_SHARE of
    its length, the same way, and both sides' medians agree within half of that; the thinnest line counts.
    Every start is checked at once, one width after the other.
    """
    half = len(middle) // 2
    starts = np.arange(2, stop)
    depth = np.zeros(len(starts), np.int64)
    outside = middle[starts - 2]
    total = np.zeros_like(outside)
    open_ = np.ones(len(starts), bool)  # starts whose line is not found yet, nor ruled out
    for width in range(1, FRAME_WIDTH + 1):
        open_ &= starts + width + 1 < half  # the row inside must lie in the near half
        total += middle[np.minimum(starts + width - 1, len(middle) - 1)]
        if not open_.any():
            break
        line = np.true_divide(total, np.intp(width), casting="unsafe")  # as ndarray.mean over the rows
        inside = middle[np.minimum(starts + width + 1, len(middle) - 1)]
        to_out, to_in = line - outside, line - inside
        stepped = (np.sign(to_out) == np.sign(to_in)) & (np.minimum(abs(to_out), abs(to_in)) > FRAME_STEP)
        for k in np.flatnonzero(open_ & (stepped.mean(axis=1) >= FRAME_SHARE)):
            if abs(float(np.median(outside[k])) - float(np.median(inside[k]))) < FRAME_STEP / 2:
                depth[k], open_[k] = starts[k] + width + FRAME_MARGIN, False
    return starts, depth


def tiles(rgb: np.ndarray) -> list[tuple[slice, slice]]:
    """(rows, columns) of each photo in a collage of equal tiles split by straight lines, or [] when there is none.

    Shops tile a product's colour variants or views into one picture. Each line between tiles must run across the
    whole picture near where equal tiles would meet (TILE_SEARCH), as no product's outline does; tiles of a
    plausible shape (TILE_ASPECT) only. Tiles are cut short of a gutter's lines by BAR_MARGIN.
    """
    h, w = rgb.shape[:2]
    if max(h, w) < BAR_MIN_SIDE:
        return []
    y = luma(rgb)
    for rows, cols in TILE_LAYOUTS:
        if not TILE_ASPECT[0] <= (w / cols) / (h / rows) <= TILE_ASPECT[1]:
            continue
        across, down = _splits(y, cols), _splits(y.T, rows)  # column bounds, row bounds
        if across is None or down is None:
            continue
        return [(r, c) for r in down for c in across]
    return []


def _splits(y: np.ndarray, parts: int) -> list[slice] | None:
    """The stretches of `parts` equal columns of a luma image split by full-height lines, or None."""
    w = y.shape[1]
    if parts == 1:
        return [slice(0, w)]
    steps = np.abs(np.diff(y, axis=1)) > TILE_STEP  # (h, w - 1): between column x and x + 1
    strong = steps.mean(axis=0) >= TILE_SHARE
    reach = max(2, round(TILE_SEARCH * w))
    bounds = [0]
    for i in range(1, parts):
        centre = round(i * w / parts)
        found = np.flatnonzero(strong[max(0, centre - reach) : min(w - 1, centre + reach)]) + max(
            0, centre - reach
        )
        if not len(found):
            return None
        bounds += [int(found.min()) + 1 - BAR_MARGIN, int(found.max()) + 1 + BAR_MARGIN]
    bounds.append(w)
    spans = [slice(bounds[k], bounds[k + 1]) for k in range(0, len(bounds), 2)]
    return spans if all(s.stop - s.start >= BAR_MIN_SIDE // 4 for s in spans) else None
