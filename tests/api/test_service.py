"""The classify contract, overload (full queue, deadline), batching, metrics, request ids, logs, OpenAPI, errors."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest

from shoplens.api import create_app
from shoplens.api.server import JsonFormatter
from shoplens.inference import Predictor
from shoplens.models import load_bundle
from tests.api.conftest import classify, encode, product_photo, serving, settings_for

pytestmark = pytest.mark.anyio


class SlowPredictor(Predictor):
    """The real predictor, made slow: every model call takes at least `delay` seconds."""

    delay = 0.3

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(self.delay)
        return super().run(batch)


def slow_loader(path: Path) -> Predictor:
    """Load a bundle into a SlowPredictor."""
    return SlowPredictor(load_bundle(path))


async def test_classify_returns_top_k_review_flag_embedding_model_and_timing(client) -> None:
    r = await classify(client, encode(product_photo()), top_k=4, embed="true")
    assert r.status_code == 200
    body = r.json()
    (item,) = body["results"]
    assert item["index"] == 0 and item["filename"] == "photo.png" and len(item["top"]) == 4
    probs = [t["probability"] for t in item["top"]]
    assert probs == sorted(probs, reverse=True) and item["needs_review"] == (probs[0] < 0.5)
    assert abs(np.linalg.norm(item["embedding"]) - 1) < 1e-4
    assert body["model"] == {"name": "fashion-mnist", "version": "v2"}
    assert set(body["timing_ms"]) == {"read", "decode", "queue", "inference", "total"}
    plain = (await classify(client, encode(product_photo()))).json()["results"][0]
    assert "embedding" not in plain and len(plain["top"]) == 3


async def test_several_files_answer_in_order(client) -> None:
    photos = [
        encode(product_photo()),
        encode(product_photo().rotate(90, expand=True)),
        encode(product_photo()),
    ]
    r = await client.post(
        "/v1/classify", files=[("files", (f"{i}.png", p, "image/png")) for i, p in enumerate(photos)]
    )
    results = r.json()["results"]
    assert r.status_code == 200 and [x["index"] for x in results] == [0, 1, 2]
    assert results[0]["top"] == results[2]["top"] != results[1]["top"]
    bad = await client.post(
        "/v1/classify", files=[("files", ("a.png", photos[0], "image/png")), ("files", ("b", b"%PDF-", "x"))]
    )
    assert bad.status_code == 415 and bad.json()["detail"].startswith("image 1:")


async def test_bad_requests_get_json_4xx_never_500(client) -> None:
    cases = [
        client.post("/v1/classify", content=b"raw bytes", headers={"content-type": "image/png"}),
        client.post(
            "/v1/classify",
            content=b"--x\r\nbroken",
            headers={"content-type": "multipart/form-data; boundary=x"},
        ),
        client.post("/v1/classify", content=b"", headers={"content-type": "multipart/form-data"}),
        client.post(
            "/v1/classify", data={"file": "not a file"}, files={"other": ("a.png", b"x", "image/png")}
        ),
        client.post("/v1/classify", data={"file": "not a file"}),
        client.post("/v1/classify", params={"top_k": 0}, files={"file": ("a.png", b"x", "image/png")}),
        client.post("/v1/classify", params={"embed": "maybe"}, files={"file": ("a.png", b"x", "image/png")}),
        client.get("/v1/nothing-here"),
        client.delete("/v1/classify"),
    ]
    for r in await asyncio.gather(*cases):
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
        assert isinstance(r.json()["detail"], str) and "Traceback" not in r.text


async def test_full_queue_answers_503_with_retry_after(models_root: Path, keys_file: Path, api_keys) -> None:
    settings = settings_for(models_root, keys_file, queue_max=1, batching=False)
    app = create_app(settings, loader=slow_loader)
    async with serving(app, headers={"X-API-Key": api_keys["reader"]}) as c:
        png = encode(product_photo())
        responses = await asyncio.gather(*(classify(c, png) for _ in range(6)))
    codes = sorted(r.status_code for r in responses)
    assert codes[0] == 200 and codes[-1] == 503 and set(codes) == {200, 503}
    assert all(r.headers["retry-after"] == "1" for r in responses if r.status_code == 503)


async def test_requests_over_the_in_flight_limit_answer_503_at_once(
    models_root: Path, keys_file: Path, api_keys
) -> None:
    app = create_app(settings_for(models_root, keys_file, max_inflight=2), loader=slow_loader)
    async with serving(app, headers={"X-API-Key": api_keys["reader"]}) as c:
        responses = await asyncio.gather(*(classify(c, encode(product_photo())) for _ in range(6)))
        assert app.state.service.lifecycle.admitted == 0  # every slot was given back
        metrics = (await c.get("/metrics")).text
    assert 'shoplens_http_requests_total{method="POST",route="/v1/classify",status="503"} 4.0' in metrics
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 2 and codes.count(503) == 4
    assert all(r.headers["retry-after"] == "1" for r in responses if r.status_code == 503)


async def test_a_request_past_its_deadline_answers_504(models_root: Path, keys_file: Path, api_keys) -> None:
    app = create_app(settings_for(models_root, keys_file, request_deadline_ms=100), loader=slow_loader)
    async with serving(app, headers={"X-API-Key": api_keys["reader"]}) as c:
        r = await classify(c, encode(product_photo()))
        assert r.status_code == 504 and "deadline" in r.json()["detail"]


async def test_concurrent_images_share_model_calls_unless_batching_is_off(
    models_root: Path, keys_file: Path, api_keys
) -> None:
    for batching, expect_batched in ((True, True), (False, False)):
        app = create_app(settings_for(models_root, keys_file, batching=batching), loader=slow_loader)
        async with serving(app, headers={"X-API-Key": api_keys["reader"]}) as c:
            rs = await asyncio.gather(*(classify(c, encode(product_photo())) for _ in range(8)))
            assert {r.status_code for r in rs} == {200}
            metrics = (await c.get("/metrics")).text
        calls = _metric(metrics, "shoplens_batch_size_count")
        assert (calls < 8) == expect_batched, metrics


def _metric(text: str, name: str) -> float:
    """The value of an unlabelled sample in Prometheus text."""
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


async def test_metrics_count_requests_latency_queue_batches_and_model(client) -> None:
    await classify(client, encode(product_photo()))
    await client.get("/v1/models", headers={"X-API-Key": "wrong"})
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'shoplens_http_requests_total{method="POST",route="/v1/classify",status="200"} 1.0' in text
    assert 'shoplens_http_requests_total{method="GET",route="/v1/models",status="401"} 1.0' in text
    assert 'shoplens_http_request_duration_seconds_bucket{le="0.005",route="/v1/classify"}' in text
    assert "shoplens_queue_depth 0.0" in text and _metric(text, "shoplens_batch_size_count") >= 1
    assert 'shoplens_model_info{name="fashion-mnist",version="v2"} 1.0' in text


async def test_request_id_is_echoed_or_generated_on_every_response(client) -> None:
    assert (await client.get("/livez", headers={"X-Request-ID": "abc-123"})).headers[
        "x-request-id"
    ] == "abc-123"
    for r in (
        await client.get("/livez", headers={"X-Request-ID": "bad id\t<script>"}),
        await client.get("/missing"),
    ):
        assert len(r.headers["x-request-id"]) == 32 and r.headers["x-request-id"].isalnum()


async def test_one_json_access_log_line_per_request(client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="shoplens.access"):
        await client.get("/livez", headers={"X-Request-ID": "trace-1"})
    (record,) = [r for r in caplog.records if r.name == "shoplens.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-1" and line["method"] == "GET" and line["path"] == "/livez"
    assert line["status"] == 200 and line["ms"] >= 0 and line["msg"] == "request"


async def test_openapi_json_is_served_and_docs_need_no_cdn(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {
        "/v1/classify",
        "/v1/models",
        "/v1/models/{version}/activate",
        "/v1/models/rollback",
        "/readyz",
    } <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/v1/classify"]["post"]["requestBody"]["content"]
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    assert (await client.get("/docs")).status_code == 404
