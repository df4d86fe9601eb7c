"""Attributes on catalogue images: a zero-shot catalogue stores what its attribute prompts see in each photo (the
same as classify answers) and lists products by them; a reindex with it stores them for older images too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from shoplens.api import create_app
from shoplens.backbones.serving import model_loader
from shoplens.backbones.zeroshot import create_zero_shot_version
from shoplens.catalog.declared import ProductIn
from shoplens.catalog.ingest import IngestItem
from shoplens.catalog.reindex import reindex
from shoplens.catalog.service import Catalog, CatalogConfig
from shoplens.db.catalog import Embedding, ImageAttribute, ProductImage
from shoplens.inference.store import ModelStore
from tests.support.bundles import NAME
from tests.support.images import png
from tests.support.service import serving
from tests.support.shop import ingest_all
from tests.support.zeroshot import TAXONOMY, write, zero_shot_settings

pytestmark = pytest.mark.slow  # builds tiny CLIP/SigLIP bundles


def photo(seed: int) -> Image.Image:
    """A colourful random RGB photo."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))


@pytest.mark.anyio
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


def test_reindex_with_a_zero_shot_version_stores_attributes_and_back_removes_them(
    bundles: dict, models_root: Path, database_url: str, tmp_path: Path
) -> None:
    store = ModelStore(models_root, NAME, model_loader())  # trained and zero-shot versions, as the CLI's
    catalog = Catalog(CatalogConfig(data_dir=tmp_path / "catalog", database_url=database_url), store)
    ingest_all(
        catalog, [IngestItem(f"k{i}", ProductIn("m", f"s{i}", f"T{i}"), [png(photo(i))]) for i in range(3)]
    )
    with catalog.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ImageAttribute)) == 0  # a trained model: none
    zs = create_zero_shot_version(
        models_root, NAME, bundles["siglip"], write(tmp_path / "tax", TAXONOMY)
    ).name
    reindex(catalog, zs)
    scorer = catalog.models.load(zs).predictor.attribute_scores
    with catalog.sessions() as s:
        for img in s.scalars(select(ProductImage)):
            vector = s.get(Embedding, (img.id, zs)).vector
            seen = {(g, v["value"]) for g, values in scorer(vector).items() for v in values}
            assert seen and {(a.attribute, a.value) for a in img.attributes} == seen
            assert {a.model_version for a in img.attributes} == {zs}
    reindex(catalog, "v2")  # a trained model sees no attributes: the backbone's go with its recognition
    with catalog.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ImageAttribute)) == 0
    catalog.close()
