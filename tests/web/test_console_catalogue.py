"""The console's catalogue and search views in Debian's Chromium against a real server, on a small generated
catalogue: filtering by flag, category, merchant and colour, finding products by words, and a merchant correcting
a mismatched category."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.console import Demo
from tests.web.console_page import expect, images_loaded

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_the_catalogue_filters_by_flag_category_and_merchant(demo: Demo, page: Any, shots: Path) -> None:
    everything = len(demo.products) + 2
    page.goto(f"{demo.base}/#catalog")
    grid = page.locator("#catalog-grid > li")
    expect(grid).to_have_count(everything)
    expect(page.locator("#catalog-summary")).to_contain_text(f"{everything} products")
    expect(page.locator("select[name=flag] option[value=mismatch]")).to_have_text("Category mismatch (1)")
    images_loaded(page, "#catalog-grid img")
    page.screenshot(path=shots / "catalogue.png", full_page=True)

    page.select_option("select[name=flag]", "mismatch")
    expect(grid).to_have_count(1)
    expect(grid.first).to_contain_text(demo.wrong["title"])
    page.select_option("select[name=flag]", "duplicate")
    expect(grid).to_have_count(2)
    expect(page.locator("#catalog-grid")).to_contain_text(demo.duplicate["title"])
    page.select_option("select[name=flag]", "low_quality")
    expect(grid).to_have_count(1)
    expect(grid.first).to_contain_text(demo.small["title"])
    page.select_option("select[name=flag]", "")
    page.select_option("select[name=merchant]", "initech")
    expect(grid).to_have_count(sum(p["merchant"] == "initech" for p in [*demo.products, demo.small]))
    category = demo.wrong["category"]
    page.select_option("select[name=merchant]", "")
    page.select_option("select[name=category]", category)
    expect(grid).to_have_count(
        sum(p["category"] == category for p in [*demo.products, demo.duplicate, demo.small])
    )
    page.select_option("select[name=category]", "")
    page.select_option("select[name=status]", "draft")  # every demo product is active
    expect(page.locator("#catalog-summary")).to_have_text("No products match these filters.")
    page.select_option("select[name=status]", "active")
    expect(grid).to_have_count(everything)


def test_the_catalogue_filters_by_colour_and_shows_a_products_colours(demo: Demo, page: Any) -> None:
    """The colour filter lists exactly the products the API says show that colour (share ≥ 0.2 in a photo); a
    product's detail shows its photo's colours with their shares."""
    everything = [*demo.products, demo.duplicate, demo.small]

    def showing(name: str) -> set[int]:
        return {
            p["id"]
            for p in everything
            if any(c["name"] == name and c["share"] >= 0.2 for c in p["images"][0]["colours"])
        }

    names = sorted({c["name"] for p in everything for c in p["images"][0]["colours"]})
    colour = min(
        names, key=lambda n: abs(len(showing(n)) - len(everything) / 2)
    )  # what splits the catalogue most
    shows = showing(colour)
    assert 0 < len(shows) < len(everything)  # the filter has something to leave out
    page.goto(f"{demo.base}/#catalog")
    grid = page.locator("#catalog-grid > li")
    expect(grid).to_have_count(len(everything))
    expect(page.locator("select[name=colour] option")).to_have_count(17)  # "Any" and the palette
    page.select_option("select[name=colour]", colour)
    expect(grid).to_have_count(len(shows))
    listed = {int(i) for i in grid.evaluate_all("cards => cards.map(c => c.dataset.productId)")}
    assert listed == shows
    grid.first.get_by_role("button").click()
    dialog = page.locator("#product-dialog")
    expect(dialog).to_be_visible()
    product = next(p for p in everything if p["id"] == max(shows))  # newest first
    first = product["images"][0]["colours"][0]
    share = f"{100 * first['share']:.1f} %"
    expect(dialog.locator("dl.facts")).to_contain_text(f"Colours{first['name']} {share}")
    page.keyboard.press("Escape")
    page.select_option("select[name=colour]", "")
    expect(grid).to_have_count(len(everything))


def test_the_search_box_finds_products_by_words(demo: Demo, page: Any, shots: Path) -> None:
    brand = demo.products[0]["brand"]
    expected = [p["title"] for p in [*demo.products, demo.duplicate, demo.small] if p["brand"] == brand]
    page.goto(f"{demo.base}/#search")
    box = page.get_by_role("searchbox", name="Words")
    expect(box).to_be_focused()
    box.fill(f"{brand.lower()}!")
    box.press("Enter")
    grid = page.locator("#search-grid > li")
    expect(grid).to_have_count(len(expected))
    assert sorted(grid.locator(".card-title").all_text_contents()) == sorted(expected)
    expect(grid.first.locator(".badge")).to_have_text("words #1")
    expect(page.locator("#search-summary")).to_contain_text(
        "by titles and brands"
    )  # a trained model: no text tower
    images_loaded(page, "#search-grid img")
    page.screenshot(path=shots / "search.png", full_page=True)
    box.fill("zzzz")
    box.press("Enter")
    expect(page.locator("#search-summary")).to_have_text("Nothing found for “zzzz”.")
    expect(grid).to_have_count(0)


def test_a_merchant_corrects_a_mismatched_category(demo: Demo, page: Any, shots: Path) -> None:
    page.goto(f"{demo.base}/#catalog")
    page.select_option("select[name=flag]", "mismatch")
    grid = page.locator("#catalog-grid > li")
    expect(grid).to_have_count(1)
    grid.first.get_by_role("button").click()
    dialog = page.locator("#product-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", level=2)).to_have_text(demo.wrong["title"])
    predicted = demo.wrong["predicted_category"]
    expect(dialog).to_contain_text(
        f"Declared as {demo.wrong['category']}, but the photo looks like {predicted}."
    )
    images_loaded(page, "#product-dialog img")
    page.screenshot(path=shots / "product.png")
    mismatches = page.locator("select[name=flag] option[value=mismatch]")
    expect(mismatches).to_have_text(re.compile(r"\(1\)$"))
    dialog.get_by_role("button", name=f"Use the prediction ({predicted})").click()
    dialog.get_by_role("button", name="Save category").click()
    expect(dialog).not_to_contain_text("but the photo looks like")
    expect(dialog.locator("dl.facts")).to_contain_text(f"Declared category{predicted}")
    expect(mismatches).to_have_text(re.compile(r"\(0\)$"))  # the filter's count follows the correction
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#catalog-summary")).to_have_text("No products match these filters.")
    back = "() => document.activeElement !== document.body"  # the focus came back into the catalogue
    page.wait_for_function(back, timeout=5000)
    assert httpx.get(f"{demo.base}/v1/products/{demo.wrong['id']}").json()["flags"] == []
