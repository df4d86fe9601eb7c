"""The console's layout and keyboard use in Debian's Chromium against a real server: every view on a wide and a
phone-sized screen, the tab bar, keys between tabs, alt text, and the skip link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.console import Demo, open_page
from tests.web.console_page import expect, images_loaded

pytestmark = [pytest.mark.browser, pytest.mark.server]

TAB_BAR_OVERFLOW = (  # how far the tab bar's content overflows its box (> 0: the bar shows a scroll control)
    "(() => { const t = document.querySelector('nav.tabs');"
    " return {vertical: t.scrollHeight - t.clientHeight, horizontal: t.scrollWidth - t.clientWidth}; })()"
)


def fits_width(page: Any) -> bool:
    """No horizontal scrolling of the page itself."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [1400, 390])
def test_every_view_fits_the_screen_and_the_tab_bar_has_no_scroll_control(
    demo: Demo, browser: Any, shots: Path, width: int
) -> None:
    with open_page(browser, width, 900) as page:
        for view in ("classify", "catalog", "shopper", "model", "trends"):
            page.goto(f"{demo.base}/#{view}")
            expect(page.locator(f"#view-{view}")).to_be_visible()
            page.wait_for_load_state("networkidle")
            assert fits_width(page), f"{view} at {width} px scrolls sideways"
            bar = page.evaluate(TAB_BAR_OVERFLOW)
            assert bar["vertical"] <= 0, f"the tab bar overflows vertically by {bar['vertical']} px ({view})"
            assert bar["horizontal"] <= 0, f"the tab bar scrolls sideways at {width} px ({view})"
            for tab in page.get_by_role("tab").all():  # every tab on screen, none past the right edge
                expect(tab).to_be_in_viewport(ratio=1)
            page.screenshot(path=shots / f"{view}-{width}.png")


def test_keyboard_tabs_alt_text_and_a_390px_screen(demo: Demo, browser: Any, shots: Path) -> None:
    with open_page(browser, 390, 844) as page:
        page.goto(f"{demo.base}/#classify")
        page.focus("#tab-classify")
        page.keyboard.press("ArrowRight")
        expect(page.locator("#tab-catalog")).to_be_focused()
        expect(page.locator("#view-catalog")).to_be_visible()
        expect(page.locator("#view-classify")).to_be_hidden()
        expect(page.locator("#catalog-grid > li").first).to_be_visible()
        images_loaded(page, "#catalog-grid img")
        assert fits_width(page)
        assert (
            page.eval_on_selector_all("img", "imgs => imgs.filter(i => !i.hasAttribute('alt')).length") == 0
        )
        assert page.eval_on_selector_all("#catalog-grid img", "imgs => imgs.every(i => i.alt.length > 0)")
        page.screenshot(path=shots / "catalogue-390.png")
        for tab in (
            "search",
            "shopper",
            "model",
            "trends",
        ):  # the search box never takes the focus from the tabs
            page.keyboard.press("ArrowRight")
            expect(page.locator(f"#tab-{tab}")).to_be_focused()
            expect(page.locator(f"#view-{tab}")).to_be_visible()
        page.keyboard.press("Home")
        page.keyboard.press("End")
        expect(page.locator("#tab-trends")).to_be_focused()
        expect(page.locator("#view-trends")).to_be_visible()
        page.keyboard.press("Home")
        expect(page.locator("#view-classify")).to_be_visible()
        page.focus(
            "#classify-file"
        )  # the drop zone's real file input: focusable, and the zone shows the focus
        assert page.evaluate("getComputedStyle(document.querySelector('#drop')).outlineStyle") == "solid"
        assert fits_width(page)


def test_the_skip_link_moves_to_the_content_of_the_view_shown(demo: Demo, page: Any) -> None:
    page.goto(f"{demo.base}/#model")
    expect(page.locator("#view-model")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    expect(page.locator("#view-model")).to_be_visible()  # "#main" is no view: the Model view stays
    assert page.evaluate("location.hash") == "#model"
