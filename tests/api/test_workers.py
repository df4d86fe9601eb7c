"""`shoplens serve --workers 2`: one port, both workers follow an activation, one in-flight limit for all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from shoplens.api.service import Lifecycle
from shoplens.api.workers import FORK, SharedAdmission
from tests.support.live import free_port, wait_until_ready

pytestmark = pytest.mark.server


def versions_by_worker(base: str, rounds: int = 60) -> dict[int, set[str]]:
    """The versions /readyz reported, per worker, over `rounds` rounds of 8 concurrent fresh connections."""
    seen: dict[int, set[str]] = {}

    def ready(_: int) -> httpx.Response:
        """GET /readyz on a new connection: any worker may accept it."""
        return httpx.get(f"{base}/readyz", timeout=10)

    with ThreadPoolExecutor(8) as pool:
        for _ in range(rounds):
            for r in pool.map(ready, range(8)):
                if r.status_code == 200:  # a worker still loading its model answers 503
                    seen.setdefault(r.json()["worker"], set()).add(r.json()["model"]["version"])
            if len(seen) == 2:
                return seen
    return seen


def wait_for_version(base: str, version: str, tries: int = 100) -> dict[int, set[str]]:
    """Poll until both workers were seen serving `version` only (or the tries run out); the last sighting."""
    seen: dict[int, set[str]] = {}
    for _ in range(tries):
        seen = versions_by_worker(base, rounds=10)
        if set(seen) == {0, 1} and all(v == {version} for v in seen.values()):
            break
    return seen


def test_two_workers_share_a_port_and_both_follow_an_activation(models_root: Path, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "shoplens.cli", "serve", "--workers", "2", "--open", "--open-write"]
    cmd += ["--port", str(port), "--models-dir", str(models_root)]
    env = {
        **os.environ,
        "SHOPLENS_API_KEYS_FILE": str(tmp_path / "keys.json"),
        "SHOPLENS_RELOAD_INTERVAL_S": "0.2",
    }
    with open(tmp_path / "server.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
    try:
        wait_until_ready(base)
        before = wait_for_version(base, "v2")
        assert before == {0: {"v2"}, 1: {"v2"}}, before  # both workers answer on the one port
        r = httpx.post(f"{base}/v1/models/v1/activate", timeout=30)  # reaches one of them
        assert r.status_code == 200 and r.json()["previous"] == "v2"
        after = wait_for_version(base, "v1")
        assert after == {0: {"v1"}, 1: {"v1"}}, after  # the other one followed through the model store
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0  # every worker drained and exited
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _take_two(admission: SharedAdmission, done: object) -> None:
    """In another process: worker 1 admits two requests (and keeps them)."""
    lifecycle = Lifecycle(max_admitted=3, shared=admission, worker=1)
    done.put([lifecycle.admit(), lifecycle.admit()])  # type: ignore[attr-defined]


def test_the_in_flight_limit_holds_across_worker_processes() -> None:
    admission = SharedAdmission(workers=2, limit=3)
    results = FORK.Queue()
    other = FORK.Process(target=_take_two, args=(admission, results))
    other.start()
    assert results.get(timeout=30) == [True, True]
    other.join(30)
    here = Lifecycle(max_admitted=3, shared=admission, worker=0)
    assert here.admit() and not here.admit()  # 2 slots held by the other process + 1 here = the limit
    assert admission.admitted() == 3 and here.admitted == 1
    here.release()
    assert here.admit() and not here.admit()
    admission.reset(1)  # the supervisor replaced the other worker: its slots are free again
    assert here.admit() and here.admit() and not here.admit() and admission.admitted() == 3
