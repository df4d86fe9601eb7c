import numpy as np

from shoplens.data import stratified_split
from shoplens.data.split import content_groups


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
