"""Against a real uvicorn on 127.0.0.1: clients that stall their headers or bodies, and the per-caller limit."""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from shoplens.api import create_app
from tests.support.images import encode, product_photo
from tests.support.live import LiveServer
from tests.support.service import settings_for

pytestmark = pytest.mark.server

STALLED = 64  # as many as the default admission slots (max_inflight)
BODY_TIMEOUT_S = 5.0  # long enough for the ordinary requests to be answered first on a busy machine


def stalled_upload(base: str, key: str, declared: int = 100_000) -> socket.socket:
    """A connection that sent a classify request's headers (Content-Length: declared) and a little body, then stalls."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    head = (
        f"POST /v1/classify HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + b"--b\r\n")
    return sock


def answer_of(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends on a connection until it closes it (or `timeout` passes)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def raw_reply(base: str, data: bytes, timeout: float = 10) -> bytes:
    """What the server answers to `data` sent in one write on a new connection (b"reset" if it reset it)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        try:
            sock.sendall(data)
            return answer_of(sock, timeout)
        except OSError:  # reset: closed with bytes unread, which may discard the answer on its way
            return b"reset"


def classify(base: str, key: str) -> httpx.Response:
    """One ordinary classify request."""
    files = {"file": ("a.png", encode(product_photo()), "image/png")}
    return httpx.post(f"{base}/v1/classify", files=files, headers={"X-API-Key": key}, timeout=30)


@contextmanager
def live(models_root: Path, keys_file: Path, **changes: object) -> Iterator[str]:
    """The app under uvicorn configured as `shoplens serve` configures it; yields its base URL."""
    settings = settings_for(models_root, keys_file, **changes)
    with LiveServer(create_app(settings), settings=settings) as server:
        yield server.base


def test_stalled_bodies_neither_starve_classify_nor_stay_open(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> None:
    reader = api_keys["reader"]
    with (
        live(
            models_root, keys_file, body_timeout_s=BODY_TIMEOUT_S, max_inflight_per_caller=4 * STALLED
        ) as base,
        ExitStack() as stack,
    ):
        started = time.monotonic()
        stalled = [stack.enter_context(stalled_upload(base, reader)) for _ in range(STALLED)]
        time.sleep(0.3)  # the server has every stalled request's headers
        answers = [classify(base, reader) for _ in range(5)]
        assert time.monotonic() - started < BODY_TIMEOUT_S  # all sent while the others were stalled
        assert [r.status_code for r in answers] == [200] * 5, answers[-1].text
        replies = [answer_of(sock, BODY_TIMEOUT_S + 10) for sock in stalled]
        waited = time.monotonic() - started
    assert BODY_TIMEOUT_S - 0.5 < waited < BODY_TIMEOUT_S + 10
    for reply in replies:
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), reply[:200]
        assert b"application/problem+json" in head and b"connection: close" in head.lower()
        assert json.loads(body)["code"] == "request_timeout"


def test_connections_that_never_finish_their_headers_are_closed(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> None:
    with live(models_root, keys_file, header_timeout_s=1.0, keep_alive_timeout_s=30.0) as base:
        host, port = base.removeprefix("http://").split(":")
        with (
            socket.create_connection((host, int(port))) as silent,
            socket.create_connection((host, int(port))) as partial,
        ):
            partial.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            started = time.monotonic()
            assert answer_of(silent, 10) == b"" and answer_of(partial, 10) == b""  # closed, nothing sent
            assert time.monotonic() - started < 5
        assert classify(base, api_keys["reader"]).status_code == 200


def test_one_key_may_have_only_so_many_requests_in_flight(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> None:
    reader, merchant = api_keys["reader"], api_keys["merchant"]
    with live(models_root, keys_file, max_inflight_per_caller=2) as base:
        with stalled_upload(base, reader), stalled_upload(base, reader):
            time.sleep(0.3)
            refused = classify(base, reader)
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "too_many_requests"
            assert classify(base, merchant).status_code == 200  # another key has its own share
            # a key naming the reader's id without its secret counts against the address, not the reader
            forged = "_".join(reader.split("_", 2)[:2]) + "_forged"
            assert classify(base, forged).status_code == 401
            assert httpx.get(f"{base}/readyz").status_code == 200  # probes are never limited
        time.sleep(0.3)  # the stalled requests ended with their connections
        assert classify(base, reader).status_code == 200


def test_headers_past_the_cap_get_431_and_a_closed_connection(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> None:
    with live(models_root, keys_file) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            try:
                sock.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                for i in range(256):  # 4 MiB of headers if they were all taken
                    sock.sendall(b"X-Pad-%d: " % i + b"a" * 16_000 + b"\r\n")
                reply = answer_of(sock, 10)
            except OSError:  # reset: closed with headers unread, which may discard the 431 on its way
                reply = b"reset"
        head, _, body = reply.partition(b"\r\n\r\n")
        assert reply == b"reset" or head.startswith(b"HTTP/1.1 431"), reply[:200]
        assert reply == b"reset" or json.loads(body)["code"] == "request_header_fields_too_large"
        assert classify(base, api_keys["reader"]).status_code == 200


@pytest.mark.parametrize("pad", [66_000, 100_000])
def test_a_head_past_the_cap_sent_in_one_write_gets_431(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], pad: int
) -> None:
    with live(models_root, keys_file) as base:
        reply = raw_reply(
            base, b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * pad + b"\r\n\r\n"
        )
        assert reply == b"reset" or reply.startswith(b"HTTP/1.1 431"), reply[:200]


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /livez HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",  # a header without its colon
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32,  # a TLS hello to the plain port
        b"POST /v1/classify HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk
    ],
    ids=["no-colon", "tls-hello", "bad-chunk"],
)
def test_bytes_that_are_no_http_request_get_a_problem_json_400(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], raw: bytes
) -> None:
    with live(models_root, keys_file) as base:
        reply = raw_reply(base, raw)
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400"), reply[:200]
        assert b"content-type: application/problem+json" in head.lower()
        assert json.loads(body)["code"] == "bad_request"
        assert classify(base, api_keys["reader"]).status_code == 200  # the server goes on


def test_a_small_head_with_a_large_body_in_one_write_is_no_large_head(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> None:
    from PIL import Image

    noise = Image.frombytes("RGB", (300, 300), random.Random(0).randbytes(270_000))  # as large as PNG
    png = encode(noise)
    boundary = b"b0undary"
    body = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="n.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--" + boundary + b"--\r\n"
    )
    head = (
        b"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-API-Key: "
        + api_keys["reader"].encode()
        + b"\r\nContent-Type: multipart/form-data; boundary="
        + boundary
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    assert len(body) > 2 * 65536
    with live(models_root, keys_file) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(head + body)
            reply = answer_of(sock, 30)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]


@pytest.mark.parametrize(
    ("before", "data", "length"),
    [
        (b"", b"GET / HTTP/1.1\r\nA: b\r\n\r\nBODY", 24),
        (b"", b"GET / HTTP/1.1\nA: b\n\nBODY", 21),
        (b"b\r\n", b"\r\nBODY", 2),  # the blank line split across two reads
        (b"\r\n\r", b"\nBODY", 1),
        (b"", b"GET / HTTP/1.1\r\nA: ", 19),  # no end yet: all of it
    ],
)
def test_head_length_counts_up_to_the_blank_line(before: bytes, data: bytes, length: int) -> None:
    from shoplens.api.server import head_length

    assert head_length(before, data) == length


def test_a_client_hanging_up_mid_upload_is_no_server_error(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> None:
    """Recorded as 499 (client closed), not as a 500 with a traceback any reader key could pump into the 5xx count."""
    done = 'shoplens_http_requests_total{method="POST",route="/v1/classify",status="499"} 2.0'
    with live(models_root, keys_file) as base:
        for _ in range(2):
            sock = stalled_upload(base, api_keys["reader"])
            sock.sendall(b'Content-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n\x89PNG')
            time.sleep(0.3)
            sock.close()
        deadline = time.monotonic() + 10
        while done not in (metrics := httpx.get(f"{base}/metrics").text) and time.monotonic() < deadline:
            time.sleep(0.2)
        counted = [line for line in metrics.splitlines() if line.startswith("shoplens_http_requests_total")]
        assert done in counted and not any('status="5' in line for line in counted), counted
        assert classify(base, api_keys["reader"]).status_code == 200
