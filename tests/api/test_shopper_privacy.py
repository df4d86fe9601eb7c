"""Shopper privacy: ids stay out of the logs, GETs write nothing for unknown or erased shoppers, an erased
shopper's later events are refused, expired cache rows go, no file (database, WAL, vector index) and no log holds
a trace of an erased shopper, profiles need the shopper-data scope."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from shoplens.api import create_app
from shoplens.api.keys import KeyStore
from shoplens.behaviour.events import ERASED, user_key
from shoplens.db.behaviour import CachedRecommendation, UserProfile
from tests.support.images import photos, png
from tests.support.privacy import files_holding, mentions
from tests.support.service import as_key, create, serving, settings_for

pytestmark = pytest.mark.anyio
SECRET = "pepper"


def _rows(app, table) -> int:  # type: ignore[no-untyped-def]
    with app.state.service.catalog().sessions() as s:
        return s.scalar(select(func.count()).select_from(table))


def _log_text(records: list[logging.LogRecord]) -> str:
    """Everything the log records say: messages, structured fields, exceptions."""
    return "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')} {r.exc_text or ''}" for r in records)


async def test_erasure_leaves_no_trace_and_later_requests_write_nothing(
    models_root: Path, keys_file: Path, api_keys, caplog: pytest.LogCaptureFixture
) -> None:
    catalog_dir = models_root.parent / "catalog"
    app = create_app(settings_for(models_root, keys_file, catalog_dir=catalog_dir, user_id_secret=SECRET))
    reader, admin, merchant = (
        as_key(api_keys, "reader"),
        as_key(api_keys, "admin"),
        as_key(api_keys, "merchant"),
    )
    pseudonym = user_key("zoe-4711", SecretStr(SECRET))
    caplog.set_level(logging.DEBUG)  # every logger, every level
    async with serving(app) as c:
        ids = [
            (await create(c, merchant, {"sku": f"s{i}", "title": f"T{i}"}, png(p))).json()["id"]
            for i, p in enumerate(photos(3, seed=8))
        ]
        campaign = (
            await c.post(
                "/v1/ads/campaigns", json={"name": "S", "budget": "10", "bid": "0.5"}, headers=merchant
            )
        ).json()
        ad = await c.post(
            f"/v1/ads/campaigns/{campaign['id']}/creatives",
            data={"headline": "New"},
            files={"file": ("ad.png", png(photos(1, seed=9)[0]), "image/png")},
            headers=merchant,
        )
        creative = ad.json()["id"]
        now = datetime.now(UTC).isoformat()
        events = [
            {"event_id": f"e{i}", "user_id": "zoe-4711", "type": "view", "product_id": p, "timestamp": now}
            for i, p in enumerate(ids)
        ]
        assert (await c.post("/v1/events", json={"events": events}, headers=reader)).json()["accepted"] == 3
        impression = {"event_id": "i1", "user_id": "zoe-4711"}
        assert (
            await c.post(f"/v1/ads/{creative}/impression", json=impression, headers=reader)
        ).status_code == 201
        assert (await c.get("/v1/users/zoe-4711/recommendations", headers=admin)).status_code == 200  # cached
        assert (await c.get("/v1/users/zoe-4711/profile", headers=admin)).status_code == 200
        logged = [r for r in caplog.records if r.name == "shoplens.access"]
        assert "/v1/users/{user_id}/recommendations" in _log_text(logged)  # the template, not the id
        assert _rows(app, CachedRecommendation) == _rows(app, UserProfile) == 1

        assert (await c.delete("/v1/users/zoe-4711?vacuum=true", headers=admin)).status_code == 200
        for _ in range(2):  # later requests for the erased shopper and for made-up ones write nothing
            for user in ("zoe-4711", "made-up-1", "made-up-2"):
                r = await c.get(f"/v1/users/{user}/recommendations", headers=reader)
                assert r.status_code == 200 and r.json()["cold_start"] is True
                r = await c.get("/v1/ads/select", params={"user_id": user}, headers=reader)
                assert r.status_code == 200 and r.json()["segment"] == "all"
                assert (await c.get(f"/v1/users/{user}/profile", headers=admin)).status_code == 404
        late = [{**events[0], "event_id": "late"}]
        r = await c.post("/v1/events", json={"events": late}, headers=reader)
        assert r.json()["rejected"] == 1 and r.json()["results"][0]["reason"] == ERASED
        r = await c.post(
            f"/v1/ads/{creative}/click", json={"event_id": "c1", "user_id": "zoe-4711"}, headers=reader
        )
        assert r.status_code == 409
        assert _rows(app, CachedRecommendation) == _rows(app, UserProfile) == 0
        catalog = app.state.service.catalog()
        assert mentions(catalog.sessions, pseudonym) == mentions(catalog.sessions, "zoe-4711") == []
        needles = [pseudonym.encode(), b"zoe-4711", b"made-up-1"]
        names = {p.name for p in catalog_dir.rglob("*") if p.is_file()}
        assert {"catalog.db", "catalog.db-wal"} <= names and any(n.endswith(".faiss") for n in names), names
        assert files_holding([catalog_dir, keys_file], needles) == []  # database, WAL, vector index, images
    assert files_holding([catalog_dir], needles) == []  # and once the server has closed the database
    served = [
        r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    ]  # not the test client's
    assert served and not any(n.decode() in _log_text(served) for n in needles)


async def test_profiles_need_the_shopper_data_scope(models_root: Path, keys_file: Path, api_keys) -> None:
    app = create_app(settings_for(models_root, keys_file))
    scoped = {"X-API-Key": KeyStore(keys_file).create("reader", "analyst", scopes=["shopper-data"])}
    async with serving(app) as c:
        (pid,) = [
            (await create(c, as_key(api_keys, "merchant"), {"sku": "s", "title": "T"}, png(p))).json()["id"]
            for p in photos(1, seed=9)
        ]
        event = {"event_id": "v", "user_id": "ann", "type": "view", "product_id": pid}
        event["timestamp"] = datetime.now(UTC).isoformat()
        await c.post("/v1/events", json={"events": [event]}, headers=scoped)
        codes = {
            who: (await c.get("/v1/users/ann/profile", headers=headers)).status_code
            for who, headers in [("scoped", scoped), *((r, as_key(api_keys, r)) for r in api_keys)]
        }
        assert codes == {"scoped": 200, "reader": 403, "merchant": 403, "admin": 200}
        refused = await c.get("/v1/users/ann/profile", headers=as_key(api_keys, "merchant"))
        assert "shopper-data" in refused.json()["detail"]
        operation = (await c.get("/openapi.json")).json()["paths"]["/v1/users/{user_id}/profile"]["get"]
        assert {"401", "403", "404"} <= set(operation["responses"])


async def test_expired_cache_rows_are_dropped(models_root: Path, keys_file: Path, api_keys) -> None:
    app = create_app(settings_for(models_root, keys_file))
    reader, admin = as_key(api_keys, "reader"), as_key(api_keys, "admin")
    async with serving(app) as c:
        (pid,) = [
            (await create(c, as_key(api_keys, "merchant"), {"sku": "s", "title": "T"}, png(p))).json()["id"]
            for p in photos(1, seed=9)
        ]
        stale = datetime(2020, 1, 1, tzinfo=UTC)
        with app.state.service.catalog().sessions.begin() as s:
            s.add(CachedRecommendation(user_id="old", k=10, payload="{}", created_at=stale))
        now = datetime.now(UTC).isoformat()
        event = {"event_id": "v", "user_id": "ann", "type": "view", "product_id": pid, "timestamp": now}
        await c.post("/v1/events", json={"events": [event]}, headers=reader)
        assert (await c.get("/v1/users/ann/recommendations", headers=reader)).status_code == 200
        with app.state.service.catalog().sessions() as s:  # a plain reader's answer is not cached
            assert "ann" not in list(s.scalars(select(CachedRecommendation.user_id)))
        assert (await c.get("/v1/users/ann/recommendations", headers=admin)).status_code == 200
        with app.state.service.catalog().sessions() as s:
            assert list(s.scalars(select(CachedRecommendation.user_id))) == ["ann"]


async def test_a_shopper_id_with_slashes_can_be_looked_up_and_erased(
    models_root: Path, keys_file: Path, api_keys
) -> None:
    from urllib.parse import quote

    app = create_app(settings_for(models_root, keys_file, catalog_dir=models_root.parent / "catalog"))
    merchant, admin = as_key(api_keys, "merchant"), as_key(api_keys, "admin")
    odd = "shop/eu?ref=1#a"  # ids arrive as the platform has them: an event can carry any
    async with serving(app) as c:
        pid = (await create(c, merchant, {"sku": "s", "title": "T"}, png(photos(1, seed=9)[0]))).json()["id"]
        event = {"event_id": "e1", "user_id": odd, "type": "view", "product_id": pid}
        event["timestamp"] = datetime.now(UTC).isoformat()
        assert (await c.post("/v1/events", json={"events": [event]}, headers=admin)).json()["accepted"] == 1
        path = f"/v1/users/{quote(odd, safe='')}"
        profile = await c.get(f"{path}/profile", headers=admin)
        assert profile.status_code == 200 and profile.json()["recent"] == [pid]
        assert (await c.get(f"{path}/recommendations", headers=admin)).status_code == 200
        assert (await c.delete(path, headers=admin)).status_code == 200  # erasure reaches them too
        assert (await c.get(f"{path}/profile", headers=admin)).status_code == 404


async def test_an_id_sent_with_spaces_is_erased_as_its_events_stored_it_and_nul_is_refused(
    models_root: Path, keys_file: Path, api_keys
) -> None:
    app = create_app(settings_for(models_root, keys_file, catalog_dir=models_root.parent / "catalog"))
    merchant, admin = as_key(api_keys, "merchant"), as_key(api_keys, "admin")
    async with serving(app) as c:
        pid = (await create(c, merchant, {"sku": "s", "title": "T"}, png(photos(1, seed=9)[0]))).json()["id"]
        now = datetime.now(UTC).isoformat()
        events = [
            {"event_id": "e1", "user_id": " gina ", "type": "view", "product_id": pid, "timestamp": now},
            {"event_id": "e2", "user_id": "a\x00b", "type": "view", "product_id": pid, "timestamp": now},
        ]
        answer = (await c.post("/v1/events", json={"events": events}, headers=admin)).json()
        assert answer["accepted"] == 1 and answer["rejected"] == 1  # the NUL one alone, the batch kept
        erased = await c.delete("/v1/users/%20gina%20", headers=admin)  # as the shop sent it
        assert erased.status_code == 200 and erased.json()["deleted"]["events"] == 1
        assert (await c.get("/v1/users/gina/profile", headers=admin)).status_code == 404
        nul = await c.delete("/v1/users/a%00b", headers=admin)
        assert nul.status_code == 400 and "NUL" in nul.json()["detail"]
        assert (await c.get("/v1/products?q=a%00b", headers=admin)).status_code == 400
        bad = await create(c, merchant, {"sku": "n", "title": "nul\x00title"}, png(photos(1, seed=3)[0]))
        assert bad.status_code == 422 and "NUL" in bad.json()["detail"]


async def test_recommendation_reasons_name_viewed_products_only_for_the_scope(
    models_root: Path, keys_file: Path, api_keys
) -> None:
    app = create_app(settings_for(models_root, keys_file))
    scoped = {"X-API-Key": KeyStore(keys_file).create("reader", "analyst", scopes=["shopper-data"])}
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    async with serving(app) as c:
        ids = [
            (
                await create(c, merchant, {"sku": f"s{i}", "title": f"Secret Jacket {i}", "stock": 5}, png(p))
            ).json()["id"]
            for i, p in enumerate(photos(4, seed=9))
        ]
        now = datetime.now(UTC).isoformat()
        event = {"event_id": "v", "user_id": "ann", "type": "view", "product_id": ids[0], "timestamp": now}
        await c.post("/v1/events", json={"events": [event]}, headers=reader)
        got = {
            who: (await c.get("/v1/users/ann/recommendations", headers=h)).json()["items"]
            for who, h in (("scoped", scoped), ("reader", reader))
        }
    said = {who: [i["reason"] for i in items] for who, items in got.items()}
    assert any("Secret Jacket" in r or "you viewed" in r for r in said["scoped"]), said
    assert not any("Secret Jacket" in r or "you viewed" in r or "you like" in r for r in said["reader"]), said
    shown = {who: [i["product_id"] for i in items] for who, items in got.items()}
    assert (
        ids[0] in shown["scoped"] and ids[0] not in shown["reader"]
    )  # the product she viewed: not to a reader
    assert sorted(shown["reader"]) == sorted(
        p for p in shown["scoped"] if p != ids[0]
    )  # the others, told less
