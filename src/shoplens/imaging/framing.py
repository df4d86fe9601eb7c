"""What shops draw around a product photo: flat bars that pad it to a shape (letterboxing), a banner with their
name or a price along a side, a thin frame line; a collage of several photos tiled into one (`tiles`); and the photo
itself set inside another picture, as a card or polaroid on a page (`inner_photo`).

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
# A photo inside a picture: the innermost rectangle whose four sides are straight lines, each stepping more than
# TILE_STEP grey levels along a run of at least PANEL_RUN of the picture's side (breaks of up to PANEL_GAP pixels
# bridged: JPEG, a shadow's soft corner), the sides meeting within PANEL_TOLERANCE of the picture's side, covering
# at least PANEL_AREA of it. More lines than PANEL_LINES either way: planks, stripes or a page of panels.
PANEL_RUN = 0.25
PANEL_GAP = 2
PANEL_TOLERANCE = 0.03
PANEL_AREA = 0.1
PANEL_SIDE = 0.2  # ... and each side at least this share of the picture's
PANEL_LINES = 24


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


def inner_photo(rgb: np.ndarray) -> tuple[slice, slice] | None:
    """(rows, columns) of a photo set inside the picture (a card or polaroid on a page, a photo pasted on a
    backdrop): the innermost rectangle drawn by straight edges on all four sides, or None (also when rectangles
    lie side by side: tiles or panels).

    A product's outline rarely runs straight for a quarter of the picture on four sides that meet as a rectangle;
    read_photo still checks that what it finds inside is one product on a plain backdrop.
    """
    h, w = rgb.shape[:2]
    if max(h, w) < BAR_MIN_SIDE:
        return None
    y = luma(rgb)
    across = _straight_lines(np.abs(np.diff(y, axis=0)) > TILE_STEP, round(PANEL_RUN * w))
    down = _straight_lines((np.abs(np.diff(y, axis=1)) > TILE_STEP).T, round(PANEL_RUN * h))
    if not (2 <= len(across) <= PANEL_LINES and 2 <= len(down) <= PANEL_LINES):
        return None
    near_x, near_y = PANEL_TOLERANCE * w + 2, PANEL_TOLERANCE * h + 2
    found: list[tuple[int, tuple[int, int, int, int]]] = []
    for i, (top, start, end) in enumerate(across):
        for bottom, start2, end2 in across[i + 1 :]:
            if bottom - top < PANEL_SIDE * h or abs(start - start2) > near_x or abs(end - end2) > near_x:
                continue
            if (end + end2 - start - start2) / 2 < PANEL_SIDE * w:
                continue

            def sides(x: float, top: int = top, bottom: int = bottom) -> list[int]:
                return [
                    c
                    for c, a, b in down
                    if abs(c - x) <= near_x and abs(a - top) <= near_y and abs(b - bottom) <= near_y
                ]

            lefts, rights = sides((start + start2) / 2), sides((end + end2) / 2)
            if not lefts or not rights:
                continue
            box = (
                top + 1,
                bottom + 1,
                min(lefts) + 1,
                max(rights) + 1,
            )  # a line lies between two rows (columns)
            area = (box[1] - box[0]) * (box[3] - box[2])
            if area >= PANEL_AREA * h * w:
                found.append((area, box))
    if not found:
        return None
    top, bottom, left, right = min(found)[1]
    # rectangles side by side, none inside another: tiles or a page of panels, not one photo on a page
    if any(b[0] >= bottom or b[1] <= top or b[2] >= right or b[3] <= left for _, b in found):
        return None
    return slice(top + BAR_MARGIN, bottom - BAR_MARGIN), slice(left + BAR_MARGIN, right - BAR_MARGIN)


def _straight_lines(steps: np.ndarray, length: int) -> list[tuple[int, int, int]]:
    """(row, start, end) of each row's longest run of steps when at least `length` long, a line blurred over
    neighbouring rows counted once (its middle row)."""
    runs = []
    length = max(length, 2)  # a sliver of a picture: a quarter of its side is no line
    for row in np.flatnonzero(steps.sum(axis=1) >= length):
        at = np.flatnonzero(steps[row])
        breaks = np.flatnonzero(np.diff(at) > PANEL_GAP + 1)
        starts, ends = np.r_[at[0], at[breaks + 1]], np.r_[at[breaks], at[-1]] + 1
        k = int(np.argmax(ends - starts))
        if ends[k] - starts[k] >= length:
            runs.append((int(row), int(starts[k]), int(ends[k])))
    lines: list[list[tuple[int, int, int]]] = []
    for run in runs:
        last = lines[-1][-1] if lines else None
        if last and run[0] - last[0] <= 2 and abs(run[1] - last[1]) <= 3 and abs(run[2] - last[2]) <= 3:
            lines[-1].append(run)
        else:
            lines.append([run])
    return [
        (group[len(group) // 2][0], min(r[1] for r in group), max(r[2] for r in group)) for group in lines
    ]
