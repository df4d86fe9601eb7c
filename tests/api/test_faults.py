"""Faults under a running service: a database that cannot be written and an image store whose disk is full give
503 / 507 problems (never 500), store nothing half, and pass without a restart once the fault is gone."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from shoplens.api import create_app
from shoplens.db.catalog import Product
from tests.support.faults import FaultUnavailableError, disk_full, read_only, small_disk
from tests.support.images import photos, png
from tests.support.live import free_port
from tests.support.service import as_key, create, serving, settings_for

pytestmark = pytest.mark.anyio
PHOTOS = photos(4, seed=41)
T = TypeVar("T")
CLUSTER = Path(__file__).resolve().parents[2] / "scripts" / "pg-test-cluster.sh"


def _events(product: int, *ids: str) -> dict:
    """A batch of views of a product by shopper 'ann'."""
    now = datetime.now(UTC).isoformat()
    return {
        "events": [
            {"event_id": i, "user_id": "ann", "type": "view", "timestamp": now, "product_id": product}
            for i in ids
        ]
    }


def _unavailable(r: httpx.Response, status: int = 503, code: str = "service_unavailable") -> bool:
    """Whether a response is the problem of a fault: its status and code, problem+json, Retry-After on a 503."""
    return (
        r.status_code == status
        and r.headers["content-type"] == "application/problem+json"
        and r.json()["code"] == code
        and (status != 503 or int(r.headers["retry-after"]) >= 1)
    )


@contextlib.contextmanager
def staged(fault: AbstractContextManager[T]) -> Iterator[T]:
    """Enter a fault; the test skips, with the reason, where this machine cannot stage it."""
    try:
        value = fault.__enter__()
    except FaultUnavailableError as e:
        pytest.skip(f"cannot stage the fault here: {e}")
    try:
        yield value
    finally:
        fault.__exit__(None, None, None)


async def test_a_read_only_database_answers_503_keeps_reads_and_recovers(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "catalog.db"
    app = create_app(settings_for(models_root, keys_file, database_url=f"sqlite:///{db}"))
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    async with serving(app) as c:
        first = await create(c, merchant, {"sku": "A", "title": "Bag"}, png(PHOTOS[0]))
        assert first.status_code == 201 and (await c.get("/readyz")).status_code == 200
        assert (await c.post("/v1/events", json=_events(first.json()["id"], "e0"), headers=reader)).is_success
        with staged(read_only(db)):
            # Writes first, before any probe has noticed: the pool's open connections must not write either.
            assert _unavailable(await create(c, merchant, {"sku": "B", "title": "Coat"}, png(PHOTOS[1])))
            assert _unavailable(
                await c.post("/v1/events", json=_events(first.json()["id"], "e1"), headers=reader)
            )
            assert _unavailable(await c.get("/readyz"))
            listed = await c.get("/v1/products", headers=reader)
            assert listed.status_code == 200 and [p["sku"] for p in listed.json()["items"]] == ["A"]
            assert (await c.get(f"/v1/products/{first.json()['id']}", headers=reader)).status_code == 200
            recommended = await c.get(
                "/v1/users/ann/recommendations", headers=reader
            )  # its cache is not kept
            assert recommended.status_code == 200 and recommended.json()["cached"] is False
        assert (await c.get("/readyz")).status_code == 200
        again = await create(c, merchant, {"sku": "B", "title": "Coat"}, png(PHOTOS[1]))
        assert again.status_code == 201, again.text
        assert (await c.post("/v1/events", json=_events(first.json()["id"], "e1"), headers=reader)).json()[
            "accepted"
        ] == 1
        assert (await c.get("/v1/products", headers=reader)).json()["total"] == 2


async def test_a_full_image_store_answers_507_and_stores_nothing_half(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], tmp_path: Path
) -> None:
    catalog_dir, db = tmp_path / "catalog", tmp_path / "catalog.db"
    app = create_app(
        settings_for(models_root, keys_file, catalog_dir=catalog_dir, database_url=f"sqlite:///{db}")
    )
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    with staged(small_disk(catalog_dir / "images")) as images:
        async with serving(app) as c:
            assert (
                await create(c, merchant, {"sku": "A", "title": "Bag"}, png(PHOTOS[0]))
            ).status_code == 201
            with staged(disk_full(images)):
                full = await create(
                    c, merchant, {"sku": "B", "title": "Coat"}, png(PHOTOS[1]), png(PHOTOS[2])
                )
                assert _unavailable(full, 507, "insufficient_storage"), full.text
                leftovers = [p.name for p in images.rglob("*") if p.is_file() and p.name != "filler.bin"]
                assert not [n for n in leftovers if n.endswith(".tmp")]  # no partial file
                listed = await c.get("/v1/products", headers=reader)  # reads go on
                assert listed.status_code == 200 and listed.json()["total"] == 1
                ready = await c.get("/readyz")  # the probe says what the last write found
                assert _unavailable(ready) and "image store is full" in ready.json()["detail"]
            engine = create_engine(f"sqlite:///{db}")
            with engine.connect() as conn:  # no row of the refused product
                assert conn.scalar(select(func.count()).select_from(Product).where(Product.sku == "B")) == 0
            engine.dispose()
            assert (await c.get("/readyz")).status_code == 200  # room again
            again = await create(c, merchant, {"sku": "B", "title": "Coat"}, png(PHOTOS[1]), png(PHOTOS[2]))
            assert again.status_code == 201 and len(again.json()["images"]) == 2
            for image in again.json()["images"]:
                assert (await c.get(f"/v1/images/{image['sha256']}", headers=reader)).status_code == 200


@pytest.fixture
def own_cluster() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL cluster of this test's own (it is stopped and started): (URL, its folder)."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin")):
        pytest.skip("PostgreSQL is not installed")
    folder = Path(
        tempfile.mkdtemp(prefix="shoplens-pg.")
    )  # not under tmp_path: the server's user must reach it
    folder.chmod(0o755)
    url = subprocess.run(
        [str(CLUSTER), "start", str(folder), str(free_port())], capture_output=True, text=True, timeout=120
    ).stdout.strip()
    try:
        if not url:
            pytest.skip("could not start a PostgreSQL cluster here")
        yield url, folder
    finally:
        subprocess.run([str(CLUSTER), "stop", str(folder)], timeout=120)


@pytest.mark.postgres
async def test_a_stopped_postgres_answers_503_and_the_service_reconnects(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], own_cluster: tuple[str, Path]
) -> None:
    url, folder = own_cluster
    app = create_app(settings_for(models_root, keys_file, database_url=url))
    merchant, reader = as_key(api_keys, "merchant"), as_key(api_keys, "reader")
    async with serving(app) as c:
        assert (await create(c, merchant, {"sku": "A", "title": "Bag"}, png(PHOTOS[0]))).status_code == 201
        subprocess.run([str(CLUSTER), "pause", str(folder)], check=True, timeout=60)
        try:
            assert _unavailable(await create(c, merchant, {"sku": "B", "title": "Coat"}, png(PHOTOS[1])))
            assert _unavailable(await c.get("/v1/products", headers=reader))
            assert _unavailable(await c.get("/readyz"))
            classified = await c.post(
                "/v1/classify", files={"file": ("a.png", png(PHOTOS[2]))}, headers=reader
            )
            assert classified.status_code == 200  # what needs no database goes on
        finally:
            subprocess.run([str(CLUSTER), "resume", str(folder)], check=True, timeout=60)
        assert (await c.get("/readyz")).status_code == 200
        assert (await create(c, merchant, {"sku": "B", "title": "Coat"}, png(PHOTOS[1]))).status_code == 201
        assert (await c.get("/v1/products", headers=reader)).json()["total"] == 2
