"""Something smaller lying apart from the product is not read with it; the product's own parts are."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shoplens.imaging.photo import read_photo
from shoplens.imaging.props import drop_apart, drop_props
from tests.imaging.drawn import jpeg, photo, shirt_mask, shoe_mask, trousers_mask


def test_a_shoe_beside_a_shirt_is_dropped_and_the_shirt_read_as_alone() -> None:
    h, w = 400, 520
    shirt = shirt_mask(h, w, 30, 30, 280)
    shoe = shoe_mask(h, w, 330, 250, 170)  # a fifth of the shirt's area, in the lower right, clear of its box
    assert np.array_equal(drop_apart(shirt | shoe), shirt)
    bg = np.full((h, w, 3), 240, np.uint8)
    alone = read_photo(jpeg(photo(bg, shirt, (40, 70, 150)))).array.astype(int)
    both = photo(np.asarray(photo(bg, shoe, (20, 20, 20))), shirt, (40, 70, 150))
    read = read_photo(jpeg(both)).array.astype(int)
    # read with the shoe, the shirt sat small in a corner of the input: 93 grey levels from the shirt read alone
    assert np.abs(read - alone).mean() < 6


@pytest.mark.parametrize("case", ["strap", "legs", "touching", "as_large_above"])
def test_parts_within_reach_or_as_large_as_the_product_and_above_it_stay(case: str) -> None:
    h, w = 360, 480
    mask = np.zeros((h, w), bool)
    if case == "strap":  # a sandal's strap, apart from its sole, reaching down into the sole's box
        mask[250:270, 60:400] = True
        mask[200:252, 150:300] = True
        mask[249:252, 150:300] = False
    elif case == "legs":  # trousers whose legs part below the waistband: one part, kept whole
        # (the trousers span columns 246–374, so this cut misses them; trousers cut apart at the crotch are two
        # alike halves side by side, of which imaging.pairs.one_of_a_pair, before this rule, reads one)
        mask = trousers_mask(h, w, 20, 150, 320)
        mask[:, 228:232] = False
    elif case == "touching":  # a smaller part whose box reaches into the product's grown box
        mask = shirt_mask(h, w, 30, 30, 280)
        mask[300:340, 300:360] = True  # its box reaches 10 px into the shirt's box
    else:  # a dress whose belt is the backdrop's colour: two large parts, one above the other
        mask = shirt_mask(h, w, 40, 10, 300)
        mask[150:165] = False
    assert np.array_equal(drop_apart(mask), mask)


def test_of_two_products_of_a_size_side_by_side_the_larger_is_read() -> None:
    larger = np.zeros((360, 520), bool)
    larger[50:300, 20:170] = True  # 150 wide
    apart = np.zeros_like(larger)
    apart[70:290, 200:330] = True  # 130 wide, 30 px to the right, on the same line
    assert np.array_equal(drop_apart(larger | apart), larger)
    slanted, leaning = larger.copy(), np.zeros_like(larger)
    slanted[50:175, 170:180] = True  # the upper half reaches 10 px further right ...
    leaning[180:290, 172:300] = True  # ... over the other's lower half: boxes overlap by 8 px (< 10 % of 128)
    leaning[70:180, 182:300] = True
    assert np.array_equal(drop_apart(slanted | leaning), slanted)
    lower = np.zeros_like(larger)
    lower[260:360, 200:500] = True  # as large, but lower down: sharing 40 of its 100 rows
    assert np.array_equal(drop_apart(larger | lower), larger | lower)


def test_a_single_part_is_returned_as_it_is() -> None:
    mask = shirt_mask(200, 200, 20, 20, 160)
    assert drop_apart(mask) is mask


def test_a_garment_split_into_bands_by_its_stripes_is_kept_whole() -> None:
    # light stripes the colour of the backdrop cut the mask into bands, each apart from the largest one's box
    mask = shirt_mask(300, 300, 30, 30, 240)
    rows = np.arange(300)[:, None]
    banded = mask & ((rows // 12) % 2 == 0)
    assert np.array_equal(drop_apart(banded), banded)
    two = mask & (rows < 150) | mask & (rows >= 230)  # one wide gap: two parts, the lower one small and apart
    assert np.array_equal(drop_apart(two), mask & (rows < 150))


def test_the_cues_see_the_whole_scene_while_the_model_sees_the_product() -> None:
    h, w = 400, 520
    shirt, shoe = shirt_mask(h, w, 30, 30, 280), shoe_mask(h, w, 330, 250, 170)
    bg = np.full((h, w, 3), 240, np.uint8)
    read = read_photo(jpeg(photo(np.asarray(photo(bg, shoe, (20, 20, 20))), shirt, (40, 70, 150))))
    scene_share, product_share = read.cues["fg_share"], float(read.mask.mean())
    # the detector's cues measure the shirt and the shoe (a scene of several things should still look like
    # one), the product mask the shirt alone
    assert scene_share > 1.1 * product_share


def _phone(h: int, w: int, top: int, left: int) -> np.ndarray:
    """A phone laid flat: a slab 40 × 80 px."""
    mask = np.zeros((h, w), bool)
    mask[top : top + 80, left : left + 40] = True
    return mask


def test_props_in_another_colour_are_dropped_even_in_a_corner_of_the_products_box() -> None:
    h, w = 400, 520
    shirt = shirt_mask(h, w, 40, 60, 300)  # its sleeves leave the lower corners of its box empty
    phone = _phone(h, w, 250, 330)  # in its box's lower right corner, clear of the body (ends at 294)
    cup = _phone(h, w, 20, 420)  # beside it, clear of its box
    bg = np.full((h, w, 3), 235, np.uint8)
    rgb = np.asarray(photo(np.asarray(photo(bg, phone | cup, (25, 25, 30))), shirt, (40, 70, 150)))
    assert np.array_equal(drop_props(shirt | phone | cup, rgb), shirt)
    assert np.array_equal(drop_apart(shirt | phone | cup), shirt | phone | cup)  # three parts: left whole
    alone = read_photo(jpeg(photo(bg, shirt, (40, 70, 150)))).array.astype(int)
    read = read_photo(jpeg(Image.fromarray(rgb))).array.astype(int)
    assert np.abs(read - alone).mean() < 6


@pytest.mark.parametrize("case", ["bands", "print", "large", "faint"])
def test_the_products_own_pieces_and_what_lies_on_it_stay(case: str) -> None:
    h, w = 400, 520
    shirt = shirt_mask(h, w, 40, 60, 300)
    bg = np.full((h, w, 3), 235, np.uint8)
    rows = np.arange(h)[:, None]
    if case == "bands":  # stripes the backdrop's colour cut it into bands, all of its colour
        mask = shirt & ((rows // 16) % 2 == 0)
        rgb = np.asarray(photo(bg, mask, (40, 70, 150)))
    elif case == "print":  # a print of another colour apart from the rest, inside the garment's outline
        mask = shirt.copy()
        mask[150:190, 190:250] = False
        logo = np.zeros_like(shirt)
        logo[160:180, 200:240] = True
        rgb = np.asarray(photo(np.asarray(photo(bg, mask, (40, 70, 150))), logo, (200, 30, 30)))
        mask |= logo
    elif case == "large":  # another thing in another colour, nearly as large as the product: not a prop
        other = shirt_mask(h, w + 200, 40, 380, 250)[:, :w]
        mask = shirt | other
        rgb = np.asarray(photo(np.asarray(photo(bg, mask, (200, 30, 30))), shirt, (40, 70, 150)))
    else:  # a pale garment's mask broken by the light: pieces of one colour, however small
        mask = shirt & ~((rows > 150) & (rows < 158))
        mask[350:362, 150:200] = True  # its hem, 10 px below the rest: apart, small, but of its colour
        rgb = np.asarray(photo(bg, mask, (215, 215, 220)))
    assert np.array_equal(drop_props(mask, rgb), mask)
