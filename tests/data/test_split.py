import io
from pathlib import Path

import numpy as np
from PIL import Image

from shoplens.data import stratified_split
from shoplens.data.folder import folder_items, load_image_folder
from shoplens.data.source import DataSource, copy_groups, load_data
from shoplens.data.split import content_groups, copy_signature, near_copy_groups
from shoplens.imaging import PreprocessConfig
from tests.support.images import encode, photos


def test_split_is_stratified_disjoint_and_complete():
    labels = np.repeat(np.arange(5), [100, 50, 200, 20, 30])
    train, val = stratified_split(labels, 0.1, seed=3)
    assert len(np.intersect1d(train, val)) == 0
    assert len(train) + len(val) == len(labels)
    counts = np.bincount(labels[val], minlength=5)
    np.testing.assert_array_equal(counts, [10, 5, 20, 2, 3])


def test_split_is_deterministic_per_seed():
    labels = np.arange(1000) % 10
    a = stratified_split(labels, 0.2, seed=1)
    b = stratified_split(labels, 0.2, seed=1)
    c = stratified_split(labels, 0.2, seed=2)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_every_class_keeps_training_examples():
    labels = np.array([0, 0, 1, 1, 2, 2])
    train, val = stratified_split(labels, 0.5, seed=0)
    assert set(labels[train]) == {0, 1, 2} and set(labels[val]) == {0, 1, 2}


def test_copies_of_a_photo_stay_on_one_side_and_alone_nothing_changes():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, 300)
    pixels = [rng.integers(0, 256, 12, dtype=np.uint8).tobytes() for _ in range(200)]
    photos = pixels + [pixels[i] for i in rng.integers(0, 200, 100)]  # 100 copies saved under other names
    groups = content_groups(photos)
    train, val = stratified_split(labels, 0.2, seed=5, groups=groups)
    assert len(train) + len(val) == 300 and not set(groups[train]) & set(groups[val])
    assert abs(len(val) - 60) <= 8  # about the share asked, in whole groups
    alone = content_groups(pixels[:150])  # every photo different: the split without groups
    for got, want in zip(
        stratified_split(labels[:150], 0.2, 5, alone), stratified_split(labels[:150], 0.2, 5)
    ):
        np.testing.assert_array_equal(got, want)


def copies_of(img: Image.Image) -> list[Image.Image]:
    """A photo at half size, JPEG 70, at a quarter, JPEG 60, and as it is at JPEG 85."""
    w, h = img.size
    return [
        decoded(img.resize((w // 2, h // 2), Image.Resampling.BILINEAR), quality=70),
        decoded(img.resize((w // 4, h // 4), Image.Resampling.BILINEAR), quality=60),
        decoded(img, quality=85),
    ]


def decoded(img: Image.Image, quality: int) -> Image.Image:
    return Image.open(io.BytesIO(encode(img, "JPEG", quality=quality)))


def test_near_copies_of_a_photo_share_a_group_and_other_photos_do_not():
    originals = photos(40, seed=8, size=200)
    items = originals + [c for img in originals[:10] for c in copies_of(img)]
    groups = near_copy_groups(np.arange(len(items)), [copy_signature(i) for i in items])
    assert len(set(groups[:40])) == 40  # 40 different photos stay apart
    for k in range(10):
        assert set(groups[40 + 3 * k : 43 + 3 * k]) == {groups[k]}  # each copy joins its original
    exact = near_copy_groups(np.array([0, 1, 0]), [copy_signature(i) for i in originals[:3]])
    assert exact[0] == exact[2] != exact[1]  # the same bytes stay together whatever the pictures
    darker = Image.eval(originals[0], lambda v: v * 0.8)  # another colour of the same cut: no copy
    assert (
        len(set(near_copy_groups(np.arange(2), [copy_signature(originals[0]), copy_signature(darker)]))) == 2
    )


def test_a_folders_near_copies_share_a_group_and_the_warning_counts_them(tmp_path: Path) -> None:
    originals = photos(30, seed=9, size=160)
    for i, img in enumerate(originals):
        folder = tmp_path / "ab"[i % 2]
        folder.mkdir(exist_ok=True)
        img.save(folder / f"{i:02d}.png")
        for j, copy in enumerate(copies_of(img) if i < 10 else []):
            copy.save(folder / f"{i:02d}-copy{j}.jpg")
    cfg = PreprocessConfig(size=(16, 16), mode="L")
    groups = copy_groups(load_image_folder(tmp_path, cfg))
    of_photo: dict[str, set[int]] = {}
    for (path, _), group in zip(folder_items(tmp_path), groups.tolist()):
        of_photo.setdefault(path.stem.split("-")[0], set()).add(group)
    assert all(len(g) == 1 for g in of_photo.values()) and len(set(groups.tolist())) == 30
    pool, test = load_data(DataSource("folder", str(tmp_path), test_fraction=0.25), cfg, seed=0)
    assert pool.meta["copies"] == 30 and len(pool) + len(test) == 60
