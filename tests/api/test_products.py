"""Products, search by image, duplicates and QA over HTTP (ASGI), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from shoplens.api import create_app
from shoplens.catalog.demo import near_duplicate
from shoplens.data.fashion_mnist import CLASS_NAMES
from tests.support.images import jpeg_with_gps, photos, png
from tests.support.service import as_key, create, multipart, serving, settings_for

pytestmark = pytest.mark.anyio
PHOTOS = photos(6, seed=21)


async def test_lists_and_searches_keep_to_the_statuses_and_stock_asked_for(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    """A shop front asks for products on sale: drafts, archived and sold-out ones stay out of the list and both
    searches; a status none of the products' statuses is a 422 naming them."""
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    shown = {
        "on-sale": {"status": "active", "stock": 2},
        "sold-out": {"status": "active", "stock": 0},
        "draft": {"status": "draft", "stock": 5},
        "archived": {"status": "archived", "stock": 5},
    }
    for (sku, fields), photo in zip(shown.items(), PHOTOS):
        r = await create(api, merchant, {"sku": sku, "title": f"Summer bag {sku}", **fields}, png(photo))
        assert r.status_code == 201, r.text

    async def skus(method: str, path: str, params: dict[str, object], **kw: object) -> set[str]:
        r = await api.request(method, path, params=params, headers=reader, **kw)  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        body = r.json()
        return {
            hit["product"]["sku"] if "product" in hit else hit["sku"]
            for hit in body.get("items") or body["results"]
        }

    for method, path, params, kw in (
        ("GET", "/v1/products", {}, {}),
        ("GET", "/v1/search", {"q": "summer bag"}, {}),
        ("POST", "/v1/search/similar", {"k": 10}, {"files": {"file": png(PHOTOS[0])}}),
    ):
        assert await skus(method, path, params, **kw) == set(shown), path
        on_sale = {**params, "status": "active", "in_stock": "true"}
        assert await skus(method, path, on_sale, **kw) == {"on-sale"}, path
        assert await skus(method, path, {**params, "status": "draft,ARCHIVED"}, **kw) == {"draft", "archived"}
        assert await skus(method, path, {**params, "in_stock": "true"}, **kw) == {
            "on-sale",
            "draft",
            "archived",
        }
        bad = await api.request(method, path, params={**params, "status": "sold"}, headers=reader, **kw)  # type: ignore[arg-type]
        assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "status"], bad.text
        assert "unknown status 'sold'; statuses: active, draft, archived" in bad.text


async def test_create_get_list_update_delete(api: httpx.AsyncClient, api_keys: dict[str, str]) -> None:
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    r = await create(
        api,
        merchant,
        {"sku": "A1", "title": "Red bag", "brand": "Lumo", "price": "19.90", "category": "Bag", "stock": 3},
        png(PHOTOS[0]),
    )
    assert r.status_code == 201, r.text
    product = r.json()
    assert product["merchant"] == "acme" and product["price"] == 19.9 and product["category"] == "Bag"
    (image,) = product["images"]
    assert image["predicted_category"] and image["model_version"] == "v2" and len(image["sha256"]) == 64
    await create(api, merchant, {"sku": "A2", "title": "Blue coat", "category": "Coat"}, png(PHOTOS[1]))
    assert (await api.get(f"/v1/products/{product['id']}", headers=reader)).json()["sku"] == "A1"
    page = (await api.get("/v1/products", params={"category": "Bag"}, headers=reader)).json()
    assert page["total"] == 1 and page["items"][0]["sku"] == "A1"
    for path, params in (("/v1/products", {}), ("/v1/search", {"q": "bag"})):  # a typo filtered to nothing
        r = await api.get(path, params={**params, "category": "Bags"}, headers=reader)
        assert r.status_code == 422 and "unknown category 'Bags'; categories: " in r.text, r.text
    r = await api.post(
        "/v1/search/similar", params={"category": "Bags"}, files={"file": png(PHOTOS[0])}, headers=reader
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "category"]
    assert (await api.get("/v1/products", params={"q": "COAT"}, headers=reader)).json()["total"] == 1
    assert (await api.get("/v1/products", params={"merchant": "acme", "limit": 1}, headers=reader)).json()[
        "total"
    ] == 2
    r = await api.patch(f"/v1/products/{product['id']}", json={"price": 15, "stock": 0}, headers=merchant)
    assert r.status_code == 200 and r.json()["price"] == 15 and r.json()["stock"] == 0
    path = f"/v1/products/{product['id']}"
    blank = await api.patch(
        path, json={"title": "   "}, headers=merchant
    )  # it was 200, the title stored blank
    assert blank.status_code == 422 and "title is required" in blank.json()["detail"]  # as on create
    assert (await api.get(path, headers=reader)).json()["title"] == r.json()["title"]
    assert (await api.delete(f"/v1/products/{product['id']}", headers=merchant)).status_code == 204
    assert (await api.get(f"/v1/products/{product['id']}", headers=reader)).status_code == 404
    assert (await api.get("/v1/products", headers=reader)).json()["total"] == 1


async def test_idempotency_key_replays_the_first_answer(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    merchant = as_key(api_keys, "merchant")
    body = {"sku": "K1", "title": "Tee"}
    first = await create(api, merchant, body, png(PHOTOS[2]), **{"Idempotency-Key": "abc-1"})
    again = await create(api, merchant, body, png(PHOTOS[2]), **{"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    other = await create(
        api, merchant, {"sku": "K2", "title": "Other"}, png(PHOTOS[3]), **{"Idempotency-Key": "abc-1"}
    )
    assert other.status_code == 409 and "different request" in other.json()["detail"]
    listed = (await api.get("/v1/products", headers=merchant)).json()
    assert listed["total"] == 1
    # Without a key, the same product again is recognised as already there.
    assert (await create(api, merchant, body, png(PHOTOS[2]))).status_code == 200


async def test_merchants_change_only_their_own_products(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    admin, merchant, reader = (as_key(api_keys, r) for r in ("admin", "merchant", "reader"))
    theirs = (
        await create(api, admin, {"merchant": "globex", "sku": "G1", "title": "Hat"}, png(PHOTOS[0]))
    ).json()
    r = await create(api, merchant, {"merchant": "globex", "sku": "X", "title": "Sneaky"}, png(PHOTOS[1]))
    assert r.status_code == 403
    assert (
        await api.patch(f"/v1/products/{theirs['id']}", json={"title": "Mine"}, headers=merchant)
    ).status_code == 403
    assert (await api.delete(f"/v1/products/{theirs['id']}", headers=merchant)).status_code == 403
    assert (await create(api, reader, {"sku": "R", "title": "No"}, png(PHOTOS[1]))).status_code == 403
    assert (await create(api, admin, {"sku": "R", "title": "Whose?"}, png(PHOTOS[1]))).status_code == 422
    assert (
        await api.patch(f"/v1/products/{theirs['id']}", json={"title": "Admin may"}, headers=admin)
    ).status_code == 200


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({"product": '{"sku": "s", "title": "t"}', "pdf": b"%PDF-1.7"}, 415, "supported"),
        ({"product": "{not json", "png": True}, 422, "product"),
        ({"product": '{"sku": "s"}', "png": True}, 422, "title"),
        (
            {"product": '{"sku": "s", "title": "t", "category": "Rocket"}', "png": True},
            422,
            "unknown category",
        ),
        ({"product": '{"sku": "s", "title": "t", "price": -1}', "png": True}, 422, "price"),
        ({"product": '{"sku": "s", "title": "t", "colour": "red"}', "png": True}, 422, "colour"),
        ({"product": '{"sku": "s", "title": "t"}'}, 422, "at least one image"),
        ({"png": True}, 422, "product"),
    ],
)
async def test_bad_products_get_clear_4xx(
    api: httpx.AsyncClient, api_keys: dict[str, str], form: dict, status: int, words: str
) -> None:
    files = []
    if form.get("png"):
        files.append(("files", ("p.png", png(PHOTOS[0]), "image/png")))
    if "pdf" in form:
        files.append(("files", ("doc.pdf", form["pdf"], "application/pdf")))
    headers = as_key(api_keys, "merchant")
    data = {"product": form["product"]} if "product" in form else {"other": "x"}
    if files:
        r = await api.post("/v1/products", data=data, files=files, headers=headers)
    else:  # a multipart form without files
        body, content_type = multipart([(k, None, v.encode()) for k, v in data.items()])
        r = await api.post("/v1/products", content=body, headers={**headers, "Content-Type": content_type})
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


async def test_non_multipart_and_bad_filters_are_4xx(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    headers = as_key(api_keys, "merchant")
    assert (await api.post("/v1/products", json={"sku": "s"}, headers=headers)).status_code == 415
    assert (await api.get("/v1/products", params={"flag": "shiny"}, headers=headers)).status_code == 422
    assert (await api.get("/v1/products", params={"limit": 0}, headers=headers)).status_code == 422
    assert (await api.get("/v1/products/999999", headers=headers)).status_code == 404
    assert (await api.get("/v1/products", headers={})).status_code == 401


async def test_search_by_photo_and_by_product(api: httpx.AsyncClient, api_keys: dict[str, str]) -> None:
    admin, reader = as_key(api_keys, "admin"), as_key(api_keys, "reader")
    ids = []
    for i, p in enumerate(PHOTOS):
        r = await create(api, admin, {"merchant": f"m{i % 2}", "sku": f"S{i}", "title": f"Item {i}"}, png(p))
        ids.append(r.json()["id"])
    r = await api.post(
        "/v1/search/similar",
        params={"k": 3},
        files={"file": ("q.png", png(PHOTOS[4]), "image/png")},
        headers=reader,
    )
    assert r.status_code == 200, r.text
    hits = r.json()["results"]
    assert (
        len(hits) == 3
        and hits[0]["product"]["id"] == ids[4]
        and hits[0]["similarity"] == pytest.approx(1, abs=1e-3)
    )
    assert hits[0]["image"]["url"].startswith("/v1/images/") and r.json()["model_version"] == "v2"
    assert [h["similarity"] for h in hits] == sorted((h["similarity"] for h in hits), reverse=True)
    r = await api.post("/v1/search/similar", params={"k": 10}, json={"product_id": ids[4]}, headers=reader)
    assert ids[4] not in [h["product"]["id"] for h in r.json()["results"]] and len(r.json()["results"]) == 5
    r = await api.post(
        "/v1/search/similar", params={"merchant": "m1"}, data={"product_id": str(ids[0])}, headers=reader
    )
    assert {h["product"]["merchant"] for h in r.json()["results"]} == {"m1"}
    r = await api.post(
        "/v1/search/similar", params={"min_similarity": 0.999999}, json={"product_id": ids[0]}, headers=reader
    )
    assert all(h["similarity"] >= 0.999999 for h in r.json()["results"])
    for bad, status in (
        ({"json": {}}, 422),
        ({"json": {"product_id": 10**6}}, 404),
        ({"content": b"x"}, 415),
        ({"files": {"file": ("a.pdf", b"%PDF", "application/pdf")}}, 415),
    ):
        assert (await api.post("/v1/search/similar", headers=reader, **bad)).status_code == status


async def test_duplicates_qa_and_images(api: httpx.AsyncClient, api_keys: dict[str, str]) -> None:
    admin, reader = as_key(api_keys, "admin"), as_key(api_keys, "reader")
    orig = (
        await create(
            api, admin, {"merchant": "m1", "sku": "O", "title": "Original"}, jpeg_with_gps(PHOTOS[5])
        )
    ).json()
    copy = near_duplicate(PHOTOS[5], np.random.default_rng(3))
    dup = (await create(api, admin, {"merchant": "m2", "sku": "D", "title": "Copy"}, copy)).json()
    other = (
        await create(api, admin, {"merchant": "m3", "sku": "X", "title": "Other"}, png(PHOTOS[0]))
    ).json()
    assert "duplicate" in dup["flags"] and "duplicate" not in other["flags"]
    found = (await api.get(f"/v1/products/{orig['id']}/duplicates", headers=reader)).json()
    assert [d["product"]["id"] for d in found] == [dup["id"]]
    assert (await api.get(f"/v1/products/{other['id']}/duplicates", headers=reader)).json() == []
    qa = (await api.get("/v1/catalog/qa", headers=reader)).json()
    assert qa["products"] == 3 and qa["duplicate_groups"] == 1 and qa["flags"]["duplicate"]["count"] == 2
    flagged = (await api.get("/v1/products", params={"flag": "duplicate"}, headers=reader)).json()
    assert {p["id"] for p in flagged["items"]} == {orig["id"], dup["id"]}
    image = orig["images"][0]
    stored = await api.get(image["url"], headers=reader)
    assert stored.status_code == 200 and stored.headers["content-type"] == "image/png"
    assert b"PrivateCam" not in stored.content and not Image.open(io.BytesIO(stored.content)).getexif()
    thumb = await api.get(image["thumbnail_url"], headers=reader)
    assert Image.open(io.BytesIO(thumb.content)).size == (128, 128)
    assert (await api.get("/v1/images/" + "0" * 64, headers=reader)).status_code == 404
    assert (await api.get("/v1/images/..%2F..%2Fetc", headers=reader)).status_code == 404
    assert (await api.get("/v1/catalog/categories", headers=reader)).json()[8] == "Bag"


async def test_correcting_the_category_clears_the_mismatch(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    merchant = as_key(api_keys, "merchant")
    product = (await create(api, merchant, {"sku": "C", "title": "Thing"}, png(PHOTOS[1]))).json()
    predicted = product["images"][0]["predicted_category"]
    r = await api.patch(f"/v1/products/{product['id']}", json={"category": predicted}, headers=merchant)
    assert r.status_code == 200 and r.json()["category"] == predicted and "mismatch" not in r.json()["flags"]
    r = await api.patch(f"/v1/products/{product['id']}", json={"category": "Rocket"}, headers=merchant)
    assert r.status_code == 422


async def test_changing_the_category_to_one_the_model_rules_out_sets_the_mismatch(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], database_url: str
) -> None:
    # A rule that calls any disagreement a mismatch (the test model is not sure of anything): the route judges by
    # the catalogue's own rule.
    settings = settings_for(
        models_root,
        keys_file,
        database_url=database_url,
        mismatch_min_confidence=0.0,
        mismatch_max_declared=1.0,
    )
    async with serving(create_app(settings)) as api:
        merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
        product = (await create(api, merchant, {"sku": "W", "title": "Thing"}, png(PHOTOS[1]))).json()
        url, predicted = f"/v1/products/{product['id']}", product["images"][0]["predicted_category"]
        assert "mismatch" not in product["flags"]  # nothing declared
        wrong = next(c for c in CLASS_NAMES if c != predicted)
        r = await api.patch(url, json={"category": wrong}, headers=merchant)
        assert r.status_code == 200 and "mismatch" in r.json()["flags"] and r.json()["images"][0]["mismatch"]
        flagged = (await api.get("/v1/products", params={"flag": "mismatch"}, headers=reader)).json()
        assert [p["id"] for p in flagged["items"]] == [product["id"]]
        assert (
            "mismatch"
            not in (await api.patch(url, json={"category": predicted}, headers=merchant)).json()["flags"]
        )
        await api.patch(url, json={"category": wrong}, headers=merchant)
        r = await api.patch(url, json={"category": None}, headers=merchant)
        assert "mismatch" not in r.json()["flags"]  # nothing declared: nothing to contradict
