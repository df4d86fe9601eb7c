"""Colours over HTTP: products show their images' colours, the list filters by colour and attribute (problem+json
for bad filters, cursors bound to them), search by image takes a colour weight; SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.support.images import garment, png
from tests.support.service import as_key, create

pytestmark = pytest.mark.anyio
LOOKS = {"R1": (184, 50, 46), "B1": (53, 101, 168), "R2": (184, 50, 46)}


async def stock(api: httpx.AsyncClient, api_keys: dict[str, str]) -> dict[str, dict]:
    """The LOOKS as Bags of merchant acme (same shape, their colour); sku → product JSON."""
    merchant = as_key(api_keys, "merchant")
    out = {}
    for sku, colour in LOOKS.items():
        r = await create(api, merchant, {"sku": sku, "title": sku, "category": "Bag"}, png(garment(colour)))
        assert r.status_code == 201, r.text
        out[sku] = r.json()
    return out


async def skus(api: httpx.AsyncClient, headers: dict[str, str], **params: object) -> list[str]:
    """The skus a product list answers, newest first."""
    r = await api.get("/v1/products", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return [p["sku"] for p in r.json()["items"]]


async def test_products_show_colours_and_filter_by_them(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    reader = as_key(api_keys, "reader")
    products = await stock(api, api_keys)
    (image,) = products["B1"]["images"]
    assert (
        image["colours"] == [{"name": "blue", "hex": "#3565A8", "share": 1.0}] and image["attributes"] == {}
    )
    assert await skus(api, reader, colour="red") == ["R2", "R1"]
    assert await skus(api, reader, colour="Red,blue") == ["R2", "B1", "R1"]
    assert await skus(api, reader, colour=["blue", "red"], q="r1") == ["R1"]
    assert await skus(api, reader, colour="beige") == []
    page = (await api.get("/v1/products", params={"colour": "red", "limit": 1}, headers=reader)).json()
    assert page["total"] == 2 and [p["sku"] for p in page["items"]] == ["R2"]
    more = {"colour": "red", "limit": 1, "cursor": page["next_cursor"]}
    assert await skus(api, reader, **more) == ["R1"]
    r = await api.get("/v1/products", params={**more, "colour": "blue"}, headers=reader)
    assert r.status_code == 422 and "other filters" in r.json()["detail"]


async def test_bad_colour_and_attribute_filters_are_problems(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    reader = as_key(api_keys, "reader")
    for params, where, words in (
        ({"colour": "teal"}, "colour", "unknown colour 'teal'; colours: black, white"),
        ({"attribute": "striped"}, "attribute", "give attribute:value"),
        ({"colour": ["red"] * 21}, "colour", "at most 20"),
        ({"colour": " "}, "colour", "names no colour"),  # blank filters listed every product
        ({"colour": ","}, "colour", "names no colour"),
        ({"attribute": ","}, "attribute", "names nothing"),
    ):
        r = await api.get("/v1/products", params=params, headers=reader)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
        body = r.json()
        assert words in str(body) and body["errors"][0]["loc"] == ["query", where]
    assert await skus(api, reader, attribute="pattern:striped") == []  # a trained model sees no attributes
    palette = (await api.get("/v1/catalog/colours", headers=reader)).json()
    assert len(palette) == 16 and palette[10] == {"name": "red", "hex": "#B8322E"}


async def test_search_by_product_with_a_colour_weight(
    api: httpx.AsyncClient, api_keys: dict[str, str]
) -> None:
    reader = as_key(api_keys, "reader")
    products = await stock(api, api_keys)
    query = {"product_id": products["R1"]["id"]}
    r = await api.post("/v1/search/similar", params={"colour_weight": 1}, json=query, headers=reader)
    assert r.status_code == 200, r.text
    hits = r.json()["results"]
    assert [h["product"]["sku"] for h in hits] == ["R2", "B1"]  # by colour alone
    assert (
        hits[0]["colour_similarity"] == pytest.approx(1) and hits[0]["score"] == hits[0]["colour_similarity"]
    )
    plain = (await api.post("/v1/search/similar", json=query, headers=reader)).json()["results"]
    assert all(h["score"] == h["similarity"] and h["colour_similarity"] is None for h in plain)
    for bad in (-0.1, 1.5, "x"):
        r = await api.post("/v1/search/similar", params={"colour_weight": bad}, json=query, headers=reader)
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "colour_weight"]
