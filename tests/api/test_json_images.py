"""Classify with images sent as JSON (base64 or a URL fetched under the fetch policy), and min_confidence /
max_results next to top_k."""

from __future__ import annotations

import base64
import threading
from collections.abc import AsyncIterator, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from shoplens.api import create_app
from tests.support.images import encode, product_photo
from tests.support.service import as_key, classify, create, serving, settings_for

pytestmark = pytest.mark.anyio
PHOTO = encode(product_photo())
B64 = base64.b64encode(PHOTO).decode()


@pytest.fixture
def photo_host(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 with the photo at /p.png (and a page that is not an image)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "p.png").write_bytes(PHOTO)
    (root / "page.html").write_text("<html></html>")
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
async def fetching(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A reader's client to an app that may fetch images from 127.0.0.1."""
    settings = settings_for(models_root, keys_file, image_fetch_hosts="127.0.0.1", image_fetch_private=True)
    async with serving(create_app(settings), headers={"X-API-Key": api_keys["reader"]}) as c:
        yield c


async def test_base64_image_answers_as_the_same_upload(client: httpx.AsyncClient) -> None:
    form = (await classify(client, PHOTO)).json()["results"][0]
    r = await client.post("/v1/classify", json={"image": {"base64": B64}})
    assert r.status_code == 200, r.text
    (item,) = r.json()["results"]
    assert item["index"] == 0 and "filename" not in item and item["top"] == form["top"]
    many = await client.post("/v1/classify", json={"images": [{"base64": B64}, {"base64": B64}]})
    assert [x["index"] for x in many.json()["results"]] == [0, 1]


async def test_bad_json_images_are_problems_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/classify", json={"images": [{"base64": B64}, {"base64": "not base64!"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "images", 1, "base64"]
    both = await client.post("/v1/classify", json={"image": {"base64": B64, "url": "http://x/y.png"}})
    assert both.status_code == 422 and both.json()["code"] == "validation_error"
    garbage = await client.post("/v1/classify", content=b"{", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400 and garbage.headers["content-type"] == "application/problem+json"
    pdf = await client.post(
        "/v1/classify", json={"image": {"base64": base64.b64encode(b"%PDF-1.4").decode()}}
    )
    assert pdf.status_code == 415 and pdf.json()["code"] == "unsupported_image_format"


async def test_urls_are_refused_unless_hosts_are_allowed(client: httpx.AsyncClient, photo_host: str) -> None:
    r = await client.post("/v1/classify", json={"image": {"url": f"{photo_host}/p.png"}})
    assert r.status_code == 422 and r.json()["code"] == "image_fetch_failed"
    assert "not enabled" in r.json()["detail"]


async def test_url_images_are_fetched_under_the_policy(fetching: httpx.AsyncClient, photo_host: str) -> None:
    direct = (await classify(fetching, PHOTO)).json()["results"][0]["top"]
    mixed = {"images": [{"base64": B64}, {"url": f"{photo_host}/p.png"}]}
    r = await fetching.post("/v1/classify", json=mixed)
    assert r.status_code == 200, r.text
    assert [x["top"] for x in r.json()["results"]] == [direct, direct]
    for url, reason in [
        (f"{photo_host}/page.html", "image"),
        ("http://example.invalid/p.png", "not allowed"),
    ]:
        bad = await fetching.post("/v1/classify", json={"images": [{"base64": B64}, {"url": url}]})
        assert bad.status_code == 422 and bad.json()["code"] == "image_fetch_failed", bad.text
        assert bad.json()["detail"].startswith("image 1 (") and reason in bad.json()["detail"]


async def test_min_confidence_and_max_results(client: httpx.AsyncClient) -> None:
    ten = (await classify(client, PHOTO, top_k=10)).json()["results"][0]["top"]
    assert len(ten) == 10
    same = (await classify(client, PHOTO, max_results=10)).json()["results"][0]["top"]
    assert same == ten
    cut = ten[2]["probability"]
    kept = (await classify(client, PHOTO, top_k=10, min_confidence=cut)).json()["results"][0]["top"]
    assert kept == [t for t in ten if t["probability"] >= cut] and len(kept) < 10
    clash = await classify(client, PHOTO, top_k=3, max_results=5)
    assert clash.status_code == 422 and "give one" in clash.json()["detail"]


async def test_search_by_a_json_image(api: httpx.AsyncClient, api_keys: dict[str, str]) -> None:
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    created = (await create(api, merchant, {"sku": "p", "title": "Photo"}, PHOTO)).json()
    r = await api.post("/v1/search/similar", json={"image": {"base64": B64}}, headers=reader)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["product"]["id"] == created["id"]
    for body in ({"product_id": 2**40}, {"image": {"base64": B64}, "product_id": created["id"]}):
        bad = await api.post("/v1/search/similar", json=body, headers=reader)
        assert bad.status_code == 422 and bad.json()["code"] == "validation_error", bad.text
    url = await api.post(
        "/v1/search/similar", json={"image": {"url": "http://example.com/p.png"}}, headers=reader
    )
    assert url.status_code == 422 and url.json()["code"] == "image_fetch_failed"


async def test_a_slow_image_host_gets_the_deadline_not_more(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> None:
    from tests.support.image_server import Server

    host = (
        Server()
    )  # /slow answers after 1.5 s; the request's deadline is 1 s, with a retry the fetch took 2+
    threading.Thread(target=host.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    settings = settings_for(
        models_root,
        keys_file,
        image_fetch_hosts="127.0.0.1",
        image_fetch_private=True,
        request_deadline_ms=1000,
    )
    try:
        async with serving(create_app(settings), headers={"X-API-Key": api_keys["reader"]}) as c:
            r = await c.post("/v1/classify", json={"image": {"url": host.url("/slow")}})
        assert r.status_code == 504 and r.json()["code"] == "deadline_exceeded", r.text  # was 422 after 2+ s
    finally:
        host.stop.set()
        host.shutdown()
        host.server_close()
