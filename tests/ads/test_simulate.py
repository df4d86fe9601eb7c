"""The ads simulator on a tiny catalogue: the result's shape, and ShopLens at least as good as random."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from shoplens.ads.simulate import SimConfig, simulate_ads, write_ads_chart
from shoplens.catalog.service import Catalog
from shoplens.errors import ShopLensError
from tests.support.images import photos
from tests.support.shop import add_products

pytestmark = pytest.mark.slow

CATEGORIES = ("Bag", "Coat", "Sneaker", "Dress")


def test_simulation_on_a_tiny_catalogue(catalog: Catalog, tmp_path: Path) -> None:
    pictures = photos(16, seed=11)
    for i, category in enumerate(CATEGORIES):
        add_products(catalog, pictures[i::4], category=category)
    config = SimConfig(
        campaigns=4, creatives_per_campaign=2, appeal_sd=1.0, checkpoints=10
    )  # creatives differ a lot
    result = simulate_ads(catalog, n_users=40, rounds=1500, seed=0, config=config)
    for key in ("random_ctr", "best_single_ctr", "shoplens_ctr", "oracle_ctr", "regret", "rounds", "curves"):
        assert key in result
    assert result["rounds"] == 1500 and result["creatives"] == 8 and result["campaigns"] == 4
    assert set(result["regret"]["vs_best_single"]) == {"random", "shoplens"}
    assert len(result["curves"]["round"]) == 10 and result["curves"]["round"][-1] == 1500
    assert result["shoplens_ctr"] > result["random_ctr"], result
    assert result["oracle_ctr"] >= max(result["expected_ctr"].values())
    chart = write_ads_chart(result, tmp_path / "ads.png")
    assert Image.open(chart).size[0] > 500
    again = simulate_ads(catalog, n_users=40, rounds=1500, seed=0, config=config)
    assert again["shoplens_ctr"] == result["shoplens_ctr"]  # seeded: the same run twice


def test_simulation_needs_products(catalog: Catalog) -> None:
    with pytest.raises(ShopLensError, match="at least 4"):
        simulate_ads(catalog, n_users=5, rounds=10)
