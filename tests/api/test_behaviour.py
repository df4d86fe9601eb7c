"""Events, profiles, recommendations, related products, trends and erasure over HTTP (ASGI), SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from shoplens.api import create_app
from shoplens.behaviour.events import user_key
from shoplens.db.base import Base
from shoplens.db.behaviour import Event
from tests.support.images import photos, png
from tests.support.service import as_key, create, serving, settings_for

pytestmark = pytest.mark.anyio
PHOTOS = photos(6, seed=31)
CATEGORIES = ("Coat", "Bag", "Sneaker")
SECRET = "pepper"
SOURCES = ("visual", "covis", "category", "trending")
REASON = re.compile(
    r"looks like Thing \d you viewed|often viewed together( with Thing \d)?|you viewed it recently|looks similar"
    r"|popular in \w+(, a category you like)?|trending in \w+|new in \w+"
    r"|picked for this shopper('s taste)?|often viewed together with what this shopper viewed"  # a plain reader's
    r"|popular in a category this shopper likes"
)


@pytest.fixture
async def app_client(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], database_url: str
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app (with a user-id secret) and a client; no key sent by default."""
    app = create_app(settings_for(models_root, keys_file, database_url=database_url, user_id_secret=SECRET))
    async with serving(app) as c:
        yield app, c


async def products(c: httpx.AsyncClient, api_keys: dict[str, str]) -> list[int]:
    """Six products, two per category; the last one out of stock."""
    ids = []
    for i, img in enumerate(PHOTOS):
        body = {
            "sku": f"B{i}",
            "title": f"Thing {i}",
            "category": CATEGORIES[i % 3],
            "stock": 0 if i == 5 else 4,
        }
        r = await create(c, as_key(api_keys, "merchant"), body, png(img))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def ev(
    event_id: str, user: str, product: int | None, kind: str = "view", minutes_ago: float = 60, **extra: Any
) -> dict[str, Any]:
    ts = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    return {
        "event_id": event_id,
        "user_id": user,
        "type": kind,
        "timestamp": ts,
        "product_id": product,
        **extra,
    }


def everything(app: Any) -> list[str]:
    """Every text value stored in any table."""
    catalog = app.state.service.catalog()
    with catalog.sessions() as s:
        return [
            v
            for t in Base.metadata.sorted_tables
            for row in s.execute(select(t))
            for v in row
            if isinstance(v, str)
        ]


async def test_events_profile_recommendations_related_trends_erasure(
    app_client: tuple[Any, httpx.AsyncClient], api_keys: dict[str, str]
) -> None:
    app, c = app_client
    reader, admin = as_key(api_keys, "reader"), as_key(api_keys, "admin")
    ids = await products(c, api_keys)
    batch = [
        ev("a1", "ann", ids[0], session_id="x"),
        ev("a2", "ann", ids[3], session_id="x"),
        ev("a3", "ann", ids[1], "purchase", 30, session_id="x"),
        ev("a1", "ann", ids[0]),
        ev("bad", "ann", 999_999),
        ev("late", "ann", ids[0], minutes_ago=-60),
        ev("b1", "bob", ids[0], session_id="y"),
        ev("b2", "bob", ids[2], session_id="y"),
        ev("b3", "bob", ids[5], session_id="y"),
    ]
    assert (await c.post("/v1/events", json={"events": batch})).status_code == 401
    r = await c.post("/v1/events", json={"events": batch}, headers=reader)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (6, 1, 2)
    results = {x["event_id"]: x for x in body["results"][4:6]}
    assert results["bad"] == {
        "event_id": "bad",
        "status": "rejected",
        "code": 422,
        "reason": "unknown product 999999",
    }
    assert results["late"]["code"] == 422 and "future" in results["late"]["reason"]
    assert body["results"][3]["status"] == "duplicate" and body["results"][0]["code"] == 201
    again = (await c.post("/v1/events", json={"events": batch[:2]}, headers=reader)).json()
    assert again["duplicates"] == 2 and again["accepted"] == 0
    lone = await c.post(  # valid JSON naming a lone surrogate, which no database text holds: that event only
        "/v1/events",
        content=json.dumps({"events": [ev("\ud800", "ann", ids[0]), ev("s2", "\udfffx", ids[0])]}).encode(),
        headers={**reader, "Content-Type": "application/json"},
    )
    assert lone.status_code == 200 and lone.json()["rejected"] == 2, lone.text
    assert all("lone surrogate" in x["reason"] for x in lone.json()["results"])
    r = await c.post(
        "/v1/events", json={"events": [ev(str(i), "ann", ids[0]) for i in range(1001)]}, headers=reader
    )
    assert r.status_code == 413 and "at most 1000" in r.json()["detail"]

    assert (await c.get("/v1/users/ann/profile", headers=reader)).status_code == 403  # shopper data: admin
    profile = (await c.get("/v1/users/ann/profile", headers=admin)).json()
    assert (
        profile["user_id"] == "ann"
        and profile["events"] == 3
        and profile["recent"] == [ids[1], ids[3], ids[0]]
    )
    assert (
        profile["top_categories"][0]["category"] == "Bag"
        and abs(sum(x * x for x in profile["taste"]) - 1) < 1e-4
    )
    assert (await c.get("/v1/users/nobody/profile", headers=admin)).status_code == 404

    rec = (await c.get("/v1/users/ann/recommendations", params={"k": 4}, headers=admin)).json()
    got = [i["product_id"] for i in rec["items"]]
    assert not rec["cold_start"] and not rec["cached"] and len(got) == 4
    assert ids[1] not in got and ids[5] not in got  # bought, out of stock
    assert all(REASON.fullmatch(i["reason"]) and i["source"] in SOURCES for i in rec["items"]), rec["items"]
    assert (await c.get("/v1/users/ann/recommendations", params={"k": 4}, headers=admin)).json()["cached"]
    plain = (await c.get("/v1/users/ann/recommendations", params={"k": 4}, headers=reader)).json()
    assert sorted(i["product_id"] for i in plain["items"]) == sorted([ids[2], ids[4]])  # none she viewed
    assert not plain["cached"] and all(REASON.fullmatch(i["reason"]) for i in plain["items"])
    await c.post("/v1/events", json={"events": [ev("a9", "ann", ids[4], minutes_ago=1)]}, headers=reader)
    assert not (await c.get("/v1/users/ann/recommendations", params={"k": 4}, headers=admin)).json()["cached"]
    cold = (await c.get("/v1/users/newcomer/recommendations", headers=reader)).json()
    assert cold["cold_start"] and cold["items"] and ids[5] not in [i["product_id"] for i in cold["items"]]
    assert (await c.get("/v1/users/ann/recommendations", params={"k": 0}, headers=reader)).status_code == 422

    related = (await c.get(f"/v1/products/{ids[0]}/related", params={"k": 3}, headers=reader)).json()
    assert related["product_id"] == ids[0] and ids[0] not in [i["product_id"] for i in related["items"]]
    assert len(related["items"]) == 3 and all(REASON.fullmatch(i["reason"]) for i in related["items"])
    assert (await c.get("/v1/products/999999/related", headers=reader)).status_code == 404

    trends = (await c.get("/v1/trends/categories", params={"days": 2}, headers=reader)).json()
    coats = [row for row in trends["rows"] if row["category"] == "Coat"]
    assert sum(row["uploads"] for row in coats) == 2 and sum(row["views"] for row in coats) == 3
    assert sum(row["purchases"] for row in trends["rows"]) == 1

    key = user_key("ann", SecretStr(SECRET))
    stored = everything(app)
    assert key in stored and "ann" not in stored  # pseudonymised on the way in
    assert (await c.delete("/v1/users/ann", headers=reader)).status_code == 403
    assert (await c.delete("/v1/users/%20", headers=admin)).status_code == 422  # a blank id names nobody
    for part in ("profile", "recommendations"):  # not an erasure of a shopper named "ann/profile"
        wrong = await c.delete(f"/v1/users/ann/{part}", headers=admin)
        assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
        assert "DELETE /v1/users/{user_id}" in wrong.json()["detail"]
    assert key in everything(app)
    r = await c.delete("/v1/users/ann", headers=admin)
    assert (
        r.status_code == 200
        and r.json()["deleted"]["events"] == 4
        and r.json()["deleted"]["user_profiles"] == 1
    )
    assert key not in everything(app)
    assert (await c.get("/v1/users/ann/profile", headers=admin)).status_code == 404
    again = await c.delete("/v1/users/ann", headers=admin)
    assert again.status_code == 200 and set(again.json()["deleted"].values()) == {0}
    with app.state.service.catalog().sessions() as s:
        assert s.scalars(select(Event.user_id).distinct()).all() == [user_key("bob", SecretStr(SECRET))]
