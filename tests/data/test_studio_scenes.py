import io

import cv2
import numpy as np
import pytest
from PIL import Image

from shoplens.data.garment_patterns import PATTERNS
from shoplens.data.studio_props import PROP_GAP, PROPS, lay_props, spotlight
from shoplens.data.studio_scenes import (
    COLLAGES,
    CUTS,
    ELIGIBLE,
    FLATLAYS,
    GROUPS,
    ON_CLOTH,
    SCENES,
    SETUPS,
    SMALL,
    SPOTS,
    TILTS,
    studio_photo,
    studio_photos,
)
from shoplens.imaging import decode_image
from shoplens.imaging.background import find_seam, to_lab
from shoplens.imaging.photo import working_copy
from tests.support.data import fm_garment


def test_each_setup_renders_an_upright_photo_with_its_metadata() -> None:
    for setup in SETUPS:
        label = ELIGIBLE.get(setup, (0,))[0]
        pixels, meta = studio_photo(fm_garment(), label, setup, np.random.default_rng(1))
        assert pixels.dtype == np.uint8 and pixels.shape == (meta["height"], meta["width"], 3)
        assert meta["setup"] == setup and 360 * 0.75 <= max(pixels.shape[:2]) <= 1600


def test_photos_are_deterministic_per_seed_take_the_setups_in_turn_and_each_garment_once() -> None:
    labels = np.array([0, 5, 7, 1, 9, 2, 8, 3, 5, 4, 7, 6, 9, 0])  # tops, shoes, trousers and a bag
    images = np.stack([fm_garment(i) for i in range(len(labels))])
    n = len(SETUPS)
    first = list(studio_photos(images, labels, n, seed=2))
    again = list(studio_photos(images, labels, n, seed=2))
    other = list(studio_photos(images, labels, n, seed=3))
    assert [p.data for p in first] == [p.data for p in again]
    assert [p.data for p in first] != [p.data for p in other]
    assert [p.meta["setup"] for p in first] == list(SETUPS)
    assert len({p.meta["test_index"] for p in first}) == n
    for p in first:
        assert p.meta["label"] in ELIGIBLE.get(p.meta["setup"], (p.meta["label"],))


def test_a_setup_stops_when_no_garment_of_its_categories_is_left() -> None:
    images, labels = (
        np.stack([fm_garment(i) for i in range(6)]),
        np.zeros(6, np.int64),
    )  # T-shirts only: no pair
    assert [p.meta["setup"] for p in studio_photos(images, labels, 10)] == list(SETUPS[:5])


@pytest.mark.parametrize(("label", "setup"), [(5, "hanger"), (8, "mannequin"), (0, "pair")])
def test_a_category_a_setup_does_not_shoot_is_refused(label: int, setup: str) -> None:
    with pytest.raises(ValueError, match="is not shot in"):
        studio_photo(fm_garment(), label, setup, np.random.default_rng(4))


def test_a_pair_is_two_shoes_apart_or_overlapping() -> None:
    for setup, apart in (("pair", True), ("pair_overlapping", False)):
        pixels, meta = studio_photo(fm_garment(), 7, setup, np.random.default_rng(6))
        assert (meta["pair_gap"] > 0) == apart
        dark = np.abs(pixels.astype(np.int16) - np.median(pixels, axis=(0, 1))).max(axis=2) > 40
        _, _, stats, _ = cv2.connectedComponentsWithStats(dark.astype(np.uint8))
        big = (stats[1:, cv2.CC_STAT_AREA] > 0.2 * stats[1:, cv2.CC_STAT_AREA].max()).sum()
        assert big == (2 if apart else 1)


def test_a_seam_photo_steps_in_brightness_where_its_metadata_says() -> None:
    for i in range(4):
        pixels, meta = studio_photo(fm_garment(), 0, "seam", np.random.default_rng([9, i]))
        h = pixels.shape[0]
        row = round(meta["seam_at"] * h)
        edge = pixels[:, :8].astype(np.float32).mean(axis=(1, 2))  # the left edge, clear of the garment
        step = edge[row + h // 20 : row + h // 10].mean() - edge[row - h // 10 : row - h // 20].mean()
        assert abs(step) > 4 and np.sign(step) == np.sign(meta["seam_step"])
        seam = find_seam(to_lab(working_copy(decode_image(_png(pixels)))))
        assert seam is not None  # the reader finds it


def test_a_frame_is_a_line_drawn_where_its_metadata_says_and_overlays_keep_to_their_corner() -> None:
    for i in range(3):
        pixels, meta = studio_photo(fm_garment(), 3, "frame", np.random.default_rng([11, i]))
        h, w = pixels.shape[:2]
        at = round(meta["frame_margin"] * min(h, w))
        line = pixels[at, w // 3 : 2 * w // 3].astype(np.float32)  # along the top side, clear of the corners
        beside = pixels[at + meta["frame_width"] + 3, w // 3 : 2 * w // 3].astype(np.float32)
        assert np.abs(line - beside).mean() > 15
    for kind in ("logo", "price_tag"):
        pixels, meta = studio_photo(fm_garment(), 3, kind, np.random.default_rng(12))
        assert meta["corner"].split()[0] in ("top", "bottom") and meta["corner"].split()[1] in (
            "left",
            "right",
        )
        if kind == "price_tag":
            assert meta["corner"].startswith("bottom")  # tags hang low


def _eight_garments() -> tuple[np.ndarray, np.ndarray]:
    """Eight drawn garments of different categories, and their labels."""
    labels = np.array([0, 5, 7, 1, 9, 2, 8, 3])
    return np.stack([fm_garment(i) for i in range(len(labels))]), labels


def test_the_tilted_group_lays_any_garment_at_its_band_of_angles_beside_plain_photos() -> None:
    images, labels = _eight_garments()
    photos = list(studio_photos(images, labels, 8, seed=1, setups=GROUPS["tilted"]))
    assert [p.meta["setup"] for p in photos] == list(GROUPS["tilted"]) * 2
    for p in photos:
        low, high = TILTS.get(p.meta["setup"], (0.0, 6.0))  # plain photos keep the benchmark's slight tilts
        assert low <= abs(p.meta["tilt"]) <= high


def test_the_beside_group_stands_another_smaller_garment_to_the_right_on_the_same_line() -> None:
    images, labels = _eight_garments()
    photos = list(studio_photos(images, labels, 4, seed=1, setups=GROUPS["beside"]))
    assert [p.meta["setup"] for p in photos] == ["plain", "beside"] * 2
    for p in photos[1::2]:
        assert p.meta["other_label"] in labels and 0.05 <= p.meta["other_gap"] <= 0.25
        assert p.meta["width"] > p.meta["height"]  # side by side: landscape
    with pytest.raises(ValueError, match="only they"):
        studio_photo(fm_garment(), 0, "beside", np.random.default_rng(0))  # no other garment
    with pytest.raises(ValueError, match="only they"):
        studio_photo(fm_garment(), 0, "plain", np.random.default_rng(0), other=fm_garment(1))


def test_the_alike_group_stands_another_garment_of_the_category_beside_it_each_garment_once() -> None:
    labels = np.array([3, 5] * 6)
    images = np.stack([fm_garment(i) for i in range(len(labels))])
    photos = list(studio_photos(images, labels, 4, seed=1, setups=GROUPS["alike"]))
    assert [p.meta["setup"] for p in photos] == ["plain", "alike"] * 2
    for p in photos[1::2]:
        assert p.meta["other_label"] == p.meta["label"] and 0.03 <= p.meta["other_gap"] <= 0.15
    # two garments left, of two categories: the second photo has no garment of its category to stand beside it
    assert len(list(studio_photos(images[:2], labels[:2], 4, seed=1, setups=GROUPS["alike"]))) == 1


def test_the_surfaces_group_lays_garments_on_photographed_surfaces_beside_plain_photos() -> None:
    images, labels = _eight_garments()
    photos = list(studio_photos(images, labels, 8, seed=1, setups=GROUPS["surfaces"]))
    assert [p.meta["setup"] for p in photos] == list(GROUPS["surfaces"]) * 2
    for p in photos:
        pixels = np.asarray(Image.open(io.BytesIO(p.data)).convert("L"), np.float32)
        corner = pixels[: pixels.shape[0] // 6, : pixels.shape[1] // 6]  # backdrop only: garments sit lower
        if p.meta["setup"] == "plain":
            assert p.meta["backdrop"] in ("light", "mid_grey", "dark") and corner.std() < 8
        else:
            assert (
                p.meta["backdrop"] == p.meta["setup"].removeprefix("on_") and corner.std() > 12
            )  # a texture


def test_the_scenes_group_shoots_garments_before_a_blurred_real_scene() -> None:
    images, labels = _eight_garments()
    photos = list(studio_photos(images, labels, 6, seed=1, setups=GROUPS["scenes"]))
    assert [p.meta["setup"] for p in photos] == list(GROUPS["scenes"]) * 2
    for p in photos:
        rgb = np.asarray(Image.open(io.BytesIO(p.data)).convert("RGB"), np.float32)
        corner = rgb[: rgb.shape[0] // 6, : rgb.shape[1] // 6]
        if p.meta["setup"] == "plain":
            assert "scene" not in p.meta
            continue
        low, high = SCENES[p.meta["setup"]]
        assert p.meta["backdrop"] == "scene" and low <= p.meta["scene_blur"] <= high
        # out of focus: next to no fine detail, but the scene's colours vary across the frame
        fine = np.abs(corner - cv2.GaussianBlur(corner, (0, 0), 1.0)).mean()
        assert fine < 1.5 and rgb.reshape(-1, 3).std(0).max() > 15


def test_the_cut_group_leaves_the_share_it_names_outside_the_photo_past_the_side_it_names() -> None:
    for i, setup in enumerate([*CUTS] * 5):
        pixels, meta = studio_photo(fm_garment(i), 3, setup, np.random.default_rng(i))
        low, high = CUTS[setup]
        # whole lines are cut, so the share may pass its upper end by one line's worth
        assert low <= meta["cut_share"] <= high + 0.06, meta
        grey = pixels.astype(np.float32).mean(2)
        edges = {"top": grey[:3], "bottom": grey[-3:], "left": grey[:, :3], "right": grey[:, -3:]}
        backdrop = np.median(np.concatenate([e.ravel() for e in edges.values()]))
        touched = {name for name, edge in edges.items() if (np.abs(edge - backdrop) > 25).mean() > 0.05}
        if meta["cut_side"] == "corner":
            assert len(touched) >= 2, (meta, touched)
        else:
            assert meta["cut_side"] in touched, (meta, touched)


def test_the_spot_group_lights_a_pool_on_its_backdrop_brightest_where_its_metadata_says() -> None:
    images, labels = _eight_garments()
    photos = list(studio_photos(images, labels, 6, seed=1, setups=GROUPS["spot"]))
    assert [p.meta["setup"] for p in photos] == list(GROUPS["spot"]) * 2
    for p in photos:
        if p.meta["setup"] == "plain":
            assert "spot_peak" not in p.meta
            continue
        kind, (low, high) = SPOTS[p.meta["setup"]]
        assert p.meta["backdrop"] == kind and low <= p.meta["spot_peak"] <= high
    scene = np.full((300, 400, 3), 0.1, np.float32)
    meta = spotlight(scene, (0.1, 0.1), np.random.default_rng(0))
    cy, cx = meta["spot_centre"]
    assert scene[round(cy * 299), round(cx * 399)] == pytest.approx([0.2] * 3, abs=2e-3)  # the peak's lift
    corners = scene[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert (
        corners < 0.19
    ).all() and scene.min() >= 0.1 - 1e-6  # it falls off towards the edges, never darkens


def test_the_small_group_shoots_the_garment_at_the_size_it_names() -> None:
    for i, setup in enumerate([*SMALL, "plain"] * 4):
        pixels, _ = studio_photo(fm_garment(i), 3, setup, np.random.default_rng(i))
        grey = pixels.astype(np.float32).mean(2)
        backdrop = np.median(np.concatenate([grey[:3].ravel(), grey[-3:].ravel()]))
        rows, cols = np.nonzero(np.abs(grey - backdrop) > 40)
        size = max(rows.max() - rows.min(), cols.max() - cols.min()) / min(grey.shape)
        low, high = SMALL.get(setup, (0.45, 0.75))
        assert low - 0.05 <= size <= high + 0.02, (setup, size)


def test_the_collage_group_tiles_one_garment_in_colours_on_one_backdrop_beside_plain_photos() -> None:
    labels = np.array([0, 1, 3, 8, 2, 7])
    images = np.stack([fm_garment(i) for i in range(len(labels))])
    photos = list(studio_photos(images, labels, 6, seed=4, setups=GROUPS["collage"]))
    assert [p.meta["setup"] for p in photos] == ["plain", *COLLAGES] * 2
    for p in photos:
        if p.meta["setup"] == "plain":
            continue
        rows, cols = COLLAGES[p.meta["setup"]]
        pixels = decode_image(p.data)
        side = round(p.meta["width"] / (cols + (cols - 1) * p.meta["gutter"]))
        assert pixels.size == (p.meta["width"], p.meta["height"])
        assert len(p.meta["colours"]) == rows * cols and len(set(p.meta["colours"])) > 1  # colour variants
        assert abs(p.meta["height"] - (rows * side + (rows - 1) * round(p.meta["gutter"] * side))) <= 2
        grey = np.asarray(pixels.convert("L"), np.float32)
        step = side + round(p.meta["gutter"] * side)  # from one tile's corner to the next one's
        corners = [grey[r * step + 3, c * step + 3] for r in range(rows) for c in range(cols)]
        assert (
            np.ptp(corners) < 60
        )  # every tile on the same kind of backdrop (its level and light vary by shot)


def test_props_lie_clear_of_the_garment_itself_even_in_a_corner_of_its_box() -> None:
    h, w = 600, 800
    garment = np.zeros((h, w), np.float32)
    cv2.fillPoly(garment, [np.array([[300, 100], [560, 100], [560, 180], [420, 500], [300, 500]])], 1.0)
    for seed in range(6):
        scene = np.zeros((h, w, 3), np.float32)  # on black a shadow darkens nothing: what changed is a prop
        meta = lay_props(scene, garment, 3, np.random.default_rng(seed))
        assert 1 <= len(meta["props"]) <= 3 and set(meta["props"]) <= set(PROPS)
        gap = int(PROP_GAP[0] * min(h, w)) - 1
        near = cv2.dilate((garment > 0).astype(np.uint8), np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)) > 0
        drawn = scene.max(axis=2) > 0
        assert drawn.sum() > 500 and not (drawn & near).any()


def test_the_flatlay_group_lays_props_around_the_garment_beside_plain_photos() -> None:
    images, labels = _eight_garments()
    photos = list(studio_photos(images, labels, 6, seed=2, setups=GROUPS["flatlay"]))
    assert [p.meta["setup"] for p in photos] == ["plain", *FLATLAYS] * 2
    for p in photos:
        laid = p.meta.get("props")
        assert (laid is not None) == (p.meta["setup"] in FLATLAYS)
        if laid is not None:
            assert 1 <= len(laid) <= FLATLAYS[p.meta["setup"]]
            assert decode_image(p.data).size == (p.meta["width"], p.meta["height"])


def test_the_cloths_group_lays_garments_on_printed_cloths_beside_plain_photos() -> None:
    images, labels = _eight_garments()
    photos = list(studio_photos(images, labels, 5, seed=3, setups=GROUPS["cloths"]))
    assert [p.meta["setup"] for p in photos] == ["plain", *ON_CLOTH]
    for p in photos[1:]:
        assert p.meta["cloth"] == ON_CLOTH[p.meta["setup"]] and p.meta["backdrop"] == "cloth"
        grey = np.asarray(decode_image(p.data).convert("L"), np.float32)
        border = np.concatenate(
            [grey[:8].ravel(), grey[-8:].ravel(), grey[:, :8].ravel(), grey[:, -8:].ravel()]
        )
        assert border.std() > 8  # the cloth's print shows along the border, not a plain backdrop


def test_unknown_setup_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown set-up"):
        studio_photo(fm_garment(), 0, "underwater", np.random.default_rng(0))


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_patterns_group_dresses_garments_in_patterns_beside_plain_photos() -> None:
    images, labels = _eight_garments()
    photos = list(studio_photos(images, labels, 5, seed=1, setups=GROUPS["patterns"]))
    assert [p.meta["setup"] for p in photos] == list(GROUPS["patterns"])
    for p in photos:
        assert ("second_colour" in p.meta) == (p.meta["setup"] in PATTERNS)
