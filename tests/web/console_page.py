"""What the console tests do with a page: Playwright's `expect` with bounded waits, and waiting for images."""

from __future__ import annotations

from typing import Any

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips these tests, or fails them when SHOPLENS_REQUIRE_BROWSER=1
    expect: Any = None
else:
    expect.set_options(timeout=15_000)  # a shared 2-core machine can be slow; every wait stays bounded

IMAGES_LOADED = "sel => [...document.querySelectorAll(sel)].every(i => i.complete && i.naturalWidth > 0)"
DECODED = "sel => Promise.all([...document.querySelectorAll(sel)].map(i => i.decode().catch(() => null)))"


def images_loaded(page: Any, selector: str) -> None:
    """Wait (bounded) until every image matching selector has loaded."""
    assert page.locator(selector).count() > 0, f"no images match {selector}"
    page.wait_for_function(IMAGES_LOADED, arg=selector, timeout=20_000)
    page.evaluate(DECODED, selector)  # painted, not only fetched (for the screenshots)
