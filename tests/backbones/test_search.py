"""GET /v1/search through the real app: a catalogue embedded by a tiny CLIP backbone, words and images fused."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shoplens.api import create_app
from shoplens.backbones import load_backbone
from tests.support.service import serving
from tests.support.zeroshot import TAXONOMY, write, zero_shot_settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # builds tiny CLIP/SigLIP bundles
PRODUCTS = [  # title, brand
    ("Red summer dress", "Sunny"),
    ("Blue denim jeans", "Rivet"),
    ("Summer sandals", "Beach"),
    ("Black boots", "Red Wing"),
    ("Grey hoodie", None),
    ("Striped sweater", "Knit Co"),
]
QUERY = "red summer dress"


def photo(seed: int) -> Image.Image:
    """A colourful random RGB photo."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))


def png(img: Image.Image) -> bytes:
    """PNG bytes of an image."""
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


async def test_search_by_words_fuses_full_text_and_the_backbones_own_ranking(
    bundles: dict, tmp_path: Path, database_url: str
) -> None:
    """Image ranks are the runtime's cosine ranking of the query against each photo; text ranks come from titles
    and brands; the order is reciprocal-rank fusion of both."""
    settings = zero_shot_settings(
        tmp_path, bundles["clip"], write(tmp_path, TAXONOMY), database_url=database_url
    )
    app = create_app(settings)
    images = [photo(i) for i in range(len(PRODUCTS))]
    async with serving(app) as c:
        ids = []
        for i, ((title, brand), img) in enumerate(zip(PRODUCTS, images)):
            product = {"merchant": "acme", "sku": f"s{i}", "title": title, "brand": brand}
            r = await c.post(
                "/v1/products",
                data={"product": json.dumps(product)},
                files=[("files", ("p.png", png(img), "image/png"))],
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
            assert (
                r.json()["predicted_category"] in TAXONOMY["categories"]
            )  # recognised zero-shot on the way in
        r = await c.get("/v1/search", params={"q": QUERY, "k": len(PRODUCTS)})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (await c.get("/v1/search")).status_code == 422  # q is required
        # nothing to match or embed: it answered 200 with no model version
        for wordless in ("!!!", "   ", "€ %"):
            r = await c.get("/v1/search", params={"q": wordless})
            assert r.status_code == 422 and "q holds no word" in r.text, r.text
    assert body["model_version"] == app.state.service.handle.current().version
    backbone = load_backbone(bundles["clip"])
    cosine = backbone.embed_images(images) @ backbone.embed_texts([QUERY])[0]
    by_id = {h["product"]["id"]: h for h in body["results"]}
    assert set(by_id) == set(ids)  # every product has a photo, so the image side ranks all of them
    image_order = [ids[i] for i in np.argsort(-cosine)]
    assert [by_id[pid]["image_rank"] for pid in image_order] == list(range(1, len(ids) + 1))
    for pid, cos in zip(ids, cosine):
        assert by_id[pid]["similarity"] == pytest.approx(float(cos), abs=1e-5)
        assert by_id[pid]["image"]["model_version"] == body["model_version"]
    text_ranked = {pid: h["text_rank"] for pid, h in by_id.items() if h["text_rank"] is not None}
    assert text_ranked[ids[0]] == 1  # all three words
    assert set(text_ranked) == {ids[0], ids[2], ids[3]}  # "summer" in a title, "red" in a brand
    for hit in body["results"]:
        ranks = [r for r in (hit["text_rank"], hit["image_rank"]) if r is not None]
        assert hit["score"] == pytest.approx(sum(1 / (60 + r) for r in ranks), abs=1e-7)
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True)
