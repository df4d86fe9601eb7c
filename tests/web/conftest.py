"""The console in a real Chromium (Debian's, through Playwright) against a real uvicorn on 127.0.0.1.

One server per module serves a small generated catalogue: 22 products of three merchants (one declared
in the wrong category, one a near-duplicate of another merchant's photo, one too small), two shoppers
with events, one ad campaign, and an evaluation report for the served model version. Screenshots go to
$SHOPLENS_SCREENSHOTS when it is set (the README's: `SHOPLENS_SCREENSHOTS=docs/screenshots`), else to a
temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shoplens.api import create_app
from tests.support.console import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Demo,
    models_with_report,
    open_page,
    seed_behaviour,
    seed_catalogue,
    service_settings,
)
from tests.support.live import LiveServer


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The console's server in open mode (as `make demo` runs it) with the generated catalogue."""
    folder = tmp_path_factory.mktemp("console")
    models = models_with_report(folder / "models")
    settings = service_settings(folder, models, open_mode=True, open_write=True)
    with LiveServer(create_app(settings), timeout=60) as server:
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


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A 1280×800 page."""
    with open_page(browser) as p:
        yield p
