"""Against a real uvicorn on 127.0.0.1: the body limit on a chunked upload, and a graceful SIGTERM."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shoplens.api import create_app
from tests.support.images import encode, product_photo
from tests.support.live import LiveServer, free_port, wait_until_ready
from tests.support.service import settings_for

pytestmark = pytest.mark.server

MiB = 2**20
BOUNDARY = "liveboundary"
HEAD = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'.encode()
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
FORM = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
SLOW_BODIES = 2  # requests in flight when SIGTERM comes: these have sent their headers and stall the body,
PARTIAL_HEADERS = 2  # and these have sent only part of their headers


@pytest.fixture
def live_server(models_root: Path, keys_file: Path, api_keys: dict[str, str]) -> Iterator[str]:
    """The app under a real uvicorn in a thread, 1 MiB body limit; yields its base URL."""
    app = create_app(settings_for(models_root, keys_file, max_upload_bytes=MiB, open_mode=True))
    with LiveServer(app) as server:
        yield server.base


def test_a_huge_chunked_upload_gets_413_without_being_read(live_server: str) -> None:
    sent = [0]

    def body() -> Iterator[bytes]:
        yield HEAD
        for _ in range(4096):  # 256 MiB if it were all taken
            sent[0] += 1
            yield b"\0" * (64 * 1024)
        yield TAIL

    r = httpx.post(f"{live_server}/v1/classify", content=body(), headers=FORM, timeout=120)
    assert r.status_code == 413 and "1,048,576" in r.json()["detail"]
    assert (
        "content-length" not in r.request.headers and sent[0] < 512
    )  # far less than 256 MiB left the client
    ok = httpx.post(
        f"{live_server}/v1/classify", files={"file": ("a.png", encode(product_photo()), "image/png")}
    )
    assert ok.status_code == 200


def test_sigterm_answers_every_request_in_flight_then_exits_0(models_root: Path, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "shoplens.cli",
        "serve",
        "--open",
        "--port",
        str(port),
        "--models-dir",
        str(models_root),
    ]
    env = {**os.environ, "SHOPLENS_API_KEYS_FILE": str(tmp_path / "keys.json")}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
    try:
        wait_until_ready(base)
        started, release = threading.Semaphore(0), threading.Event()
        result: dict[int, httpx.Response] = {}

        def slow_body() -> Iterator[bytes]:
            yield HEAD
            started.release()
            release.wait(30)
            yield encode(product_photo()) + TAIL

        def upload(i: int) -> None:
            result[i] = httpx.post(f"{base}/v1/classify", content=slow_body(), headers=FORM, timeout=60)

        workers = [threading.Thread(target=upload, args=(i,)) for i in range(SLOW_BODIES)]
        for worker in workers:
            worker.start()
        assert all(started.acquire(timeout=30) for _ in workers)
        partial = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(PARTIAL_HEADERS)]
        for sock in partial:
            sock.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.3)  # the server has what was sent: the requests are in flight
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 503
        refused = httpx.post(
            f"{base}/v1/classify", files={"file": ("a.png", encode(product_photo()), "image/png")}
        )
        assert refused.status_code == 503 and refused.headers["retry-after"]
        release.set()
        for worker in workers:
            worker.join(30)
        assert sorted(result) == list(range(SLOW_BODIES))
        assert all(r.status_code == 200 and r.json()["results"][0]["top"] for r in result.values())
        time.sleep(0.5)  # the server has answered all it had: it still waits for the requests on their way
        for sock in partial:
            with sock:
                sock.sendall(b"Content-Length: 0\r\n\r\n")
                answer = b"".join(iter(functools.partial(sock.recv, 65536), b""))  # until it closes
            assert answer.startswith(b"HTTP/1.1 503") and b"shutting_down" in answer, answer
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = [x for x in lines if x.get("logger") == "shoplens.access" and x["path"] == "/v1/classify"]
    assert sorted(x["status"] for x in access) == [200] * SLOW_BODIES + [503] * (1 + PARTIAL_HEADERS) and all(
        x["request_id"] and x["ms"] >= 0 for x in access
    )


def test_a_port_another_process_holds_is_one_clear_error(models_root: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "shoplens.cli", "serve", "--open", "--port", str(port)]
        env = {**os.environ, "SHOPLENS_API_KEYS_FILE": str(tmp_path / "keys.json")}
        done = subprocess.run(
            [*cmd, "--models-dir", str(models_root)], env=env, capture_output=True, text=True, timeout=120
        )
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1 and f"error: cannot listen on 127.0.0.1:{port}" in said, said
    assert "Traceback" not in said and "serving" not in said  # refused before the model was loaded
