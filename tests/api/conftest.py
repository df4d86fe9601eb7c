"""Fixtures for the service: tiny real bundles on disk, settings, API keys, and apps with their lifespan running."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from fastapi import FastAPI
from PIL import Image

from shoplens.api import create_app
from shoplens.api.keys import KeyStore
from shoplens.config import Settings
from shoplens.data.fashion_mnist import CLASS_NAMES
from shoplens.imaging import PreprocessConfig
from shoplens.inference.ood import OodDetector
from shoplens.models import create_model, save_bundle

NAME = "fashion-mnist"
FMNIST_PRE = PreprocessConfig(
    size=(28, 28), mode="L", resize="pad", trim=True, invert=True, mean=(0.286,), std=(0.353,)
)
PHOTO_PRE = PreprocessConfig(size=(28, 28), mode="L", reader="photo", mean=(0.286,), std=(0.353,))


def add_detector(bundle_dir: Path, dim: int = 128, classes: int = 10) -> None:
    """A "not a product" detector that flags photos whose border is no single background (few border inliers)."""
    OodDetector(
        centres=np.zeros((classes, dim)),
        whitening=np.eye(dim),
        feature_names=("bg_inliers",),
        mean=np.array([0.7]),
        scale=np.array([0.1]),
        weights=np.array([-5.0]),
        bias=0.0,
        threshold=0.5,
        review=0.3,
    ).save(bundle_dir)


def checkerboard() -> Image.Image:
    """A picture that is no product: a black and white checkerboard filling the frame."""
    return Image.fromarray(
        (np.indices((20, 20)).sum(0) % 2 * 255).astype(np.uint8).repeat(15, 0).repeat(15, 1)
    )


def make_bundle(
    models_root: Path,
    version: str,
    seed: int,
    accuracy: float | None = None,
    preprocess: PreprocessConfig = FMNIST_PRE,
) -> Path:
    """A freshly initialised shopnet bundle at <models_root>/fashion-mnist/<version> (no training needed)."""
    torch.manual_seed(seed)
    model = create_model("shopnet", num_classes=10).eval()
    path = save_bundle(
        models_root / NAME / version,
        model,
        architecture="shopnet",
        model_kwargs={},
        labels=list(CLASS_NAMES),
        preprocess=preprocess,
        train_config={"seed": seed},
        data={"source": "test"},
        review_threshold=0.5,
    )
    if accuracy is not None:
        (path / "metrics.json").write_text(json.dumps({"accuracy": accuracy}))
    return path


def corrupt_bundle(models_root: Path, version: str) -> Path:
    """A version folder whose config is fine but whose weights are truncated."""
    path = make_bundle(models_root, version, seed=99)
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return path


@pytest.fixture(scope="session")
def bundles_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two versions, v1 (older) and v2, built once per session."""
    root = tmp_path_factory.mktemp("bundles")
    make_bundle(root, "v1", seed=1, accuracy=0.81)
    time.sleep(0.02)  # v2's config is newer
    make_bundle(root, "v2", seed=2, accuracy=0.83)
    return root


@pytest.fixture
def models_root(bundles_template: Path, tmp_path: Path) -> Path:
    """A private copy of the two-version models folder (tests may activate, corrupt, add)."""
    root = tmp_path / "models"
    shutil.copytree(bundles_template, root)
    (root / NAME / "v1" / "model.safetensors").touch()  # copytree keeps times; make v2 the newest again
    time.sleep(0.01)
    (root / NAME / "v2" / "model.safetensors").touch()
    return root


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    """Where this test's API keys live."""
    return tmp_path / "api-keys.json"


@pytest.fixture
def api_keys(keys_file: Path) -> dict[str, str]:
    """One key per role."""
    store = KeyStore(keys_file)
    return {
        "reader": store.create("reader", "test reader"),
        "merchant": store.create("merchant", "test merchant", merchant="acme"),
        "admin": store.create("admin", "test admin"),
    }


def settings_for(models_root: Path, keys_file: Path, **changes: Any) -> Settings:
    """Service settings for a test: its models, keys and catalogue folder, quick reload checks."""
    changes.setdefault("catalog_dir", models_root.parent / "catalog")
    return Settings(models_dir=models_root, api_keys_file=keys_file, reload_interval_s=0.2, **changes)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (uvicorn's loop)."""
    return "asyncio"


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
        async with httpx.AsyncClient(transport=transport, base_url="http://shoplens.test", **kwargs) as c:
            if ready:
                await wait_ready(c)
            yield c


@pytest.fixture
async def client(
    models_root: Path, keys_file: Path, api_keys: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A ready app serving v2 (the newest), with the reader key sent by default."""
    app = create_app(settings_for(models_root, keys_file))
    async with serving(app, headers={"X-API-Key": api_keys["reader"]}) as c:
        yield c


async def classify(
    client: httpx.AsyncClient, data: bytes, filename: str = "photo.png", **params: Any
) -> httpx.Response:
    """POST one image as the `file` field."""
    return await client.post("/v1/classify", params=params, files={"file": (filename, data, "image/png")})


def product_photo(size: tuple[int, int] = (96, 120)) -> Image.Image:
    """A dark, asymmetric 'product' on white in four grey levels (rotations and flips change the model input)."""
    img = np.full((size[1], size[0]), 255, np.uint8)
    img[20:100, 15:60] = 40
    img[20:45, 60:85] = 90
    img[70:100, 50:58] = 150
    return Image.fromarray(img)


def encode(img: Image.Image, fmt: str = "PNG", **params: Any) -> bytes:
    """Image to bytes."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


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


@pytest.fixture
async def api(
    models_root: Path, keys_file: Path, api_keys: dict[str, str], database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A ready app with a catalogue on the backend under test; no key sent by default."""
    app = create_app(settings_for(models_root, keys_file, database_url=database_url))
    async with serving(app) as c:
        yield c


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
