"""The soak benchmark's server: `shoplens serve` as a subprocess that can be killed and restarted on its port, its
API keys, the catalogue it starts with, and the PostgreSQL cluster it may run on (stopped as a fault)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from servers import free_port
from soak_traffic import Traffic

from shoplens.api.keys import KeyStore

CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pg-test-cluster.sh"


@dataclass
class Server:
    """`shoplens serve` as a subprocess on a fixed loopback port, restartable (after kill -9) on the same one."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it and wait until /readyz answers 200 (120 s at most)."""
        cmd = [sys.executable, "-m", "shoplens.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log, "a") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, env={**os.environ, **self.env})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {self.log}")
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready within 120 s; see {self.log}")

    def rss_mib(self) -> float | None:
        """The server's resident memory now (from /proc), None while it is down."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()  # type: ignore[union-attr]
        except (OSError, AttributeError):
            return None
        line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), None)
        return int(line.split()[1]) / 1024 if line else None

    def kill9(self) -> None:
        """SIGKILL, and wait for it to be gone."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM (a drain), SIGKILL after 60 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill9()


def setup_keys(path: Path) -> dict[str, str]:
    """Reader, merchant (acme) and admin keys for the run."""
    store = KeyStore(path)
    return {
        "reader": store.create("reader", "soak reader"),
        "merchant": store.create("merchant", "soak merchant", merchant="acme"),
        "admin": store.create("admin", "soak admin"),
    }


def seed(traffic: Traffic, base: str, images: list[bytes]) -> None:
    """24 products, and a campaign with a creative, so that every route has something to answer with."""
    merchant = traffic.h["merchant"]
    with httpx.Client(base_url=base, timeout=60) as c:
        for i in range(24):
            form = {"product": f'{{"sku": "seed-{i}", "title": "Seed {i}", "stock": 5}}'}
            r = c.post(
                "/v1/products", data=form, files={"files": ("p.png", images[-1 - i])}, headers=merchant
            )
            r.raise_for_status()
            traffic.products.append(r.json()["id"])
        campaign = c.post(
            "/v1/ads/campaigns", json={"name": "Soak", "budget": "1000000", "bid": "0.01"}, headers=merchant
        )
        campaign.raise_for_status()
        creative = c.post(
            f"/v1/ads/campaigns/{campaign.json()['id']}/creatives",
            data={"headline": "Soak ad"},
            files={"file": ("ad.png", images[-30])},
            headers=merchant,
        )
        creative.raise_for_status()


@contextlib.contextmanager
def postgres_stopped(cluster: str) -> Iterator[None]:
    """The test cluster's server stopped for the block (scripts/pg-test-cluster.sh pause / resume)."""
    subprocess.run([str(CLUSTER_SCRIPT), "pause", cluster], check=True, timeout=60)
    try:
        yield
    finally:
        subprocess.run([str(CLUSTER_SCRIPT), "resume", cluster], check=True, timeout=60)
