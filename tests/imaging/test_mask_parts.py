"""The rules that drop parts of a product mask: overlays along the photo's edges, drawn lines."""

from __future__ import annotations

import numpy as np

from shoplens.imaging.mask_parts import drop_overlays, drop_thin_border_parts


def test_only_small_parts_clear_of_the_product_in_a_corner_are_overlays() -> None:
    mask = np.zeros((100, 100), bool)
    mask[30:90, 35:75] = True  # the product
    mask[3:13, 3:13] = True  # a badge in the top-left corner
    kept, parts = drop_overlays(mask)
    assert parts == 1 and not kept[:20, :20].any() and kept[30:90, 35:75].all()
    wide = np.zeros((100, 100), bool)
    wide[5:60, 0:60] = True
    wide[50:98, 40:100] = True
    wide[88:98, 2:12] = True  # in a corner, but inside the box of the rest: a sandal's strap
    assert drop_overlays(wide)[1] == 2
    yy, xx = np.mgrid[0:100, 0:100]
    pair = ((yy - 50) / 10) ** 2 + ((xx - 50) / 10) ** 2 <= 1
    pair |= ((yy - 89) / 9) ** 2 + ((xx - 89) / 9) ** 2 <= 1  # as large as the other part: a second shoe
    assert drop_overlays(pair)[1] == 2
    plate = ((yy - 50) / 10) ** 2 + ((xx - 50) / 10) ** 2 <= 1
    plate[82:98, 82:98] = True  # almost as large, but a plate filling its box: a logo or a price tag
    kept, parts = drop_overlays(plate)
    assert parts == 1 and not kept[80:, 80:].any()


def test_a_wide_plate_may_cover_a_tenth_of_the_photo_but_other_parts_only_a_twentieth() -> None:
    mask = np.zeros((100, 100), bool)
    mask[35:95, 50:95] = True  # the product
    mask[3:18, 3:53] = True  # a shop's name on a plate across the top-left corner: 7.5 % of the photo
    kept, parts = drop_overlays(mask)
    assert parts == 1 and not kept[:20].any() and kept[35:95, 50:95].all()
    ragged = mask.copy()
    ragged[3:18:2, 3:53:4] = False  # as large, but not a plate (it fills 86 % of its box): kept
    assert drop_overlays(ragged)[1] == 2


def test_an_overlay_along_any_edge_is_dropped_but_never_the_largest_part() -> None:
    mask = np.zeros((100, 100), bool)
    mask[10:25, 40:70] = True  # a small product high up in the frame
    mask[90:96, 35:40], mask[90:96, 45:50], mask[90:96, 55:60] = True, True, True  # a watermark's letters
    kept, parts = drop_overlays(mask)  # the letters lie along the bottom edge, in no corner
    assert parts == 1 and kept[10:25, 40:70].all() and not kept[85:].any()
    alone = np.zeros((100, 100), bool)
    alone[5:20, 5:30] = True  # the product itself, small and in a corner
    alone[90:95, 80:84] = True
    assert drop_overlays(alone)[0][5:20, 5:30].all()


def test_a_drawn_line_across_the_photo_is_no_product() -> None:
    mask = np.zeros((200, 200), bool)
    mask[40:150, 60:140] = True  # the product
    mask[170:172, 20:180] = True  # a rule under it, clear of the edges (a frame's side, a caption's line)
    kept, parts = drop_thin_border_parts(mask, 2)
    assert parts == 1 and not kept[165:].any() and kept[40:150, 60:140].all()
