"""Model versions over HTTP: list, activate (hot reload under load), refuse broken bundles, roll back, readiness."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shoplens.api import create_app
from shoplens.config import Settings
from shoplens.inference.calibrate import candidate_runtimes
from shoplens.inference.export import export_onnx
from shoplens.inference.store import ModelStore
from shoplens.models.bundle import read_bundle_spec
from tests.support.bundles import NAME, corrupt_bundle, make_bundle
from tests.support.images import encode, product_photo
from tests.support.service import classify, serving, settings_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def admin(api_keys: dict[str, str]) -> dict[str, str]:
    """Headers with the admin key."""
    return {"X-API-Key": api_keys["admin"]}


async def served_version(client) -> str:
    """The version that answered a classify request."""
    r = await classify(client, encode(product_photo()))
    assert r.status_code == 200, r.text
    return r.json()["model"]["version"]


async def test_list_versions_with_accuracy_active_and_serving(client) -> None:
    r = await client.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == NAME and body["active"] == "v2" and body["serving"] == "v2"
    assert [(v["version"], v["accuracy"], v["serving"]) for v in body["versions"]] == [
        ("v2", 0.83, True),
        ("v1", 0.81, False),
    ]
    assert body["runtime"] == {  # a bundle without model.onnx runs on torch; no calibration to show
        "runtime": "torch",
        "chosen_by": "settings",
        "rule": None,
        "cpu_flags": [],
        "candidates": [],
    }


async def test_the_runtime_auto_chose_is_listed_with_its_calibration(
    models_root: Path, keys_file: Path, api_keys
) -> None:
    export_onnx(models_root / NAME / "v2")
    app = create_app(settings_for(models_root, keys_file))
    async with serving(app, headers={"X-API-Key": api_keys["reader"]}) as c:
        runtime = (await c.get("/v1/models")).json()["runtime"]
    tried = {row["runtime"]: row for row in runtime["candidates"]}
    expected = candidate_runtimes(read_bundle_spec(models_root / NAME / "v2"))
    assert list(tried) == expected and runtime["runtime"] in tried and "agreement" in runtime["rule"]
    assert tried["onnxruntime"]["passed"] and tried["onnxruntime"]["top1_agreement"] == 1.0
    assert runtime["chosen_by"] == ("calibration" if len(expected) > 1 else "the only candidate that passed")


async def test_activate_then_rollback_switches_what_serves(client, admin) -> None:
    assert await served_version(client) == "v2"
    r = await client.post("/v1/models/v1/activate", headers=admin)
    assert r.status_code == 200 and r.json() == {"name": NAME, "version": "v1", "previous": "v2"}
    assert await served_version(client) == "v1"
    r = await client.post("/v1/models/rollback", headers=admin)
    assert r.status_code == 200 and r.json()["version"] == "v2"
    assert await served_version(client) == "v2"
    r = await client.post("/v1/models/rollback", headers=admin)
    assert r.status_code == 409 and "roll back" in r.json()["detail"]


async def test_unknown_version_is_404(client, admin) -> None:
    for version in ("v9", "..", "v1%2F..%2F.."):
        r = await client.post(f"/v1/models/{version}/activate", headers=admin)
        assert r.status_code == 404, version
        assert isinstance(r.json()["detail"], str)
    r = await client.post("/v1/models/%00/activate", headers=admin)  # no id holds a NUL
    assert r.status_code == 400 and "NUL" in r.json()["detail"]


async def test_a_corrupt_bundle_is_refused_and_the_old_version_keeps_serving(
    client, admin, models_root: Path
) -> None:
    corrupt_bundle(models_root, "v3")
    r = await client.post("/v1/models/v3/activate", headers=admin)
    assert r.status_code == 422 and "v3" in r.json()["detail"]
    assert await served_version(client) == "v2"
    assert ModelStore(models_root, NAME).marked_active() == "v2"  # nothing was written


async def test_a_near_chance_version_is_refused_unless_forced(client, admin, models_root: Path) -> None:
    make_bundle(models_root, "v3", seed=3, accuracy=0.11)
    r = await client.post("/v1/models/v3/activate", headers=admin)
    assert r.status_code == 422 and "near chance" in r.json()["detail"]
    assert await served_version(client) == "v2"
    r = await client.post("/v1/models/v3/activate", params={"force": "true"}, headers=admin)
    assert r.status_code == 200 and r.json()["version"] == "v3"
    assert await served_version(client) == "v3"


async def test_hot_reload_under_concurrent_requests_never_fails_one(client, admin) -> None:
    png = encode(product_photo())
    share = asyncio.Semaphore(Settings().max_inflight_per_caller)  # one key: more would get 429

    async def one() -> tuple[int, str | None]:
        async with share:
            r = await classify(client, png)
        return r.status_code, r.json().get("model", {}).get("version")

    async def flip() -> list[int]:
        codes = []
        for version in ("v1", "v2", "v1"):
            await asyncio.sleep(0.01)
            codes.append((await client.post(f"/v1/models/{version}/activate", headers=admin)).status_code)
        return codes

    results, codes = await asyncio.gather(asyncio.gather(*(one() for _ in range(60))), flip())
    assert codes == [200, 200, 200]
    assert {status for status, _ in results} == {200}
    assert {version for _, version in results} <= {"v1", "v2"}
    assert await served_version(client) == "v1"


async def test_nothing_serves_until_a_version_is_activated(tmp_path: Path, keys_file: Path, api_keys) -> None:
    models_root = tmp_path / "models"
    app = create_app(settings_for(models_root, keys_file))
    async with serving(app, ready=False, headers={"X-API-Key": api_keys["reader"]}) as c:
        r = await c.get("/readyz")
        assert r.status_code == 503 and r.json()["code"] == "no_model" and r.headers["retry-after"]
        assert r.json()["detail"].startswith("no active model")
        r = await classify(c, encode(product_photo()))
        assert r.status_code == 503 and r.headers["retry-after"]
        assert r.json()["detail"].startswith("no active model")
        assert (await c.get("/livez")).status_code == 200
        make_bundle(models_root, "v1", seed=1, accuracy=0.9)  # training finished while the server runs
        await asyncio.sleep(0.6)  # three watcher rounds: a trained version never serves by itself
        r = await classify(c, encode(product_photo()))
        assert r.status_code == 503 and r.json()["detail"].startswith("no active model")
        ModelStore(models_root, NAME).activate("v1")  # what `shoplens models activate v1` does
        for _ in range(300):
            if (await c.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert (await c.get("/readyz")).json()["model"]["version"] == "v1"
        assert await served_version(c) == "v1"


async def test_activation_from_the_cli_reaches_a_running_server(client, models_root: Path) -> None:
    ModelStore(models_root, NAME).activate("v1")  # what `shoplens models activate v1` does
    for _ in range(300):
        if (await client.get("/readyz")).json()["model"]["version"] == "v1":
            break
        await asyncio.sleep(0.05)
    assert await served_version(client) == "v1"
