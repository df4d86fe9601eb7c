"""The console in a real Chromium (Debian's, through Playwright) against a real uvicorn on 127.0.0.1.

One server per module serves a small generated catalogue: 22 products of three merchants (one declared
in the wrong category, one a near-duplicate of another merchant's photo, one too small), two shoppers
with events, one ad campaign, and an evaluation report for the served model version. Screenshots go to
$SHOPLENS_SCREENSHOTS when it is set (the README's: `SHOPLENS_SCREENSHOTS=docs/screenshots`), else to a
temporary folder.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import httpx
import numpy as np
import pytest
import torch
import uvicorn
from fastapi import FastAPI
from PIL import Image

from shoplens.api import create_app
from shoplens.catalog.demo import BRANDS, STYLES, near_duplicate
from shoplens.config import Settings
from shoplens.data.fashion_mnist import CLASS_NAMES
from shoplens.imaging.preprocess import images_to_batch, normalize
from shoplens.models import create_model, save_bundle
from shoplens.training.report import write_report
from tests.api.conftest import FMNIST_PRE, anyio_backend, api_keys, keys_file  # noqa: F401  (fixtures, for tests here)
from tests.api.test_server import wait_until_ready
from tests.catalog.conftest import NAME, make_version, models_root, models_template, photos, png  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MERCHANTS = ("acme", "globex", "initech")
USERS = ("demo-ann", "demo-bob")
SHOPPING = (
    "view",
    "view",
    "click",
    "view",
    "add_to_cart",
    "view",
    "click",
    "view",
    "purchase",
    "view",
) * 2  # one a day
PHOTOS = photos(20, seed=5, size=56)
WRONG = 3  # the product declared in a category the model is sure it is not
DUPLICATED = 0  # the product another merchant lists again with a near-duplicate photo


@dataclass
class Demo:
    """What the tests know about the generated catalogue."""

    base: str
    folder: Path
    products: list[dict[str, Any]] = field(default_factory=list)
    wrong: dict[str, Any] = field(default_factory=dict)
    duplicate: dict[str, Any] = field(default_factory=dict)
    small: dict[str, Any] = field(default_factory=dict)
    purchases: list[dict[str, Any]] = field(default_factory=list)


def fitted_version(
    root: Path, version: str, images: list[Image.Image], labels: list[int], steps: int = 40
) -> Path:
    """A shopnet bundle fitted to a few photos (each to its label): categories differ, search means something."""
    torch.manual_seed(0)
    model = create_model("shopnet", num_classes=10)
    x = torch.from_numpy(normalize(images_to_batch(images, FMNIST_PRE), FMNIST_PRE))
    y = torch.tensor(labels)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is as fast, and far faster on a busy machine
    try:
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return save_bundle(
        root / NAME / version,
        model.eval(),
        architecture="shopnet",
        model_kwargs={},
        labels=list(CLASS_NAMES),
        preprocess=FMNIST_PRE,
        train_config={"steps": steps},
        data={"source": "test"},
        review_threshold=0.9,
    )


def models_with_report(root: Path) -> Path:
    """v1 (active; fitted to the catalogue's photos, with a report) and v2 (untrained, no report)."""
    fitted_version(root, "v1", PHOTOS, [i % 10 for i in range(len(PHOTOS))])
    make_version(root, "v2", seed=2)
    (root / NAME / "ACTIVE").write_text("v1\n")
    rng = np.random.default_rng(0)
    y_true = np.arange(300) % 10
    logits = (
        rng.normal(size=(300, 10))
        + 4.0 * np.eye(10)[np.where(rng.random(300) < 0.85, y_true, rng.integers(0, 10, 300))]
    )
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    history = [
        {
            "epoch": e,
            "train_loss": 1.6 / e,
            "val_loss": 1.7 / e + 0.05,
            "train_acc": 1 - 0.5 / e,
            "val_acc": 0.97 - 0.5 / e,
            "lr": 0.1 / e,
        }
        for e in range(1, 7)
    ]
    write_report(
        root / NAME / "v1" / "report",
        title="v1 (test report)",
        metrics={},
        class_names=list(CLASS_NAMES),
        y_true=y_true,
        probs=probs,
        images=None,
        history=history,
    )
    accuracy = json.loads((root / NAME / "v1" / "report" / "metrics.json").read_text())["accuracy"]
    (root / NAME / "v1" / "metrics.json").write_text(json.dumps({"accuracy": accuracy}))
    return root


def service_settings(folder: Path, models: Path, **changes: Any) -> Settings:
    """Settings for a console test server: explicit folders, SQLite, no catalogue from the environment."""
    return Settings(
        models_dir=models,
        catalog_dir=folder / "catalog",
        database_url=None,
        api_keys_file=folder / "api-keys.json",
        reload_interval_s=0.2,
        **changes,
    )


@dataclass
class LiveServer:
    """A uvicorn server in a thread on a free loopback port."""

    app: FastAPI
    base: str = ""
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    sock: socket.socket | None = None

    def __enter__(self) -> Self:
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="on")
        )
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        wait_until_ready(self.base, timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server and self.thread and self.sock
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


def add_product(
    c: httpx.Client, merchant: str, sku: str, title: str, category: str | None, image: bytes
) -> dict[str, Any]:
    """POST /v1/products as an admin (open mode) acting for `merchant`."""
    product = {
        "merchant": merchant,
        "sku": sku,
        "title": title,
        "brand": title.split()[0],
        "price": "24.90",
        "category": category,
        "stock": 5,
    }
    r = c.post(
        "/v1/products",
        data={"product": json.dumps(product)},
        files=[("files", (f"{sku}.png", image, "image/png"))],
    )
    assert r.status_code == 201, r.text
    return r.json()


def predicted(c: httpx.Client, image: bytes) -> str:
    """The served model's category for a photo."""
    r = c.post("/v1/classify", files={"file": ("p.png", image, "image/png")})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]["top"][0]["label"]


def seed_catalogue(c: httpx.Client, demo: Demo) -> None:
    """Products declared as the model sees them, except one wrong; a near-duplicate; a too-small photo."""
    for i, photo in enumerate(PHOTOS):
        data = png(photo)
        label = predicted(c, data)
        declared = CLASS_NAMES[(CLASS_NAMES.index(label) + 5) % 10] if i == WRONG else label
        title = f"{BRANDS[i % len(BRANDS)]} {STYLES[i % len(STYLES)]} {label.split('/')[0]}"
        demo.products.append(add_product(c, MERCHANTS[i % 3], f"SKU-{i:02d}", title, declared, data))
    demo.wrong = demo.products[WRONG]
    assert "mismatch" in demo.wrong["flags"], demo.wrong
    copy = near_duplicate(PHOTOS[DUPLICATED], np.random.default_rng(3))
    original = demo.products[DUPLICATED]
    demo.duplicate = add_product(
        c, "globex", "RELIST-1", f"{original['title']} (relisted)", original["category"], copy
    )
    assert "duplicate" in demo.duplicate["flags"], demo.duplicate
    tiny = png(photos(1, seed=77, size=20)[0])
    demo.small = add_product(c, "initech", "TINY-1", "Initech Tiny Sample", predicted(c, tiny), tiny)
    assert "low_quality" in demo.small["flags"], demo.small


def seed_behaviour(c: httpx.Client, demo: Demo) -> None:
    """Two shoppers' events over the last twenty days (each its own products); an ad campaign and creative."""
    now = datetime.now(UTC)
    events = []
    for u, user in enumerate(USERS):
        mine = demo.products[u::2][:5]  # each shopper keeps to five products: the other 17 can be recommended
        for n, kind in enumerate(SHOPPING):
            product = mine[(2 * n) % len(mine)]
            if kind == "purchase":
                demo.purchases.append(product)
            ts = (now - timedelta(days=len(SHOPPING) - 1 - n, hours=2 + u)).isoformat()
            events.append(
                {
                    "event_id": f"seed-{user}-{n}",
                    "user_id": user,
                    "type": kind,
                    "timestamp": ts,
                    "product_id": product["id"],
                    "session_id": f"{user}-s{n // 4}",
                }
            )
    r = c.post("/v1/events", json={"events": events})
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text
    r = c.post(
        "/v1/ads/campaigns",
        json={"merchant": "acme", "name": "Spring sale", "budget": "50.00", "bid": "0.40"},
    )
    assert r.status_code == 201, r.text
    ad = png(photos(1, seed=91, size=56)[0])
    r = c.post(
        f"/v1/ads/campaigns/{r.json()['id']}/creatives",
        data={"headline": "Spring looks, 20 % off"},
        files={"file": ("ad.png", ad, "image/png")},
    )
    assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The console's server in open mode (as `make demo` runs it) with the generated catalogue."""
    folder = tmp_path_factory.mktemp("console")
    models = models_with_report(folder / "models")
    with LiveServer(create_app(service_settings(folder, models, open_mode=True))) as server:
        demo = Demo(server.base, folder)
        with httpx.Client(base_url=server.base, timeout=60) as c:
            seed_catalogue(c, demo)
            seed_behaviour(c, demo)
        yield demo


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser).

    Module-scoped: Playwright's sync API keeps an event loop running in this thread while it is open, and the
    async (anyio) tests that run after this module need the thread's loop free again.
    """
    required = os.environ.get("SHOPLENS_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("playwright is not installed but the browser tests are required")
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        if required:
            pytest.fail(
                f"{CHROMIUM} is missing but the browser tests are required (apt-get install chromium)"
            )
        pytest.skip(f"no {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $SHOPLENS_SCREENSHOTS (e.g. docs/screenshots), else a temporary folder."""
    wanted = os.environ.get("SHOPLENS_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def open_page(browser: Any, width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A page in a fresh browser context; every wait is bounded; a script error in the page fails the test."""
    context = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.set_default_navigation_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"script errors in the console: {errors}"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A 1280×800 page."""
    with open_page(browser) as p:
        yield p
