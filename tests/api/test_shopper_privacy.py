"""Shopper privacy: ids stay out of the access log, GETs write nothing for unknown or erased shoppers, expired
cache rows go, the SQLite file and its WAL hold no trace of an erased shopper, profiles are admin-only."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from shoplens.api import create_app
from shoplens.behaviour.events import user_key
from shoplens.db.behaviour import CachedRecommendation, UserProfile
from tests.support.images import photos, png
from tests.support.service import as_key, create, serving, settings_for

pytestmark = pytest.mark.anyio
SECRET = "pepper"


def _rows(app, table) -> int:  # type: ignore[no-untyped-def]
    with app.state.service.catalog().sessions() as s:
        return s.scalar(select(func.count()).select_from(table))


async def test_erasure_leaves_no_trace_and_gets_write_nothing(
    models_root: Path, keys_file: Path, api_keys, caplog: pytest.LogCaptureFixture
) -> None:
    catalog_dir = models_root.parent / "catalog"
    app = create_app(settings_for(models_root, keys_file, catalog_dir=catalog_dir, user_id_secret=SECRET))
    reader, admin = as_key(api_keys, "reader"), as_key(api_keys, "admin")
    pseudonym = user_key("zoe-4711", SecretStr(SECRET)).encode()
    async with serving(app) as c:
        ids = [
            (
                await create(c, as_key(api_keys, "merchant"), {"sku": f"s{i}", "title": f"T{i}"}, png(p))
            ).json()["id"]
            for i, p in enumerate(photos(3, seed=8))
        ]
        now = datetime.now(UTC).isoformat()
        events = [
            {"event_id": f"e{i}", "user_id": "zoe-4711", "type": "view", "product_id": p, "timestamp": now}
            for i, p in enumerate(ids)
        ]
        with caplog.at_level(logging.INFO, logger="shoplens.access"):
            assert (await c.post("/v1/events", json={"events": events}, headers=reader)).json()[
                "accepted"
            ] == 3
            assert (await c.get("/v1/users/zoe-4711/recommendations", headers=reader)).status_code == 200
            assert (await c.get("/v1/users/zoe-4711/profile", headers=reader)).status_code == 403
            assert (await c.get("/v1/users/zoe-4711/profile", headers=admin)).status_code == 200
        logged = " ".join(str(getattr(r, "fields", "")) for r in caplog.records)
        assert "/v1/users/{user_id}/recommendations" in logged and "zoe-4711" not in logged
        assert _rows(app, CachedRecommendation) == 1

        assert (await c.delete("/v1/users/zoe-4711?vacuum=true", headers=admin)).status_code == 200
        for _ in range(2):  # later requests for the erased shopper and for made-up ones write nothing
            for user in ("zoe-4711", "made-up-1", "made-up-2"):
                r = await c.get(f"/v1/users/{user}/recommendations", headers=reader)
                assert r.status_code == 200 and r.json()["cold_start"] is True
        assert _rows(app, CachedRecommendation) == _rows(app, UserProfile) == 0
        files = list(catalog_dir.glob("catalog.db*")) + [p for p in catalog_dir.rglob("*") if p.is_file()]
        assert any(p.name == "catalog.db" for p in files)
        leaking = [p.name for p in files if pseudonym in p.read_bytes() or b"zoe-4711" in p.read_bytes()]
        assert leaking == []


async def test_expired_cache_rows_are_dropped(models_root: Path, keys_file: Path, api_keys) -> None:
    app = create_app(settings_for(models_root, keys_file))
    reader = as_key(api_keys, "reader")
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
        with app.state.service.catalog().sessions() as s:
            assert list(s.scalars(select(CachedRecommendation.user_id))) == ["ann"]
