"""Open mode trusts only the machine itself: loopback Host names, same-origin changes, read-only by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoplens.api import create_app
from tests.support.images import encode, product_photo
from tests.support.service import classify, serving, settings_for

pytestmark = pytest.mark.anyio
LOCAL = "http://127.0.0.1:8000"


async def test_open_mode_is_read_only_by_default(models_root: Path, keys_file: Path) -> None:
    async with serving(create_app(settings_for(models_root, keys_file, open_mode=True)), base_url=LOCAL) as c:
        assert (await classify(c, encode(product_photo()))).status_code == 200
        assert (await c.get("/v1/models")).status_code == 200
        r = await c.post("/v1/models/v1/activate")
        assert r.status_code == 403 and "--open-write" in r.json()["detail"]


async def test_open_mode_answers_only_loopback_host_names(models_root: Path, keys_file: Path) -> None:
    app = create_app(settings_for(models_root, keys_file, open_mode=True, open_write=True))
    async with serving(app, base_url=LOCAL) as c:
        for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", "app.localhost"):
            assert (await c.get("/v1/models", headers={"Host": host})).status_code == 200, host
        for host in (
            "attacker.example",
            "attacker.example:8000",
            "127.0.0.1.nip.io",
            "0.0.0.0",
        ):  # DNS rebinding
            r = await c.get("/v1/models", headers={"Host": host})
            assert r.status_code == 403 and "loopback host names" in r.json()["detail"], host


async def test_open_mode_refuses_changes_from_other_sites(models_root: Path, keys_file: Path) -> None:
    app = create_app(settings_for(models_root, keys_file, open_mode=True, open_write=True))
    async with serving(app, base_url=LOCAL) as c:
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": "http://127.0.0.1:3000"},  # another local site
            {"Sec-Fetch-Site": "cross-site"},
        ):
            r = await c.post("/v1/models/v1/activate", headers=headers)
            assert r.status_code == 403 and "another site" in r.json()["detail"], headers
        assert (await c.post("/v1/models/v1/activate", headers={"Origin": LOCAL})).status_code == 200
        assert (await c.get("/v1/models", headers={"Origin": "https://evil.example"})).status_code == 200
