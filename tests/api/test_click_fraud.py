"""Ad budgets cannot be drained, nor a creative's click rate raised, with fake clicks: only a click with an
impression token of that creative and shopper counts, once per token, and is charged when fresh and the campaign
runs; the others are recorded and counted as refused."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from shoplens.ads.tokens import TOKEN_TTL, Impression, check_token, issue_token, signing_key
from shoplens.db.base import utcnow
from tests.support.images import photos, png
from tests.support.service import as_key, event, new_campaign, upload

pytestmark = pytest.mark.anyio
PHOTOS = photos(4, seed=33)


async def _served(api: httpx.AsyncClient, api_keys, user: str = "alice") -> tuple[dict, dict, str]:
    """A campaign, its creative, and the impression token /v1/ads/select gave for it to `user`."""
    merchant = as_key(api_keys, "merchant")
    campaign = (await new_campaign(api, merchant, bid="1.00")).json()
    creative = (await upload(api, merchant, campaign["id"], png(PHOTOS[0]))).json()
    chosen = await api.get("/v1/ads/select", params={"user_id": user}, headers=as_key(api_keys, "reader"))
    (ad,) = chosen.json()["ads"]
    return campaign, creative, ad["impression_token"]


async def _report(api: httpx.AsyncClient, api_keys, campaign: dict) -> dict:
    return (
        await api.get(f"/v1/ads/campaigns/{campaign['id']}/report", headers=as_key(api_keys, "merchant"))
    ).json()


async def test_fake_clicks_cost_nothing_and_count_only_as_refused(api: httpx.AsyncClient, api_keys) -> None:
    campaign, creative, token = await _served(api, api_keys)
    reader, cid = as_key(api_keys, "reader"), creative["id"]
    for i in range(12):  # made-up shoppers, no token
        r = await event(api, reader, cid, "click", f"fake-{i}", user=f"bot-{i}")
        assert (
            r.status_code == 201
            and r.json()["charged"] is False
            and r.json()["refusal"] == "no impression token"
        )
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await event(api, reader, cid, "click", "forged", user="alice", impression_token=forged)).json()[
        "refusal"
    ] == "the impression token is not valid"
    other = await event(api, reader, cid, "click", "other", user="mallory", impression_token=token)
    assert other.json()["refusal"] == "the impression token is for another shopper"
    wrong = await event(api, reader, cid + 1, "click", "wrong", user="alice", impression_token=token)
    assert wrong.status_code == 404  # no such creative
    paid = await event(api, reader, cid, "click", "real", user="alice", impression_token=token)
    assert paid.json()["charged"] is True
    twice = await event(api, reader, cid, "click", "real-again", user="alice", impression_token=token)
    assert twice.json() | {"refusal": None} == paid.json() | {"event_id": "real-again", "charged": False}
    assert twice.json()["refusal"] == "the impression token was used for a click already"
    report = await _report(api, api_keys, campaign)
    assert report["spend"] == 1.0 and report["refused_clicks"] == 15
    assert (
        report["clicks"] == 1 and report["creatives"][0]["clicks"] == 1
    )  # what ranks the creative: the real one


async def test_clicks_on_an_ended_campaign_are_not_charged(api: httpx.AsyncClient, api_keys) -> None:
    campaign, creative, token = await _served(api, api_keys)
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    r = await api.patch(f"/v1/ads/campaigns/{campaign['id']}", json={"status": "ended"}, headers=merchant)
    assert r.status_code == 200
    late = await event(api, reader, creative["id"], "click", "late", user="alice", impression_token=token)
    assert late.json()["charged"] is False and late.json()["refusal"] == "the campaign is not running"
    report = await _report(api, api_keys, campaign)
    assert report["spend"] == 0 and report["refused_clicks"] == 1
    assert report["clicks"] == 1  # a shopper it was shown to did click


def test_tokens_expire_and_name_their_creative() -> None:
    key, now = signing_key(None), utcnow()
    token = issue_token(key, 7, "alice-key", now)
    assert isinstance(check_token(key, token, 7, "alice-key", now + timedelta(minutes=5)), Impression)
    assert check_token(key, token, 7, "alice-key", now + TOKEN_TTL + timedelta(seconds=2)) == (
        "the impression token has expired"
    )
    assert check_token(key, token, 8, "alice-key", now) == "the impression token is for another creative"
    assert (
        check_token(signing_key("other"), token, 7, "alice-key", now) == "the impression token is not valid"
    )
    anonymous = issue_token(key, 7, None, now)  # an anonymous page: any shopper may click it
    assert isinstance(check_token(key, anonymous, 7, "bob-key", now), Impression)
