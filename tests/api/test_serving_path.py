"""The serving path: no training stack imported, one admission and batching path for every model call, the fast lane."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shoplens.api import create_app
from shoplens.api.routes import classify as classify_route
from shoplens.api.schemas import ClassifyPublic
from shoplens.imaging.photo import WORK_SIDE
from shoplens.inference.export import export_onnx
from tests.support.bundles import NAME, PHOTO_PRE, make_bundle
from tests.support.images import encode, photos, png, product_photo
from tests.support.process import run_python
from tests.support.service import classify, create, metric, serving, settings_for, slow_loader

pytestmark = pytest.mark.anyio
HEAVY = ("torch", "scipy", "sklearn", "ray", "pyarrow", "shoplens.training")


@pytest.mark.slow
def test_importing_the_app_and_the_cli_leaves_the_training_stack_out() -> None:
    out = run_python(f"""
        import sys
        import shoplens.api.app, shoplens.cli
        print([m for m in {(*HEAVY, "sqlalchemy")!r} if m in sys.modules])
    """)
    assert out.strip() == "[]"


@pytest.mark.slow
def test_serving_an_onnx_bundle_imports_neither_torch_nor_the_training_stack(
    models_root: Path, keys_file: Path
) -> None:
    export_onnx(models_root / NAME / "v2")
    out = run_python(f"""
        import asyncio, io, sys
        import httpx
        from PIL import Image
        from shoplens.api import create_app
        from shoplens.config import Settings

        async def main():
            settings = Settings(models_dir={str(models_root)!r}, api_keys_file={str(keys_file)!r},
                                catalog_dir={str(models_root.parent / "catalog")!r}, open_mode=True)
            app = create_app(settings)
            buf = io.BytesIO()
            Image.new("L", (28, 28), 200).save(buf, "PNG")
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                    while (await c.get("/readyz")).status_code != 200:
                        await asyncio.sleep(0.02)
                    r = await c.post("/v1/classify", files={{"file": ("a.png", buf.getvalue(), "image/png")}})
                    assert r.status_code == 200, r.text
                    assert (await c.get("/metrics")).status_code == 200
                    print("sqlalchemy" in sys.modules)  # the catalogue API is not loaded for classify
                    assert (await c.get("/v1/models")).status_code == 200
                    assert "/v1/products" in (await c.get("/openapi.json")).json()["paths"]
                    print("sqlalchemy" in sys.modules)  # it is for the rest
                session = app.state.service.handle.current().predictor.session
            print(type(session).__name__, [m for m in {HEAVY!r} if m in sys.modules])

        asyncio.run(main())
    """)
    lazy, loaded, session, heavy = out.split()
    assert (lazy, loaded, heavy) == ("False", "True", "[]")
    # "auto" times ONNX Runtime against OpenVINO at start and keeps the faster: either, never torch
    assert session in ("OrtSession", "OpenVinoSession")


@pytest.fixture
async def slow_api(models_root: Path, keys_file: Path, api_keys: dict[str, str]):
    """A catalogue app whose model calls take 0.3 s, with room for one admitted model call at a time."""
    app = create_app(settings_for(models_root, keys_file, max_inflight=1), loader=slow_loader)
    async with serving(app, headers={"X-API-Key": api_keys["admin"]}) as c:
        yield c


async def test_catalogue_model_calls_share_classify_admission_and_batcher(slow_api, api_keys) -> None:
    product = {"merchant": "m1", "sku": "S1", "title": "Item"}
    assert (await create(slow_api, {}, product, png(photos(1, seed=3)[0]))).status_code == 201
    query = {"files": {"file": ("q.png", png(photos(1, seed=4)[0]), "image/png")}}
    assert (await slow_api.post("/v1/search/similar", **query)).status_code == 200
    calls = metric((await slow_api.get("/metrics")).text, "shoplens_batch_size_count")
    assert calls == 2  # the ingestion and the search, each one micro-batcher call

    async def search_while_classifying():
        await asyncio.sleep(0.1)  # the classify request holds the only admission slot by now
        return await slow_api.post("/v1/search/similar", **query)

    busy_classify, refused = await asyncio.gather(
        classify(slow_api, encode(product_photo())), search_while_classifying()
    )
    assert busy_classify.status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    dup = await slow_api.post("/v1/search/duplicates", **query)  # the slot is free again
    assert dup.status_code == 200, dup.text


async def test_the_fast_lane_answers_the_documented_schema_and_validates_like_fastapi(client) -> None:
    r = await classify(client, encode(product_photo()), top_k=2, embed="yes")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = ClassifyPublic.model_validate(r.json())
    assert len(body.results[0].top) == 2 and body.results[0].embedding is not None
    for params, where in (
        ({"top_k": 0}, "query.top_k"),
        ({"top_k": 101}, "query.top_k"),
        ({"embed": "x"}, "query.embed"),
    ):
        bad = await classify(client, encode(product_photo()), **params)
        assert bad.status_code == 422 and bad.json()["detail"].startswith(where), bad.text
    wrong_method = await client.get("/v1/classify")
    assert wrong_method.status_code == 405
    spec = (await client.get("/openapi.json")).json()["paths"]["/v1/classify"]["post"]
    assert {p["name"] for p in spec["parameters"]} == {
        "top_k",
        "max_results",
        "min_confidence",
        "embed",
        "colours",
    }
    assert set(spec["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert {"APIKeyHeader", "HTTPBearer"} <= {k for s in spec["security"] for k in s}
    assert spec["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ClassifyPublic"
    )


async def test_a_catalogue_batch_goes_to_the_batcher_max_batch_images_at_a_time(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> None:
    app = create_app(settings_for(models_root, keys_file, batch_max_size=2))
    async with serving(app, headers={"X-API-Key": api_keys["admin"]}) as c:
        product = {"merchant": "m1", "sku": "S3", "title": "Three photos"}
        r = await create(c, {}, product, *(png(p) for p in photos(3, seed=7)))
        assert r.status_code == 201, r.text
        metrics = (await c.get("/metrics")).text
    assert (
        metric(metrics, "shoplens_batch_size_count") == 2 and metric(metrics, "shoplens_batch_size_sum") == 3
    )


async def test_a_large_jpeg_is_decoded_only_as_large_as_the_models_reading_needs(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int | None, tuple[int, int]]] = []
    real = classify_route.decode_image

    def spy(data: bytes, **options: object) -> object:
        img = real(data, **options)
        seen.append((options.get("at_least"), img.size))
        return img

    monkeypatch.setattr(classify_route, "decode_image", spy)
    big = encode(product_photo().convert("RGB").resize((2400, 1800)), "JPEG", quality=90)
    headers = {"X-API-Key": api_keys["reader"]}
    async with serving(create_app(settings_for(models_root, keys_file)), headers=headers) as c:
        assert (await classify(c, big, "big.jpg")).status_code == 200  # v2 reads plainly: the whole photo
    make_bundle(models_root, "v3", seed=3, preprocess=PHOTO_PRE)
    (models_root / NAME / "ACTIVE").write_text("v3\n")
    async with serving(create_app(settings_for(models_root, keys_file)), headers=headers) as c:
        answer = await classify(c, big, "big.jpg")
    assert answer.status_code == 200 and answer.json()["model"]["version"] == "v3"
    assert seen == [(None, (2400, 1800)), (WORK_SIDE, (300, 225))]  # an eighth: both sides still >= 224
