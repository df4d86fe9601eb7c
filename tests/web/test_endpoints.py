"""The console's routes over ASGI: the page and its allowlisted static files, report files, merchants,
shoppers, and the duplicate check of an uploaded photo."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from shoplens.api import create_app
from shoplens.catalog.demo import near_duplicate
from shoplens.web import STATIC_DIR, static_files
from tests.support.images import photos, png
from tests.support.service import as_key, create, serving, settings_for

pytestmark = pytest.mark.anyio
PHOTOS = photos(3, seed=41)
IMPORTS = re.compile(r'from "\./([a-z0-9_-]+\.js)"')
PAGE_ASSETS = re.compile(r'(?:href|src)="/static/([^"]+)"')


@pytest.fixture
async def c(models_root: Path, keys_file: Path, api_keys: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the console routes; no key sent by default."""
    async with serving(create_app(settings_for(models_root, keys_file))) as client:
        yield client


async def test_the_page_and_every_file_it_loads_are_served_from_here(c: httpx.AsyncClient) -> None:
    page = await c.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    again = await c.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304 and not again.content
    wanted = set(PAGE_ASSETS.findall(page.text))
    for name in [n for n in static_files() if n.endswith(".js")]:
        wanted |= set(IMPORTS.findall((STATIC_DIR / name).read_text()))
    assert {"app.js", "app.css", "api.js", "charts.js", "catalog.js", "logo.svg"} <= wanted
    for name in wanted:
        r = await c.get(f"/static/{name}")
        assert r.status_code == 200, name
        kind = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[name.rsplit(".", 1)[1]]
        assert r.headers["content-type"].startswith(kind)


def test_nothing_comes_from_another_origin() -> None:
    for path in [STATIC_DIR / "index.html", *static_files().values()]:
        urls = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", path.read_text()))
        assert urls <= {"http://www.w3.org/2000/svg"}, (path.name, urls)


async def test_only_allowlisted_static_files_are_served(c: httpx.AsyncClient) -> None:
    for name in ("nope.js", "..%2F__init__.py", "%2e%2e%2fapp.py", "index.html", "app.JS", ".hidden.js"):
        assert (await c.get(f"/static/{name}")).status_code == 404, name
    assert (await c.get("/static/../api/app.py")).status_code == 404


async def test_report_files_by_allowlisted_name(
    c: httpx.AsyncClient, models_root: Path, api_keys: dict[str, str]
) -> None:
    reader = as_key(api_keys, "reader")
    report = models_root / "fashion-mnist" / "v1" / "report"
    report.mkdir()
    (report / "metrics.json").write_text(json.dumps({"accuracy": 0.5, "confusion_matrix": [[1]]}))
    (report / "reliability.png").write_bytes(png(PHOTOS[0]))
    (report / "report.md").write_text("# not served")
    (models_root / "fashion-mnist" / "v2" / "metrics.json").write_text(json.dumps({"accuracy": 0.7}))
    assert (await c.get("/v1/models/v1/report/metrics.json")).status_code == 401
    r = await c.get("/v1/models/v1/report/metrics.json", headers=reader)
    assert r.status_code == 200 and r.json()["accuracy"] == 0.5
    r = await c.get("/v1/models/v1/report/reliability.png", headers=reader)
    assert (
        r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content.startswith(b"\x89PNG")
    )
    fallback = await c.get(
        "/v1/models/v2/report/metrics.json", headers=reader
    )  # no report/: the bundle's metrics
    assert fallback.status_code == 200 and fallback.json() == {"accuracy": 0.7}
    missing = await c.get("/v1/models/v2/report/training_curves.png", headers=reader)
    assert missing.status_code == 404 and "has no training_curves.png" in missing.json()["detail"]
    for path in (
        "v1/report/report.md",
        "v1/report/config.json",
        "v3/report/metrics.json",
        "..%2Fv1/report/metrics.json",
    ):
        assert (await c.get(f"/v1/models/{path}", headers=reader)).status_code == 404, path


async def test_merchants_and_shoppers(c: httpx.AsyncClient, api_keys: dict[str, str]) -> None:
    admin, reader = as_key(api_keys, "admin"), as_key(api_keys, "reader")
    for i, merchant in enumerate(("beta", "alpha", "beta")):
        r = await create(
            c, admin, {"merchant": merchant, "sku": f"S{i}", "title": f"Thing {i}"}, png(PHOTOS[i])
        )
        assert r.status_code == 201, r.text
    r = await c.get("/v1/catalog/merchants", headers=reader)
    assert [(m["id"], m["products"]) for m in r.json()] == [("alpha", 1), ("beta", 2)]
    now = datetime.now(UTC).isoformat()
    events = [
        {"event_id": f"e{i}", "user_id": user, "type": "view", "product_id": 1, "timestamp": now}
        for i, user in enumerate(["ann", "bob", "bob"])
    ]
    r = await c.post("/v1/events", json={"events": events}, headers=reader)
    assert r.json()["accepted"] == 3, r.text
    assert (await c.get("/v1/users", headers=reader)).status_code == 403  # shopper ids are for admins
    users = (await c.get("/v1/users", headers=admin)).json()
    assert users["pseudonymised"] is False
    assert [(u["user_id"], u["events"]) for u in users["users"]] == [("bob", 2), ("ann", 1)]
    assert [
        u["user_id"] for u in (await c.get("/v1/users", params={"limit": 1}, headers=admin)).json()["users"]
    ] == ["bob"]


async def test_pseudonymised_shoppers_are_not_listed(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> None:
    app = create_app(settings_for(models_root, keys_file, user_id_secret="pepper"))
    async with serving(app, headers=as_key(api_keys, "admin")) as c:
        assert (await c.get("/v1/users")).json() == {"pseudonymised": True, "users": []}


async def test_the_duplicate_check_finds_a_near_copy_and_stores_nothing(
    c: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    admin, reader = as_key(api_keys, "admin"), as_key(api_keys, "reader")
    original = (
        await create(c, admin, {"merchant": "m1", "sku": "O", "title": "Original"}, png(PHOTOS[0]))
    ).json()
    await create(c, admin, {"merchant": "m2", "sku": "X", "title": "Other"}, png(PHOTOS[1]))

    async def check(data: bytes) -> httpx.Response:
        return await c.post(
            "/v1/search/duplicates", files={"file": ("q.jpg", data, "image/jpeg")}, headers=reader
        )

    found = (await check(near_duplicate(PHOTOS[0], np.random.default_rng(5)))).json()
    assert [(h["product"]["id"], h["image"]["id"]) for h in found["results"]] == [
        (original["id"], original["images"][0]["id"])
    ]
    assert found["results"][0]["similarity"] >= 0.8 and found["model_version"] == "v1"
    assert (await check(png(PHOTOS[2]))).json()["results"] == []
    pdf = await check(b"%PDF-1.4\n%%EOF\n")
    assert pdf.status_code == 415 and "not a supported image" in pdf.json()["detail"]
    assert (
        await c.post("/v1/search/duplicates", files={"file": ("q.png", png(PHOTOS[0]))})
    ).status_code == 401
    assert (await c.get("/v1/products", headers=reader)).json()["total"] == 2  # nothing was stored
