"""Integers beyond what the database holds are a 422 on every route (a per-event error in a batch), never a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.support.images import encode, product_photo
from tests.support.service import as_key, create

pytestmark = pytest.mark.anyio
NOW = datetime.now(UTC).isoformat()
HUGE = [2**31, 2**63, 2**64 + 1]  # past PostgreSQL's int4, SQLite's int64, and any machine integer


@pytest.mark.parametrize("n", HUGE)
async def test_huge_ids_and_offsets_are_422_on_every_route(api: httpx.AsyncClient, api_keys, n: int) -> None:
    admin = as_key(api_keys, "admin")
    calls = [
        ("GET", f"/v1/products/{n}", None),
        ("PATCH", f"/v1/products/{n}", {"title": "x"}),
        ("DELETE", f"/v1/products/{n}", None),
        ("GET", f"/v1/products/{n}/duplicates", None),
        ("GET", f"/v1/products?offset={n}", None),
        ("GET", f"/v1/products/{n}/related", None),
        ("GET", f"/v1/ads/campaigns/{n}", None),
        ("PATCH", f"/v1/ads/campaigns/{n}", {"name": "x"}),
        ("GET", f"/v1/ads/campaigns/{n}/report", None),
        ("GET", f"/v1/ads/campaigns?offset={n}", None),
        ("GET", f"/v1/ads/select?context_product_id={n}", None),
        ("POST", f"/v1/ads/{n}/impression", {"event_id": "e1", "user_id": "u1"}),
        ("POST", f"/v1/ads/{n}/click", {"event_id": "e2", "user_id": "u1"}),
        ("POST", "/v1/search/similar", {"product_id": n}),
    ]
    for method, url, body in calls:
        r = await api.request(method, url, json=body, headers=admin)
        assert r.status_code == 422, (method, url, r.status_code, r.text)
    r = await api.patch(f"/v1/products/{n}", json={"stock": 1}, headers=admin)
    assert r.status_code == 422


async def test_a_huge_stock_is_422(api: httpx.AsyncClient, api_keys) -> None:
    merchant = as_key(api_keys, "merchant")
    r = await create(api, merchant, {"sku": "s", "title": "T", "stock": 2**63}, encode(product_photo()))
    assert r.status_code == 422, r.text
    r = await create(api, merchant, {"sku": "s", "title": "T", "stock": 5}, encode(product_photo()))
    assert r.status_code == 201, r.text
    r = await api.patch(f"/v1/products/{r.json()['id']}", json={"stock": 2**63}, headers=merchant)
    assert r.status_code == 422


async def test_one_huge_id_rejects_its_event_alone(api: httpx.AsyncClient, api_keys) -> None:
    merchant = as_key(api_keys, "merchant")
    product = (await create(api, merchant, {"sku": "s", "title": "T"}, encode(product_photo()))).json()["id"]
    events = [
        {"event_id": "ok", "user_id": "u", "timestamp": NOW, "type": "view", "product_id": product},
        {"event_id": "big", "user_id": "u", "timestamp": NOW, "type": "view", "product_id": 2**63},
        {"event_id": "ad", "user_id": "u", "timestamp": NOW, "type": "ad_click", "ad_id": 2**31},
    ]
    r = await api.post("/v1/events", json={"events": events}, headers=as_key(api_keys, "reader"))
    assert r.status_code == 200, r.text
    out = {e["event_id"]: e for e in r.json()["results"]}
    assert out["ok"]["status"] == "accepted"
    assert out["big"]["status"] == out["ad"]["status"] == "rejected"
    assert "between 1 and 2147483647" in out["big"]["reason"]
