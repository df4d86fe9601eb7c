"""Ads over HTTP (ASGI), on SQLite and PostgreSQL: campaigns, creatives, selection, ad events, reports, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from shoplens.api import create_app
from shoplens.api.keys import KeyStore
from shoplens.db.behaviour import Event
from tests.support.images import photos, png
from tests.support.service import CAMPAIGN, as_key, create, event, new_campaign, serving, settings_for, upload

pytestmark = pytest.mark.anyio
PHOTOS = photos(4, seed=33)


@pytest.fixture
def other_merchant(keys_file: Path, api_keys: dict[str, str]) -> dict[str, str]:
    """Headers with a key of another merchant (globex)."""
    return {"X-API-Key": KeyStore(keys_file).create("merchant", "globex key", merchant="globex")}


async def test_campaign_creative_selection_events_and_report(
    api: httpx.AsyncClient,
    api_keys: dict[str, str],
) -> None:
    merchant, reader, admin = (
        as_key(api_keys, "merchant"),
        as_key(api_keys, "reader"),
        as_key(api_keys, "admin"),
    )
    r = await new_campaign(api, merchant, target_categories=[])
    assert r.status_code == 201, r.text
    campaign = r.json()
    assert campaign["merchant"] == "acme" and campaign["budget"] == 10.0 and campaign["budget_left"] == 10.0
    r = await upload(api, merchant, campaign["id"], png(PHOTOS[0]))
    assert r.status_code == 201, r.text
    creative = r.json()
    assert (
        creative["predicted_category"]
        and 0 < creative["confidence"] <= 1
        and creative["model_version"] == "v2"
    )
    image = await api.get(creative["url"], headers=reader)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    product = (await create(api, merchant, {"sku": "P1", "title": "Tee"}, png(PHOTOS[1]))).json()

    r = await api.get(
        "/v1/ads/select",
        params={"user_id": "shopper-1", "context_product_id": product["id"], "slots": 3},
        headers=reader,
    )
    assert r.status_code == 200, r.text
    chosen = r.json()
    assert chosen["segment"] == "all" and chosen["eligible"] == 1 and chosen["model_version"] == "v2"
    (ad,) = chosen["ads"]
    assert ad["creative"]["id"] == creative["id"] and ad["campaign_name"] == "Spring"
    assert ad["parts"]["context_similarity"] is not None and ad["parts"]["user_similarity"] is None
    assert 0 <= ad["parts"]["sampled_ctr"] <= 1 and ad["parts"]["bid"] == 0.5

    for i in range(4):
        assert (await event(api, reader, creative["id"], "impression", f"imp-{i}")).status_code == 201
    first = await event(
        api, reader, creative["id"], "click", "click-1", impression_token=ad["impression_token"]
    )
    assert first.status_code == 201 and first.json() == {
        "event_id": "click-1",
        "creative_id": creative["id"],
        "type": "ad_click",
        "recorded": True,
        "charged": True,
        "refusal": None,
    }
    again = await event(api, reader, creative["id"], "click", "click-1")
    assert again.status_code == 200 and again.json()["recorded"] is False

    report = (await api.get(f"/v1/ads/campaigns/{campaign['id']}/report", headers=merchant)).json()
    assert (report["impressions"], report["clicks"], report["ctr"]) == (4, 1, 0.25)
    assert report["spend"] == 0.5 and report["budget_left"] == 9.5 and report["creatives"][0]["clicks"] == 1
    r = await api.patch(
        f"/v1/ads/campaigns/{campaign['id']}", json={"status": "paused", "budget": "20"}, headers=merchant
    )
    assert r.status_code == 200 and r.json()["status"] == "paused" and r.json()["budget_left"] == 19.5
    assert (await api.get("/v1/ads/select", headers=reader)).json()["ads"] == []  # paused: nothing to show
    listed = (await api.get("/v1/ads/campaigns", headers=admin)).json()
    assert [c["id"] for c in listed] == [campaign["id"]] and len(listed[0]["creatives"]) == 1


async def test_keys_and_ownership(
    api: httpx.AsyncClient,
    api_keys: dict[str, str],
    other_merchant: dict[str, str],
) -> None:
    merchant, reader, admin = (
        as_key(api_keys, "merchant"),
        as_key(api_keys, "reader"),
        as_key(api_keys, "admin"),
    )
    campaign = (await new_campaign(api, merchant)).json()
    creative = (await upload(api, merchant, campaign["id"], png(PHOTOS[0]))).json()
    path = f"/v1/ads/campaigns/{campaign['id']}"
    # No key: 401 everywhere.
    for method, url in (
        ("GET", "/v1/ads/campaigns"),
        ("POST", "/v1/ads/campaigns"),
        ("GET", path),
        ("GET", "/v1/ads/select"),
        ("POST", f"/v1/ads/{creative['id']}/click"),
    ):
        assert (await api.request(method, url, json=CAMPAIGN)).status_code == 401, url
    # A reader key cannot manage campaigns.
    assert (await new_campaign(api, reader)).status_code == 403
    assert (await api.get(path, headers=reader)).status_code == 403
    # Another merchant: 403 on acme's campaign, and cannot create one for acme.
    assert (await api.get(path, headers=other_merchant)).status_code == 403
    assert (await api.patch(path, json={"name": "mine"}, headers=other_merchant)).status_code == 403
    assert (await api.get(f"{path}/report", headers=other_merchant)).status_code == 403
    assert (await upload(api, other_merchant, campaign["id"], png(PHOTOS[1]))).status_code == 403
    assert (await new_campaign(api, other_merchant, merchant="acme")).status_code == 403
    assert (
        await api.get("/v1/ads/campaigns", params={"merchant": "acme"}, headers=other_merchant)
    ).status_code == 403
    assert (await api.get("/v1/ads/campaigns", headers=other_merchant)).json() == []
    # An admin must name the merchant, and may then act for any.
    assert (await new_campaign(api, admin)).status_code == 422
    r = await new_campaign(api, admin, merchant="globex")
    assert r.status_code == 201 and r.json()["merchant"] == "globex"
    assert [c["merchant"] for c in (await api.get("/v1/ads/campaigns", headers=other_merchant)).json()] == [
        "globex"
    ]
    assert (await api.get(path, headers=admin)).status_code == 200


async def test_bad_input_is_refused(api: httpx.AsyncClient, api_keys: dict[str, str]) -> None:
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    for fields in (
        {"budget": "-1"},
        {"bid": "0"},
        {"budget": "1.001"},
        {"bid": "20"},
        {"name": ""},
        {"target_categories": ["Spaceship"]},
        {"status": "ended"},
        {"surprise": 1},
        {"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"},
        {"starts_at": "0001-01-01T00:00:00+14:00"},  # before year 1 in UTC (it was a 500)
        {"ends_at": "9999-12-31T23:59:59-14:00"},  # past year 9999 in UTC
    ):
        r = await new_campaign(api, merchant, **fields)
        assert r.status_code == 422, (fields, r.text)
    campaign = (await new_campaign(api, merchant)).json()
    cid = campaign["id"]
    assert (
        await upload(api, merchant, cid, b"%PDF-1.7 not an image", content_type="application/pdf")
    ).status_code == 415
    assert (await upload(api, merchant, cid, png(PHOTOS[0]), headline=None)).status_code == 422
    assert (await upload(api, merchant, cid + 100, png(PHOTOS[0]))).status_code == 404
    r = await api.post(f"/v1/ads/campaigns/{cid}/creatives", json={"headline": "x"}, headers=merchant)
    assert r.status_code == 415
    assert (
        await api.patch(f"/v1/ads/campaigns/{cid}", json={"budget": None}, headers=merchant)
    ).status_code == 422
    for change in ({"status": "gone"}, {"ends_at": "9999-12-31T23:59:59-14:00"}):
        assert (
            await api.patch(f"/v1/ads/campaigns/{cid}", json=change, headers=merchant)
        ).status_code == 422, change
    assert (await api.get(f"/v1/ads/campaigns/{cid + 100}", headers=merchant)).status_code == 404
    for params in ({"slots": 0}, {"slots": 11}, {"context_product_id": 0}, {"user_id": "x" * 101}):
        assert (await api.get("/v1/ads/select", params=params, headers=reader)).status_code == 422, params
    assert (
        await api.get("/v1/ads/select", params={"context_product_id": 999}, headers=reader)
    ).status_code == 404
    assert (await event(api, reader, 999, "impression", "e1")).status_code == 404
    creative = (await upload(api, merchant, cid, png(PHOTOS[0]))).json()
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await event(api, reader, creative["id"], "click", "e2", ts=future)).status_code == 422
    for ts in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z"):  # out of range; older than events take
        r = await event(api, reader, creative["id"], "impression", "e3", ts=ts)
        assert r.status_code == 422 and r.json()["code"] != "internal_error", (ts, r.text)
    for blank in ("event_id", "user_id"):  # ids are stripped as /v1/events strips them: blank is no id
        body = {"event_id": "e4", "user_id": "u", blank: "   "}
        r = await api.post(f"/v1/ads/{creative['id']}/impression", json=body, headers=reader)
        assert r.status_code == 422, blank
    surrogate = await api.post(  # valid JSON naming a lone surrogate, which no database text can hold
        f"/v1/ads/{creative['id']}/impression",
        content=b'{"event_id": "e5", "user_id": "\\ud800x"}',
        headers={**reader, "Content-Type": "application/json"},
    )
    assert surrogate.status_code == 422
    assert (
        await api.post(f"/v1/ads/{creative['id']}/click", json={"user_id": "u"}, headers=reader)
    ).status_code == 422


async def test_shopper_ids_are_pseudonymised_consistently(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], database_url: str
) -> None:
    app = create_app(settings_for(models_root, keys_file, database_url=database_url, user_id_secret="pepper"))
    async with serving(app) as c:
        merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
        campaign = (await new_campaign(c, merchant)).json()
        creative = (await upload(c, merchant, campaign["id"], png(PHOTOS[0]))).json()
        for i in range(3):  # the default cap: 3 impressions a day
            assert (
                await event(c, reader, creative["id"], "impression", f"i{i}", user="alice")
            ).status_code == 201
        capped = await c.get("/v1/ads/select", params={"user_id": "alice"}, headers=reader)
        fresh = await c.get("/v1/ads/select", params={"user_id": "bob"}, headers=reader)
        assert capped.json()["ads"] == [] and len(fresh.json()["ads"]) == 1
        with app.state.service.catalog().sessions() as session:
            stored = set(session.scalars(select(Event.user_id)))
        assert len(stored) == 1 and "alice" not in stored and len(stored.pop()) == 64


async def test_ad_events_sent_through_post_events_count_in_reports(
    api: httpx.AsyncClient,
    api_keys: dict[str, str],
) -> None:
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    campaign = (await new_campaign(api, merchant)).json()
    creative = (await upload(api, merchant, campaign["id"], png(PHOTOS[1]))).json()
    now = datetime.now(UTC)
    batch = [
        {
            "event_id": f"e{i}",
            "user_id": "u1",
            "type": kind,
            "ad_id": creative["id"],
            "timestamp": (now - timedelta(minutes=10 - i)).isoformat(),
        }
        for i, kind in enumerate(["ad_impression", "ad_impression", "ad_click"])
    ]
    r = await api.post("/v1/events", json={"events": batch}, headers=reader)
    assert r.status_code == 200 and r.json()["accepted"] == 3
    again = await api.post("/v1/events", json={"events": batch}, headers=reader)  # repeats change nothing
    assert again.json()["duplicates"] == 3
    report = (await api.get(f"/v1/ads/campaigns/{campaign['id']}/report", headers=merchant)).json()
    assert (report["impressions"], report["clicks"]) == (2, 0)  # a click without a token ranks nothing
    assert report["spend"] == 0 and report["refused_clicks"] == 1  # recorded, refused, not charged
    chosen = await api.get("/v1/ads/select", params={"user_id": "u1"}, headers=reader)
    (ad,) = chosen.json()["ads"]
    click = {
        "event_id": " with-token ",  # stored stripped: its token must still be found
        "user_id": "u1",
        "type": "ad_click",
        "ad_id": creative["id"],
        "timestamp": datetime.now(UTC).isoformat(),
        "impression_token": ad["impression_token"],
    }
    r = await api.post("/v1/events", json={"events": [click]}, headers=reader)
    assert r.json()["accepted"] == 1
    report = (await api.get(f"/v1/ads/campaigns/{campaign['id']}/report", headers=merchant)).json()
    assert (
        report["clicks"] == 1 and report["refused_clicks"] == 1 and report["spend"] == float(campaign["bid"])
    )
