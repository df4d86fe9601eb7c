"""Images that cost far more than their bytes: thin strips and requests of many large photos are refused from
their headers (4xx, quickly), and the request deadline covers decoding."""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path

import httpx
import pytest

from shoplens.api import create_app
from tests.imaging.strips import strip_png
from tests.support.images import encode, product_photo
from tests.support.service import as_key, create, serving, settings_for

pytestmark = pytest.mark.anyio


@cache
def strip(width: int, height: int, bits: int = 8) -> bytes:
    """strip_png, made once per session."""
    return strip_png(width, height, bits)


async def test_a_thin_strip_is_refused_by_every_upload_route(api: httpx.AsyncClient, api_keys) -> None:
    tall = strip(1, 30_000_000)  # 30 M pixels: under the pixel cap, but 30,000,000 : 1
    assert len(tall) < 100_000
    start = time.monotonic()
    r = await create(api, as_key(api_keys, "merchant"), {"sku": "s1", "title": "Strip"}, tall)
    assert r.status_code == 422 and "more than 64 times" in r.json()["detail"]
    r = await api.post(
        "/v1/search/duplicates",
        files={"file": ("s.png", strip(1, 30_000), "image/png")},
        headers=as_key(api_keys, "reader"),
    )
    assert r.status_code == 422
    r = await api.post(
        "/v1/classify", files={"file": ("s.png", tall, "image/png")}, headers=as_key(api_keys, "reader")
    )
    assert r.status_code == 422
    assert time.monotonic() - start < 10  # refused from the header: nothing decoded


async def test_many_large_images_are_refused_before_decoding(client: httpx.AsyncClient) -> None:
    big = strip(6300, 6300, bits=16)  # 40 M pixels of 16-bit grey: under the pixel cap, costly to decode
    files = [("files", (f"{i}.png", big, "image/png")) for i in range(16)]
    start = time.monotonic()
    r = await client.post("/v1/classify", files=files)
    assert r.status_code == 413, r.text
    assert "635,040,000 pixels together" in r.json()["detail"]
    assert time.monotonic() - start < 3


async def test_products_share_the_request_pixel_budget(api: httpx.AsyncClient, api_keys) -> None:
    big = strip(6300, 6300, bits=16)
    r = await create(api, as_key(api_keys, "merchant"), {"sku": "big", "title": "Big"}, big, big)
    assert r.status_code == 413 and "limit per request" in r.json()["detail"]


async def test_the_deadline_covers_decoding(models_root: Path, keys_file: Path, api_keys) -> None:
    settings = settings_for(models_root, keys_file, request_deadline_ms=300, max_request_pixels=10**9)
    big = strip(6300, 6300, bits=16)
    files = [("files", (f"{i}.png", big, "image/png")) for i in range(6)]
    async with serving(create_app(settings), headers=as_key(api_keys, "reader")) as c:
        start = time.monotonic()
        r = await c.post("/v1/classify", files=files)
        took = time.monotonic() - start
        assert r.status_code == 504, r.text
        assert took < 2.5  # decoding them all takes several seconds
        ok = await c.post("/v1/classify", files={"file": ("a.png", encode(product_photo()), "image/png")})
        assert ok.status_code == 200


@pytest.fixture(autouse=True)
def _warm_strips() -> None:
    """Build the big test images before a test's clock starts."""
    strip(6300, 6300, bits=16)
    strip(1, 30_000_000)
