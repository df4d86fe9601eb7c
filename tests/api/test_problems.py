"""The API contract beyond what schemathesis draws: one problem shape for every error (from routes, middleware and
Starlette), the document declaring it, stable operationIds, problem types served, cursor pagination."""

from __future__ import annotations

import httpx
import pytest

from shoplens.api.problems import PROBLEM_JSON, PROBLEM_TYPES
from tests.support.images import encode, photos, png, product_photo
from tests.support.service import as_key, classify, create

pytestmark = pytest.mark.anyio
SHAPE = {"type", "title", "status", "detail", "instance", "code"}


def assert_problem(r: httpx.Response, status: int, code: str) -> dict:
    """The response is a problem of this status and code, its instance the request id."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    body = r.json()
    assert set(body) >= SHAPE and body["status"] == status and body["code"] == code
    assert body["type"] == f"/problems/{code}" and body["title"] == PROBLEM_TYPES[code].title
    assert body["instance"] == r.headers["x-request-id"] != ""
    return body


async def test_every_kind_of_error_is_the_same_problem_shape(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/models", headers={"X-API-Key": "nope"}), 401, "unauthorized")
    assert_problem(await client.post("/v1/models/rollback"), 403, "forbidden")  # a reader's key
    assert_problem(await client.get("/no/such/path"), 404, "not_found")  # Starlette's router
    assert_problem(await client.get("/v1/classify"), 405, "method_not_allowed")
    r = await client.post("/v1/classify", content=b"x", headers={"Content-Type": "text/plain"})
    assert_problem(r, 415, "unsupported_media_type")
    bad = assert_problem(await classify(client, encode(product_photo()), top_k=0), 422, "validation_error")
    assert bad["errors"][0]["loc"] == ["query", "top_k"]
    big = b"x" * (10 * 2**20 + 1)  # past the 10 MiB body limit: refused by middleware before any route
    too_big = await client.post("/v1/classify", content=big, headers={"Content-Type": "application/json"})
    assert_problem(too_big, 413, "payload_too_large")


async def test_the_document_declares_problems_and_stable_operation_ids(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    ops = {op["operationId"]: (path, op) for path, item in doc["paths"].items() for op in item.values()}
    for name in ("classifyImages", "listProducts", "createProduct", "searchSimilarProducts", "selectAds"):
        assert name in ops
    for path, op in ops.values():
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert PROBLEM_JSON in response["content"], (path, status)
        assert "500" in op["responses"] and ("503" in op["responses"]) == (
            path != "/livez"
        )  # /readyz: not ready
    _, create_op = ops["createProduct"]
    assert {"400", "401", "403", "409", "413", "415", "422"} <= set(create_op["responses"])
    assert "HTTPValidationError" not in doc["components"]["schemas"]


async def test_problem_types_are_described_at_their_type_uri(client: httpx.AsyncClient) -> None:
    r = await client.get("/problems/image_too_large")
    assert (
        r.status_code == 200 and r.json()["status"] == 413 and r.json()["type"] == "/problems/image_too_large"
    )
    assert_problem(await client.get("/problems/nothing_like_this"), 404, "not_found")


async def test_cursor_pages_walk_the_list_once(api: httpx.AsyncClient, api_keys: dict[str, str]) -> None:
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    for i, photo in enumerate(photos(5, seed=3)):
        assert (
            await create(api, merchant, {"sku": f"s{i}", "title": f"T {i}"}, png(photo))
        ).status_code == 201
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/products", params=params, headers=reader)).json()
        assert page["total"] == 5
        seen += [p["sku"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"s{i}" for i in range(4, -1, -1)]
    first = (await api.get("/v1/products", params={"limit": 2}, headers=reader)).json()["next_cursor"]
    other = await api.get("/v1/products", params={"cursor": first, "q": "T 1"}, headers=reader)
    assert "other filters" in assert_problem(other, 422, "validation_error")["detail"]
    forged = await api.get("/v1/products", params={"cursor": "bm90IGEgY3Vyc29y"}, headers=reader)
    assert_problem(forged, 422, "validation_error")
    both = await api.get("/v1/products", params={"cursor": first, "offset": 2}, headers=reader)
    assert_problem(both, 422, "validation_error")
    old = (await api.get("/v1/products", params={"limit": 2, "offset": 4}, headers=reader)).json()
    assert [p["sku"] for p in old["items"]] == ["s0"] and old["next_cursor"] is None


async def test_what_the_contract_test_found_stays_fixed(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    merchant = as_key(api_keys, "merchant")
    made = (await create(api, merchant, {"sku": "n", "title": "Named"}, png(photos(1, seed=4)[0]))).json()
    assert_problem(await api.get(f"/v1/products/{2**40}", headers=merchant), 422, "validation_error")
    assert_problem(
        await api.get("/v1/ads/campaigns", params={"offset": 2**40}, headers=merchant),
        422,
        "validation_error",
    )
    nulled = await api.patch(f"/v1/products/{made['id']}", json={"title": None}, headers=merchant)
    assert assert_problem(nulled, 422, "validation_error")["errors"][0]["loc"] == ["body", "title"]
    cleared = await api.patch(f"/v1/products/{made['id']}", json={"brand": None}, headers=merchant)
    assert cleared.status_code == 200 and cleared.json()["brand"] is None
    assert cleared.json()["created_at"].endswith("Z")  # RFC 3339: with its zone
    assert_problem(
        await api.get(f"/v1/products/{made['id'] + 1}/related", headers=merchant), 404, "not_found"
    )
