"""The reader's median and percentile are numpy's, bit for bit and of the same type, only faster."""

import numpy as np
import pytest

from shoplens.imaging.order_stats import median, percentile


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_median_and_percentiles_equal_numpy_s_exactly(dtype) -> None:
    rng = np.random.default_rng(0)
    for trial in range(1500):
        n = int(rng.integers(1, 300)) if trial % 10 else int(rng.integers(300, 5000))
        draws = (rng.random(n) * 255, rng.integers(0, 4, n), rng.normal(0, 50, n))  # plain, ties, signed
        values = draws[trial % 3].astype(dtype)
        got, want = median(values), np.median(values)
        assert got == want and type(got) is type(want), (n, got, want)
        for q in (0, 2, 10, 50, 90, 98, 99.5, 100):
            got, want = percentile(values, q), np.percentile(values, q)
            assert got == want and type(got) is type(want), (n, q, got, want)


def test_what_the_fast_path_does_not_cover_is_numpy_s_answer() -> None:
    with_nan = np.array([1.0, np.nan, 3.0], np.float32)
    assert np.isnan(median(with_nan)) and np.isnan(percentile(with_nan, 90))
    assert median(np.array([3, 1, 2, 200], np.uint8)) == 2.5  # no uint8 overflow in the middle pair's mean
    assert percentile(np.array([200, 100], np.uint8), 50) == 150.0
    grid = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert median(grid) == np.median(grid) and percentile(grid, 90) == np.percentile(grid, 90)
    with pytest.raises(ValueError):
        percentile(np.ones(3), 101)
