"""Talking to the service in a test: settings, an app with its lifespan running, and the requests tests repeat
(classify, create, the ads requests)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI

from shoplens.config import Settings
from shoplens.inference import Predictor
from shoplens.models import load_bundle


def settings_for(models_root: Path, keys_file: Path, **changes: Any) -> Settings:
    """Service settings for a test: its models, keys and catalogue folder, quick reload checks."""
    changes.setdefault("catalog_dir", models_root.parent / "catalog")
    return Settings(models_dir=models_root, api_keys_file=keys_file, reload_interval_s=0.2, **changes)


async def wait_ready(client: httpx.AsyncClient, timeout: float = 30) -> None:
    """Poll /readyz until 200."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if (await client.get("/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("service never became ready")


@asynccontextmanager
async def serving(app: FastAPI, ready: bool = True, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running and an httpx client talking to it through ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        kwargs.setdefault("base_url", "http://localhost")  # a loopback name: open mode answers only those
        async with httpx.AsyncClient(transport=transport, **kwargs) as c:
            if ready:
                await wait_ready(c)
            yield c


async def classify(
    client: httpx.AsyncClient, data: bytes, filename: str = "photo.png", **params: Any
) -> httpx.Response:
    """POST one image as the `file` field."""
    return await client.post("/v1/classify", params=params, files={"file": (filename, data, "image/png")})


def multipart(
    parts: list[tuple[str, str | None, bytes]], boundary: str = "shoplensboundary"
) -> tuple[bytes, str]:
    """A raw multipart/form-data body (field, filename or None, bytes) — file names go out byte for byte."""
    chunks = []
    for field, filename, data in parts:
        disposition = f'form-data; name="{field}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: image/png\r\n\r\n"
        chunks.append(head.encode("utf-8", "surrogateescape") + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def as_key(api_keys: dict[str, str], role: str) -> dict[str, str]:
    """Headers sending the key of a role."""
    return {"X-API-Key": api_keys[role]}


async def create(
    c: httpx.AsyncClient, headers: dict[str, str], product: dict[str, Any], *images: bytes, **extra: str
) -> httpx.Response:
    """POST /v1/products with the product JSON and images."""
    files = [("files", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
    return await c.post(
        "/v1/products", data={"product": json.dumps(product)}, files=files, headers={**headers, **extra}
    )


def metric(text: str, name: str) -> float:
    """The value of an unlabelled sample in Prometheus text."""
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


class SlowPredictor(Predictor):
    """The real predictor, made slow: every model call takes at least `delay` seconds."""

    delay = 0.3

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        time.sleep(self.delay)
        return super().run(batch)


def slow_loader(path: Path) -> Predictor:
    """Load a bundle into a SlowPredictor."""
    return SlowPredictor(load_bundle(path))


CAMPAIGN = {"name": "Spring", "budget": "10.00", "bid": "0.50"}


async def new_campaign(c: httpx.AsyncClient, headers: dict[str, str], **fields: object) -> httpx.Response:
    """POST /v1/ads/campaigns."""
    return await c.post("/v1/ads/campaigns", json={**CAMPAIGN, **fields}, headers=headers)


async def upload(
    c: httpx.AsyncClient,
    headers: dict[str, str],
    campaign_id: int,
    data: bytes,
    headline: str | None = "Fresh looks",
    content_type: str = "image/png",
) -> httpx.Response:
    """POST a creative as multipart (headline field + file)."""
    fields = {"headline": headline} if headline is not None else {}
    return await c.post(
        f"/v1/ads/campaigns/{campaign_id}/creatives",
        data=fields,
        files={"file": ("ad.png", data, content_type)},
        headers=headers,
    )


async def event(
    c: httpx.AsyncClient,
    headers: dict[str, str],
    creative_id: int,
    kind: str,
    event_id: str,
    user: str = "shopper-1",
    **extra: object,
) -> httpx.Response:
    """POST an impression or a click."""
    body = {"event_id": event_id, "user_id": user, **extra}
    return await c.post(f"/v1/ads/{creative_id}/{kind}", json=body, headers=headers)
