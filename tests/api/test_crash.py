"""kill -9 of `shoplens serve` in the middle of writes: after a restart, every write that got a 2xx is there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.images import photos, png
from tests.support.live import free_port, wait_until_ready

pytestmark = [pytest.mark.server, pytest.mark.slow]
WRITERS = 3
MOST_WRITES = 40  # per writer: the loops end by count even if the kill never came


@contextmanager
def server(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`shoplens serve` on a free loopback port (keys required) until the block ends; (base URL, process)."""
    port = free_port()
    cmd = [sys.executable, "-m", "shoplens.cli", "serve", "--port", str(port)]
    with open(log, "a") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, env={**os.environ, **env})
    try:
        wait_until_ready(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def test_every_acknowledged_write_survives_kill_9(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], tmp_path: Path
) -> None:
    env = {
        "SHOPLENS_MODELS_DIR": str(models_root),
        "SHOPLENS_API_KEYS_FILE": str(keys_file),
        "SHOPLENS_CATALOG_DIR": str(tmp_path / "catalog"),
        "SHOPLENS_RELOAD_INTERVAL_S": "0",
    }
    merchant, reader = {"X-API-Key": api_keys["merchant"]}, {"X-API-Key": api_keys["reader"]}
    images = [png(p) for p in photos(WRITERS * MOST_WRITES, seed=51)]
    acked_products: dict[str, int] = {}
    acked_events: list[str] = []
    lock, enough = threading.Lock(), threading.Event()

    def writer(n: int, base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            for i in range(MOST_WRITES):
                sku = f"w{n}-{i}"
                try:
                    form = {"product": json.dumps({"sku": sku, "title": f"Item {sku}"})}
                    r = c.post(
                        "/v1/products",
                        data=form,
                        files={"files": ("p.png", images[n * MOST_WRITES + i])},
                        headers=merchant,
                    )
                    if r.is_success:
                        now = datetime.now(UTC).isoformat()
                        view = {"event_id": f"e-{sku}", "user_id": f"u{n}", "type": "view", "timestamp": now}
                        e = c.post(
                            "/v1/events",
                            json={"events": [{**view, "product_id": r.json()["id"]}]},
                            headers=reader,
                        )
                except httpx.TransportError:  # the server is gone
                    return
                with lock:
                    if r.is_success:
                        acked_products[sku] = r.json()["id"]
                    if r.is_success and e.is_success and e.json()["accepted"] == 1:
                        acked_events.append(view["event_id"])
                    if len(acked_products) >= 2 * WRITERS:
                        enough.set()

    log = tmp_path / "server.log"
    with server(env, log) as (base, proc):
        threads = [threading.Thread(target=writer, args=(n, base)) for n in range(WRITERS)]
        for t in threads:
            t.start()
        assert enough.wait(120), log.read_text()[-2000:]
        time.sleep(0.3)  # writes in flight, some half done
        proc.send_signal(signal.SIGKILL)
        for t in threads:
            t.join(60)
    assert proc.returncode == -signal.SIGKILL
    with server(env, log) as (base, _), httpx.Client(base_url=base, timeout=30) as c:
        for sku, product_id in acked_products.items():
            got = c.get(f"/v1/products/{product_id}", headers=reader)
            assert got.status_code == 200 and got.json()["sku"] == sku, got.text
            (image,) = got.json()["images"]
            assert c.get(f"/v1/images/{image['sha256']}", headers=reader).status_code == 200
        now = datetime.now(UTC).isoformat()
        again = [
            {
                "event_id": e,
                "user_id": "u0",
                "type": "view",
                "timestamp": now,
                "product_id": next(iter(acked_products.values())),
            }
            for e in acked_events
        ]
        replay = c.post("/v1/events", json={"events": again}, headers=reader).json()
        assert replay["duplicates"] == len(acked_events) and replay["accepted"] == 0  # every one was stored
        total = c.get("/v1/products", params={"limit": 1}, headers=reader).json()["total"]
        assert total >= len(acked_products)
