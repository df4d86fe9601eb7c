"""The audits' smaller findings: keys file errors, LIKE wildcards, ancient events, the database file's mode, what
the OpenAPI document says of one-image routes and event times, loosely typed product ids."""

from __future__ import annotations

import asyncio
import stat
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shoplens.api import create_app
from shoplens.db.engine import make_engine
from tests.support.images import photos, png
from tests.support.service import as_key, create, serving, settings_for

pytestmark = pytest.mark.anyio


async def test_a_corrupt_keys_file_is_503_without_its_path(
    models_root: Path, keys_file: Path, api_keys
) -> None:
    async with serving(create_app(settings_for(models_root, keys_file))) as c:
        keys_file.write_text("{ not json")
        r = await c.get("/v1/models", headers=as_key(api_keys, "reader"))
        assert r.status_code == 503 and str(keys_file.parent) not in r.text and "keys" in r.json()["detail"]


async def test_like_wildcards_in_q_match_themselves(api: httpx.AsyncClient, api_keys) -> None:
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    a, b = photos(2, seed=14)
    await create(api, merchant, {"sku": "a", "title": "Plain tee"}, png(a))
    await create(api, merchant, {"sku": "b", "title": "50% off_bag"}, png(b))
    for q, total in (("%", 1), ("_", 1), ("off_b", 1), ("t_e", 0), ("tee", 1)):
        r = await api.get("/v1/products", params={"q": q}, headers=reader)
        assert r.json()["total"] == total, q


async def test_events_from_long_ago_are_rejected_alone(api: httpx.AsyncClient, api_keys) -> None:
    (pid,) = [
        (await create(api, as_key(api_keys, "merchant"), {"sku": "s", "title": "T"}, png(p))).json()["id"]
        for p in photos(1, seed=15)
    ]
    now = datetime.now(UTC).isoformat()
    events = [
        {
            "event_id": "old",
            "user_id": "u",
            "type": "view",
            "product_id": pid,
            "timestamp": "0001-01-01T00:00:00Z",
        },
        {"event_id": "new", "user_id": "u", "type": "view", "product_id": pid, "timestamp": now},
    ]
    r = (await api.post("/v1/events", json={"events": events}, headers=as_key(api_keys, "reader"))).json()
    assert [x["status"] for x in r["results"]] == ["rejected", "accepted"]
    assert "days in the past" in r["results"][0]["reason"]


def test_a_new_sqlite_database_is_owner_only(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c' / 'catalog.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    engine.dispose()
    for path in (tmp_path / "c").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name


async def test_a_deleted_products_image_is_not_served_once_nothing_refers_to_it(
    api: httpx.AsyncClient, api_keys
) -> None:
    admin, reader = as_key(api_keys, "admin"), as_key(api_keys, "reader")
    shared, own = (png(p) for p in photos(2, seed=16))
    a = (await create(api, admin, {"merchant": "m1", "sku": "a", "title": "A"}, shared, own)).json()
    b = (await create(api, admin, {"merchant": "m2", "sku": "b", "title": "B"}, shared)).json()
    urls = [image["url"] for image in a["images"]]
    assert b["images"][0]["url"] == urls[0]  # one stored file, two products
    assert [(await api.get(url, headers=reader)).status_code for url in urls] == [200, 200]
    assert (await api.delete(f"/v1/products/{a['id']}", headers=admin)).status_code == 204
    assert [(await api.get(url, headers=reader)).status_code for url in urls] == [200, 404]
    assert (await api.get(urls[1] + "?variant=thumb", headers=reader)).status_code == 404
    assert (await api.delete(f"/v1/products/{b['id']}", headers=admin)).status_code == 204
    assert (await api.get(urls[0], headers=reader)).status_code == 404


async def test_form_fields_that_are_not_utf8_are_refused_not_stored(api: httpx.AsyncClient, api_keys) -> None:
    merchant = as_key(api_keys, "merchant")
    (photo,) = (png(p) for p in photos(1, seed=17))
    product = b'{"sku": "u", "title": "caf\xe9 \xff"}'  # Latin-1 bytes, not UTF-8
    files = [("files", ("0.png", photo, "image/png"))]
    r = await api.post("/v1/products", data={"product": product}, files=files, headers=merchant)
    assert r.status_code == 400 and "'product' is not valid utf-8" in r.json()["detail"], r.text
    listed = await api.get("/v1/products", headers=as_key(api_keys, "reader"))
    assert listed.json()["total"] == 0
    good = product.decode("latin-1").encode()  # the same text, as UTF-8
    r = await api.post("/v1/products", data={"product": good}, files=files, headers=merchant)
    assert r.status_code == 201 and r.json()["title"] == "café ÿ"


async def test_concurrent_first_writes_to_a_fresh_catalogue_all_succeed(
    api: httpx.AsyncClient, api_keys
) -> None:
    admin = as_key(api_keys, "admin")
    images = [png(p) for p in photos(4, seed=21)]
    answers = await asyncio.gather(  # each would create the taxonomy and the merchant "new" if absent
        *(
            create(api, admin, {"merchant": "new", "sku": f"s{i}", "title": "T"}, x)
            for i, x in enumerate(images)
        )
    )
    assert [a.status_code for a in answers] == [201] * 4, [a.text[:200] for a in answers]
    campaigns = await asyncio.gather(
        *(
            api.post(
                "/v1/ads/campaigns",
                json={"merchant": f"c{i % 2}", "name": f"n{i}", "budget": 5, "bid": 1},
                headers=admin,
            )
            for i in range(4)
        )
    )
    assert [c.status_code for c in campaigns] == [201] * 4, [c.text[:200] for c in campaigns]


async def test_the_schema_says_what_the_routes_take(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    form = doc["paths"]["/v1/search/duplicates"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["required"] == ["file"] and set(form["schema"]["properties"]) == {
        "file"
    }  # one photo
    timestamp = doc["components"]["schemas"]["EventCreate"]["properties"]["timestamp"]
    assert timestamp["description"].startswith("Required")  # a missing one rejects its event


@pytest.mark.parametrize("product_id", [True, "1", 1.0])
async def test_a_product_id_that_is_no_integer_is_refused(
    api: httpx.AsyncClient, api_keys, product_id
) -> None:
    await create(api, as_key(api_keys, "merchant"), {"sku": "s", "title": "T"}, png(photos(1, seed=16)[0]))
    r = await api.post(
        "/v1/search/similar", json={"product_id": product_id}, headers=as_key(api_keys, "reader")
    )
    assert r.status_code == 422, r.text
    r = await api.post("/v1/search/similar", json={"product_id": 1}, headers=as_key(api_keys, "reader"))
    assert r.status_code == 200


async def test_search_by_image_cuts_nothing_by_default(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    params = {p["name"]: p for p in doc["paths"]["/v1/search/similar"]["post"]["parameters"]}
    assert params["min_similarity"]["schema"]["default"] == -1.0  # k answers whatever the cosines: none cut
