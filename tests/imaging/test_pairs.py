"""Shoes shown as a pair are read as one shoe, a collage by one tile; bags, single shoes, garments as wide or as
symmetric and a striped garment's bands are not cut."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from shoplens.imaging.pairs import collage_tile, half_of_a_mirrored_pair, one_of_a_pair
from shoplens.imaging.photo import read_photo
from tests.imaging.drawn import iou, jpeg, photo, shirt_mask, shoe_mask, trousers_mask


@pytest.mark.parametrize("arrangement", ["side_by_side", "one_above_the_other"])
def test_a_pair_of_shoes_is_read_as_one_shoe(arrangement: str) -> None:
    h, w = 300, 400
    one = shoe_mask(h, w, 40, 120, 140)
    other = (
        shoe_mask(h, w, 210, 125, 140, mirrored=True)
        if arrangement == "side_by_side"
        else shoe_mask(h, w, 60, 210, 140)
    )
    single = read_photo(jpeg(photo(np.full((h, w, 3), 245, np.uint8), one, (30, 90, 40))))
    pair = read_photo(jpeg(photo(np.full((h, w, 3), 245, np.uint8), one | other, (30, 90, 40))))
    assert pair.cues["components"] == 1  # the second shoe is no longer part of the product
    either = min(
        np.abs(pair.array.astype(int) - x.astype(int)).mean() for x in (single.array, single.array[..., ::-1])
    )
    assert either < 3  # the one shoe, or the other (its mirror image)


def test_only_two_alike_parts_apart_are_a_pair() -> None:
    pair = np.zeros((100, 100), bool)
    pair[40:60, 10:45], pair[42:60, 55:88] = True, True  # alike, side by side
    kept, parts = one_of_a_pair(pair)
    assert parts == 1 and kept[50, 20] and not kept[50, 70]
    unlike = np.zeros((100, 100), bool)
    unlike[20:90, 10:60], unlike[40:60, 70:85] = True, True  # a bag and its detached strap
    assert one_of_a_pair(unlike)[1] == 2
    staggered = np.zeros((100, 100), bool)
    staggered[10:40, 10:40], staggered[60:90, 60:90] = (
        True,
        True,
    )  # apart along both axes: no row or column shared
    assert one_of_a_pair(staggered)[1] == 2


def _outline(
    points: list[list[float]], left: int, top: int, size: tuple[float, float], mirrored: bool
) -> np.ndarray:
    """A filled outline of unit-box points scaled to size (width, height) at (left, top) in a 300×400 frame."""
    pts = np.array(points, float)
    if mirrored:
        pts[:, 0] = 1 - pts[:, 0]
    mask = np.zeros((300, 400), np.uint8)
    cv2.fillPoly(mask, [(pts * size + [left, top]).astype(np.int32)], 1)
    return mask > 0


def _sneaker(left: int, top: int, side: int, mirrored: bool = False) -> np.ndarray:
    """A sneaker side view, side long: a low toe on the left rising to the ankle collar and heel on the right."""
    pts = [[0, 1], [0.02, 0.65], [0.2, 0.55], [0.5, 0.35], [0.62, 0], [0.92, 0], [1, 0.25], [1, 1]]
    return _outline(pts, left, top, (side, side * 0.45), mirrored)


def _boot(left: int, top: int, side: int, mirrored: bool = False) -> np.ndarray:
    """An ankle boot, side long: a low toe and a shaft nearly as tall as the boot is long."""
    pts = [[0, 1], [0, 0.75], [0.4, 0.65], [0.55, 0], [0.95, 0], [1, 0.4], [1, 1]]
    return _outline(pts, left, top, (side, side * 0.8), mirrored)


@pytest.mark.parametrize("placing", ["heel_to_heel", "toe_to_toe"])
def test_a_pair_of_shoes_touching_is_cut_to_the_left_shoe(placing: str) -> None:
    h, w, side = 300, 400, 140
    heels_in = placing == "heel_to_heel"  # the drawn shoe's toe points left
    left_shoe = _sneaker(60, 120, side, mirrored=not heels_in)
    right_shoe = _sneaker(60 + side - 14, 123, side, mirrored=heels_in)  # overlapping by a tenth, 3 px lower
    pair = left_shoe | right_shoe
    kept = half_of_a_mirrored_pair(pair)
    assert iou(kept, left_shoe) > 0.9 and not kept[:, 60 + side :].any()
    bg = np.full((h, w, 3), 240, np.uint8)
    single = read_photo(jpeg(photo(bg, left_shoe, (120, 40, 30))))
    both = read_photo(jpeg(photo(bg, pair, (120, 40, 30))))
    # without the rule the pair is one wide strip in the 28×28 input (40 grey levels off the one shoe's read); cut,
    # 7-9 (the half loses the part of the shoe the other one covers)
    assert np.abs(both.array.astype(int) - single.array.astype(int)).mean() < 15


def test_a_pair_of_boots_heel_to_heel_is_cut_though_no_wider_than_a_bag() -> None:
    side = 120
    left_boot, right_boot = _boot(70, 100, side), _boot(70 + side - 10, 100, side, mirrored=True)
    kept = half_of_a_mirrored_pair(left_boot | right_boot)
    assert iou(kept, left_boot) > 0.9


def _clutch(h: int, w: int, aspect: float) -> np.ndarray:
    """A clutch bag: a rounded rectangle `aspect` times as wide as tall."""
    mask = np.zeros((h, w), np.uint8)
    bag_h = 80
    bag_w = int(aspect * bag_h)
    cv2.rectangle(mask, (40, 100), (40 + bag_w, 100 + bag_h), 1, -1)
    for x in (40, 40 + bag_w):
        cv2.circle(mask, (x, 100 + bag_h // 2), bag_h // 2, 1, -1)
    return mask > 0


def _belt_bag(h: int, w: int) -> np.ndarray:
    """A belt bag: a straight top and a curved bottom, twice as wide as tall."""
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (200, 120), (140, 110), 0, 0, 180, 1, -1)
    mask[110:121, 60:341] = 1
    return mask > 0


@pytest.mark.parametrize("case", ["clutch", "wide_clutch", "belt_bag", "sneaker", "wide_sandal", "shirt"])
def test_what_is_wide_or_symmetric_but_one_item_is_kept(case: str) -> None:
    h, w = 300, 400
    if case == "clutch":
        mask = _clutch(h, w, 2.2)
    elif case == "wide_clutch":  # as wide as a pair of sneakers: its halves are near-symmetric themselves
        mask = _clutch(h, w, 3.5)
    elif case == "belt_bag":
        mask = _belt_bag(h, w)
    elif case == "sneaker":  # one shoe: as wide as two boots, but no mirror image of itself
        mask = _sneaker(60, 120, 260)
    elif case == "wide_sandal":  # a flat sandal, three times as wide as tall
        mask = np.zeros((h, w), bool)
        mask[150:190, 40:340] = True
        mask[110:150, 260:330] = True
    else:  # symmetric, but tall
        mask = shirt_mask(h, w, 40, 80, 220)
    assert np.array_equal(half_of_a_mirrored_pair(mask), mask)


@pytest.mark.parametrize("placing", ["apart", "heel_to_heel"])
def test_a_cutout_of_a_pair_is_read_as_one_shoe(placing: str) -> None:
    side = 120  # the 300×400 frame fits the reader's working size: masks line up with the drawing
    gap = 30 if placing == "apart" else -12
    left_shoe, right_shoe = _sneaker(40, 120, side), _sneaker(40 + side + gap, 120, side, mirrored=True)

    def cutout(mask: np.ndarray) -> Image.Image:
        rgba = np.zeros((300, 400, 4), np.uint8)  # transparent around the shoes, as shops export them
        rgba[mask] = (40, 60, 150, 255)
        return Image.fromarray(rgba, "RGBA")

    single, pair = read_photo(cutout(left_shoe)), read_photo(cutout(left_shoe | right_shoe))
    assert pair.cues["components"] == 1
    either = min(
        np.abs(pair.array.astype(int) - x.astype(int)).mean() for x in (single.array, single.array[..., ::-1])
    )
    assert either < 5  # one shoe or the other (its mirror image): 1-2 grey levels off; read whole, 40-50


_TINTS = [(200, 40, 50), (30, 60, 140), (40, 110, 60), (60, 60, 60)]


def _collage(
    layout: tuple[int, int], tile: int = 200, gutter: int = 8
) -> tuple[Image.Image, list[Image.Image]]:
    """A shop's collage of one T-shirt in colour variants (rows × columns tiles on white, light grey tile
    backdrops, white gutters), and each tile's photo alone."""
    rows, cols = layout
    h, w = rows * tile + (rows - 1) * gutter, cols * tile + (cols - 1) * gutter
    canvas = np.full((h, w, 3), 255, np.uint8)
    shirt = shirt_mask(tile, tile, 30, 35, 140)
    tiles = []
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        one = np.asarray(photo(np.full((tile, tile, 3), 244 - 3 * k, np.uint8), shirt, _TINTS[k]))
        canvas[
            r * (tile + gutter) : r * (tile + gutter) + tile, c * (tile + gutter) : c * (tile + gutter) + tile
        ] = one
        tiles.append(one)
    return jpeg(Image.fromarray(canvas)), [jpeg(Image.fromarray(one)) for one in tiles]


@pytest.mark.parametrize("layout", [(2, 2), (1, 3), (1, 4)])
def test_a_collage_of_one_product_is_read_by_one_tile(layout: tuple[int, int]) -> None:
    collage, tiles = _collage(layout)
    read = read_photo(collage)
    alone = [read_photo(tile) for tile in tiles]
    assert read.cues["components"] == 1  # one product's photo, as the detector knows them
    assert read.cues["fg_share"] == pytest.approx(
        alone[0].cues["fg_share"], abs=0.1
    )  # the tile's, not the sheet's
    # one of the shirts' outlines, as it reads alone (the sheet read whole: 0.35 and 0.09 for 2×2 and 1×4)
    assert max(iou(read.array > 20, one.array > 20) for one in alone) > 0.85


def test_collage_tile_takes_alike_parts_in_a_row_or_a_grid_only() -> None:
    grid = np.zeros((200, 200), bool)
    for top in (10, 110):
        for left in (10, 110):
            grid[top : top + 70, left : left + 60] = True
    grid[10:90, 110:175] = True  # the largest part: top right
    assert collage_tile(grid) == (slice(0, 100), slice(90, 200))  # halfway into the gaps, out to the edges
    column = np.zeros((300, 100), bool)
    for top in (10, 110, 210):
        column[top : top + 70, 20:80] = True  # one above the other: a striped garment's bands, never tiles
    assert collage_tile(column) is None
    unlike = np.zeros((100, 300), bool)
    unlike[20:80, 10:70], unlike[20:80, 110:170], unlike[40:60, 210:230] = True, True, True  # one part small
    assert collage_tile(unlike) is None
    staggered = np.zeros((200, 300), bool)
    staggered[10:70, 10:70], staggered[50:110, 110:170], staggered[10:70, 210:270] = True, True, True
    assert collage_tile(staggered) is None  # neither in one row nor apart: two thirds of a part's height off
    thin = np.zeros((300, 300), bool)
    for left in (40, 120, 200):
        thin[20:280, left : left + 40] = (
            True  # a shirt's upright stripes: bands over six times as tall as wide
        )
    assert collage_tile(thin) is None
    broken = np.zeros((100, 300), bool)
    broken[20:80, 40:110], broken[20:80, 114:184], broken[20:80, 188:258] = True, True, True
    assert collage_tile(broken) is None  # a mask broken by the light: its pieces lie too close for tiles
    legs = trousers_mask(300, 300, 20, 40, 260)  # two legs are two parts at most: no collage
    assert collage_tile(legs) is None
