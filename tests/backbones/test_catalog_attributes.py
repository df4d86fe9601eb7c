"""Attributes on catalogue images: a zero-shot catalogue stores what its attribute prompts see in each photo (the
same as classify answers) and lists products by them; a reindex with it stores them for older images too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shoplens.api import create_app
from tests.support.images import png
from tests.support.service import serving
from tests.support.zeroshot import TAXONOMY, write, zero_shot_settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # builds tiny CLIP/SigLIP bundles


def photo(seed: int) -> Image.Image:
    """A colourful random RGB photo."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))


async def test_a_zero_shot_catalogue_stores_and_filters_attributes(
    bundles: dict, tmp_path: Path, database_url: str
) -> None:
    settings = zero_shot_settings(
        tmp_path, bundles["clip"], write(tmp_path, TAXONOMY), database_url=database_url
    )
    images = [png(photo(i)) for i in range(4)]
    async with serving(create_app(settings)) as c:
        products = []
        for i, data in enumerate(images):
            r = await c.post(
                "/v1/products",
                data={"product": json.dumps({"merchant": "acme", "sku": f"s{i}", "title": f"Item {i}"})},
                files=[("files", ("p.png", data, "image/png"))],
            )
            assert r.status_code == 201, r.text
            products.append(r.json())
        for product, data in zip(products, images):
            r = await c.post("/v1/classify", files={"file": ("p.png", data, "image/png")})
            (image,) = product["images"]
            assert image["attributes"] == r.json()["results"][0]["attributes"]
            assert [a["value"] for a in image["attributes"]["material"]]  # threshold 0: every value is kept
        distinct: set[frozenset[int]] = set()
        for value in ("wool", "leather", "denim"):
            expected = {
                p["id"]
                for p in products
                if any(
                    a["value"] == value and a["score"] >= 0.5
                    for a in p["images"][0]["attributes"]["material"]
                )
            }
            r = await c.get("/v1/products", params={"attribute": f"material:{value}"})
            assert {p["id"] for p in r.json()["items"]} == expected
            distinct.add(frozenset(expected))
        assert len(distinct) > 1  # the values do tell the products apart
        r = await c.get("/v1/products", params={"attribute": "material:wool,material:leather,material:denim"})
        anything = {
            p["id"]
            for p in products
            if any(a["score"] >= 0.5 for a in p["images"][0]["attributes"]["material"])
        }
        assert {p["id"] for p in r.json()["items"]} == anything
