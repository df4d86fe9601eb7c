"""Photos that are not products: classify says so, search by photo answers nothing and why, ingestion flags them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from shoplens.api import create_app
from tests.support.bundles import NAME, PHOTO_PRE, add_detector, bundle_at, make_bundle
from tests.support.images import checkerboard, encode, product_photo
from tests.support.service import as_key, classify, create, serving, settings_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def models_root(tmp_path: Path) -> Path:
    """One version reading photos, with a "not a product" detector."""
    root = tmp_path / "models"
    add_detector(make_bundle(root, "v1", seed=1, preprocess=PHOTO_PRE))
    (root / NAME / "ACTIVE").write_text("v1\n")
    return root


async def test_classify_carries_status_and_ood_score(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    api.headers.update(as_key(api_keys, "reader"))
    product = (await classify(api, encode(product_photo()))).json()["results"][0]
    other = (await classify(api, encode(checkerboard()))).json()["results"][0]
    assert product["status"] in ("recognised", "needs_review") and product["ood_score"] < 0.3
    assert other["status"] == "not_recognised" and other["ood_score"] > 0.5 and other["needs_review"]
    assert "unlike_products" in other["review_reasons"]


@pytest.mark.parametrize(
    ("review_threshold", "product_reasons", "board_reasons"),
    [
        (0.5, None, ["unlike_products"]),  # sure of its category, yet unlike a product
        (1.0, ["low_confidence"], ["low_confidence", "unlike_products"]),
    ],
)
async def test_a_result_to_review_says_why(
    tmp_path: Path,
    keys_file: Path,
    api_keys: dict[str, str],
    review_threshold: float,
    product_reasons: list[str] | None,
    board_reasons: list[str],
) -> None:
    """review_reasons names the rule that flagged the photo: its probability, or its "not a product" score."""
    root = tmp_path / "sure"
    version = bundle_at(
        root / NAME / "v1", preprocess=PHOTO_PRE, temperature=0.001, review_threshold=review_threshold
    )
    add_detector(version, threshold=2.0)  # review from a score of 0.3; never "not a product"
    (root / NAME / "ACTIVE").write_text("v1\n")
    async with serving(create_app(settings_for(root, keys_file)), headers=as_key(api_keys, "reader")) as c:
        product = (await classify(c, encode(product_photo()))).json()["results"][0]
        board = (await classify(c, encode(checkerboard()))).json()["results"][0]
    assert product["ood_score"] < 0.3 and product.get("review_reasons") == product_reasons
    assert product["needs_review"] == (product_reasons is not None)
    assert board["top"][0]["probability"] > 0.99 and board["ood_score"] >= 0.3
    assert board["status"] == "needs_review" and board["review_reasons"] == board_reasons


async def test_search_answers_a_non_product_with_no_matches_and_a_reason(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    admin, reader = as_key(api_keys, "admin"), as_key(api_keys, "reader")
    r = await create(api, admin, {"merchant": "m", "sku": "S1", "title": "Coat"}, encode(product_photo()))
    assert r.status_code in (200, 201), r.text
    found = await api.post(
        "/v1/search/similar", files={"file": ("q.png", encode(checkerboard()), "image/png")}, headers=reader
    )
    assert found.status_code == 200 and found.json()["results"] == []
    assert "not look like a product" in found.json()["reason"]
    found = await api.post(
        "/v1/search/similar", files={"file": ("q.png", encode(product_photo()), "image/png")}, headers=reader
    )
    assert len(found.json()["results"]) == 1 and found.json().get("reason") is None


async def test_ingestion_flags_not_a_product_in_qa(api: httpx.AsyncClient, api_keys: dict[str, str]) -> None:
    admin = as_key(api_keys, "admin")
    await create(api, admin, {"merchant": "m", "sku": "good", "title": "Coat"}, encode(product_photo()))
    r = await create(api, admin, {"merchant": "m", "sku": "odd", "title": "Board"}, encode(checkerboard()))
    assert "not_a_product" in r.json()["flags"]
    qa = (await api.get("/v1/catalog/qa", headers=admin)).json()["flags"]
    assert qa["not_a_product"]["count"] == 1 and qa["not_a_product"]["items"][0]["sku"] == "odd"
    assert qa["low_quality"]["count"] == 0
