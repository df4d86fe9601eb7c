import numpy as np

from shoplens.data import stratified_split


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
