"""Concurrent creates with one Idempotency-Key: the key is reserved first, so exactly one product is made."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.images import photos, png
from tests.support.service import as_key, create

pytestmark = pytest.mark.anyio
PHOTOS = photos(4, seed=33)


async def _products(api: httpx.AsyncClient, api_keys: dict[str, str]) -> int:
    return (await api.get("/v1/products", headers=as_key(api_keys, "reader"))).json()["total"]


async def test_concurrent_different_bodies_make_one_product(api: httpx.AsyncClient, api_keys) -> None:
    merchant = {**as_key(api_keys, "merchant"), "Idempotency-Key": "race-1"}
    answers = await asyncio.gather(
        *(create(api, merchant, {"sku": f"R{i}", "title": f"Race {i}"}, png(PHOTOS[i])) for i in range(4))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 409, 409, 409], [r.text for r in answers]
    assert await _products(api, api_keys) == 1


async def test_concurrent_retries_make_one_product_and_replay_it(api: httpx.AsyncClient, api_keys) -> None:
    merchant = {**as_key(api_keys, "merchant"), "Idempotency-Key": "race-2"}
    body, photo = {"sku": "S", "title": "Same"}, png(PHOTOS[0])
    answers = await asyncio.gather(*(create(api, merchant, body, photo) for _ in range(4)))
    assert sorted(r.status_code for r in answers).count(201) >= 1
    assert {r.status_code for r in answers} <= {201, 409}  # 409: the first is still being served
    assert await _products(api, api_keys) == 1
    again = await create(api, merchant, body, photo)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"


async def test_a_failed_request_releases_its_key(api: httpx.AsyncClient, api_keys) -> None:
    merchant = {**as_key(api_keys, "merchant"), "Idempotency-Key": "fail-1"}
    bad = await create(api, merchant, {"sku": "F", "title": "Fail"}, b"\x89PNG\r\n\x1a\n broken")
    assert bad.status_code == 400, bad.text
    good = await create(api, merchant, {"sku": "F", "title": "Fail"}, b"\x89PNG\r\n\x1a\n broken")
    assert good.status_code == 400 and "still being served" not in good.text  # served afresh, not a 409
