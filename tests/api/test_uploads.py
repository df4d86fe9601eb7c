"""Upload safety through the real ASGI app: size limits, allowlist by content, bombs, broken files, file names."""

from __future__ import annotations

import gc
import resource
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from shoplens.api import create_app
from shoplens.imaging import ACCEPTED_FORMATS
from tests.support.images import encode, png_with_header, product_photo
from tests.support.service import classify, multipart, serving, settings_for

pytestmark = pytest.mark.anyio
MiB = 2**20


BOUNDARY = "bigbody"


async def counted_body(chunks: int, size: int, sent: list[int]) -> AsyncIterator[bytes]:
    """A (bounded) streaming multipart body with one huge file part; records how many chunks were pulled."""
    yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'.encode()
    for _ in range(chunks):
        sent[0] += 1
        yield b"\0" * size
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture
async def small_limit_client(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a 1 MiB body limit."""
    app = create_app(settings_for(models_root, keys_file, max_upload_bytes=MiB))
    async with serving(app, headers={"X-API-Key": api_keys["reader"]}) as c:
        yield c


async def test_declared_body_over_the_limit_is_413_before_any_of_it_is_read(small_limit_client) -> None:
    sent = [0]
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}", "content-length": str(64 * MiB)}
    r = await small_limit_client.post(
        "/v1/classify", content=counted_body(1024, 64 * 1024, sent), headers=headers
    )
    assert r.status_code == 413 and "1,048,576" in r.json()["detail"]
    assert sent[0] <= 1  # the ASGI transport may prime one chunk; the app never asked for the rest


async def test_streamed_body_without_length_is_cut_off_at_the_limit(small_limit_client) -> None:
    sent = [0]
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    r = await small_limit_client.post(
        "/v1/classify", content=counted_body(1024, 64 * 1024, sent), headers=headers
    )
    assert r.status_code == 413 and r.headers["x-request-id"]
    assert sent[0] <= MiB // (64 * 1024) + 2  # stopped just past 1 MiB of a 64 MiB body


async def test_too_many_files_or_fields_is_400(client) -> None:
    png = encode(product_photo())
    files = [("files", (f"{i}.png", png, "image/png")) for i in range(17)]
    r = await client.post("/v1/classify", files=files)
    assert r.status_code == 400 and "files" in r.json()["detail"].lower()
    body, ctype = multipart([("file", "a.png", png)] + [(f"note{i}", None, b"x") for i in range(40)])
    r = await client.post("/v1/classify", content=body, headers={"content-type": ctype})
    assert r.status_code == 400 and "fields" in r.json()["detail"].lower()


NOT_IMAGES = {
    "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    "pdf": b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
    "eps": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
    "mvg": b"push graphic-context\nviewbox 0 0 10 10\nimage over 0,0 0,0 'https://example.com/x.jpg'\n",
    "html": b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
    "text": b"just some text\n",
    "zip": b"PK\x03\x04" + bytes(26) + b"PK\x05\x06" + bytes(18),
    "random": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    "empty": b"",
}


@pytest.mark.parametrize("kind", sorted(NOT_IMAGES))
async def test_content_outside_the_allowlist_is_415_whatever_its_name_and_type(client, kind: str) -> None:
    r = await classify(client, NOT_IMAGES[kind], filename="innocent.png")  # sent as image/png
    assert r.status_code == 415
    assert all(fmt in r.json()["detail"] for fmt in ("JPEG", "PNG", "WebP", "GIF"))


async def test_a_30000_square_bomb_is_413_from_its_header_with_flat_memory(client) -> None:
    bomb = png_with_header(30000, 30000)
    assert len(bomb) < 10_000
    await classify(client, encode(product_photo()))  # warm up: first-request allocations are not the bomb's
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    tracemalloc.start()
    try:
        r = await classify(client, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 413 and "pixels" in r.json()["detail"]
    assert peak < 20 * MiB  # Python-side allocations during the request
    assert (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100 * 1024
    )  # decoded it would be 900 MB


@pytest.mark.parametrize("width,height", [(0, 10), (10, 0)])
async def test_zero_width_or_height_is_400(client, width: int, height: int) -> None:
    r = await classify(client, png_with_header(width, height))
    assert r.status_code == 400


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
async def test_every_accepted_format_is_classified_alike_whatever_its_name(client, fmt: str) -> None:
    photo = product_photo()
    png = (await classify(client, encode(photo, "PNG"))).json()["results"][0]
    params = {"WEBP": {"lossless": True}, "AVIF": {"quality": 100}, "HEIF": {"quality": 95}}.get(fmt, {})
    r = await client.post(
        "/v1/classify",
        files={"file": ("upload.bin", encode(photo, fmt, **params), "application/octet-stream")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["top"][0]["label"] == png["top"][0]["label"]


@pytest.mark.parametrize("fmt", ACCEPTED_FORMATS)
async def test_truncated_or_corrupt_data_is_400(client, fmt: str) -> None:
    data = encode(product_photo(), fmt)
    r = await classify(client, data[: len(data) // 2])
    assert r.status_code == 400, r.text
    corrupt = data[:20] + bytes(len(data) - 20)
    assert (await classify(client, corrupt)).status_code == 400


async def test_file_names_are_never_used_as_paths(client, tmp_path: Path) -> None:
    target = tmp_path / "pwned.png"
    names = [
        "../../etc/passwd",
        "/etc/passwd",
        str(target),
        "..\\..\\windows\\win.ini",
        "evil\x00.png",
        "\x00",
        "..",
    ]
    png = encode(product_photo())
    body, ctype = multipart([("files", name, png) for name in names])
    r = await client.post("/v1/classify", content=body, headers={"content-type": ctype})
    assert r.status_code == 200
    shown = [item.get("filename") for item in r.json()["results"]]
    assert shown == ["passwd", "passwd", "pwned.png", "win.ini", "evil.png", None, None]
    assert "root:" not in r.text and not target.exists()
