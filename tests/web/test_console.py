"""The web console in Debian's Chromium against a real server: every view on a small generated catalogue."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shoplens.api import create_app
from shoplens.api.keys import KeyStore
from shoplens.data.fashion_mnist import CLASS_NAMES
from tests.support.console import DUPLICATED, PHOTOS, Demo, open_page, service_settings
from tests.support.images import encode, png
from tests.support.live import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips these tests, or fails them when SHOPLENS_REQUIRE_BROWSER=1
    expect: Any = None
else:
    expect.set_options(timeout=15_000)  # a shared 2-core machine can be slow; every wait stays bounded
ANY_CATEGORY = re.compile("^(" + "|".join(map(re.escape, CLASS_NAMES)) + ")$")
PERCENT = re.compile(r"^\d{1,3}\.\d %$")
IMAGES_LOADED = "sel => [...document.querySelectorAll(sel)].every(i => i.complete && i.naturalWidth > 0)"
DECODED = "sel => Promise.all([...document.querySelectorAll(sel)].map(i => i.decode().catch(() => null)))"
RECS = (  # the recommendations on screen: product ids and reasons
    "() => [...document.querySelectorAll('#recs > li')]"
    ".map(li => li.dataset.productId + ':' + li.querySelector('.reason').textContent).join('|')"
)


TAB_BAR_OVERFLOW = (  # how far the tab bar's content overflows its box (> 0: the bar shows a scroll control)
    "(() => { const t = document.querySelector('nav.tabs');"
    " return {vertical: t.scrollHeight - t.clientHeight, horizontal: t.scrollWidth - t.clientWidth}; })()"
)


def images_loaded(page: Any, selector: str) -> None:
    """Wait (bounded) until every image matching selector has loaded."""
    assert page.locator(selector).count() > 0, f"no images match {selector}"
    page.wait_for_function(IMAGES_LOADED, arg=selector, timeout=20_000)
    page.evaluate(DECODED, selector)  # painted, not only fetched (for the screenshots)


def fits_width(page: Any) -> bool:
    """No horizontal scrolling of the page itself."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_upload_a_photo_shows_its_category_similar_products_and_a_duplicate_warning(
    demo: Demo, page: Any, shots: Path
) -> None:
    page.goto(f"{demo.base}/#classify")
    upload = {"name": "tee.png", "mimeType": "image/png", "buffer": png(PHOTOS[DUPLICATED])}
    page.set_input_files("#classify-file", files=[upload])
    expect(page.locator(".category-name")).to_have_text(ANY_CATEGORY)
    expect(page.locator(".category-pct")).to_have_text(PERCENT)
    expect(page.locator("#classify-result .bars li")).to_have_count(5)
    warning = page.get_by_role("note", name="Duplicate warning")
    expect(warning).to_contain_text(demo.duplicate["title"])
    similar = page.locator("#similar-grid > li")
    expect(similar).to_have_count(8)
    titles = {p["title"] for p in [*demo.products, demo.duplicate, demo.small]}
    assert set(similar.locator("img").evaluate_all("imgs => imgs.map(i => i.alt)")) <= titles
    images_loaded(page, "#similar-grid img")
    page.screenshot(path=shots / "classify.png", full_page=True)


def test_a_heic_upload_is_classified_though_the_browser_cannot_show_it(demo: Demo, page: Any) -> None:
    page.goto(f"{demo.base}/#classify")
    heic = encode(PHOTOS[DUPLICATED], "HEIF", quality=95)
    page.set_input_files(
        "#classify-file", files=[{"name": "tee.heic", "mimeType": "image/heic", "buffer": heic}]
    )
    expect(page.locator(".category-name")).to_have_text(ANY_CATEGORY)
    expect(page.locator("#classify-result .bars li")).to_have_count(5)
    expect(page.locator(".preview .no-preview")).to_contain_text("cannot show this file's format")
    expect(page.get_by_role("note", name="Duplicate warning")).to_contain_text(demo.duplicate["title"])


def test_a_non_image_upload_shows_the_apis_message(demo: Demo, page: Any, shots: Path) -> None:
    page.goto(f"{demo.base}/#classify")
    pdf = {
        "name": "catalogue.pdf",
        "mimeType": "application/pdf",
        "buffer": b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n",
    }
    page.set_input_files("#classify-file", files=[pdf])
    alert = page.locator("#alert")
    expect(alert).to_be_visible()
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text("catalogue.pdf could not be classified: not a supported image; accepted")
    expect(page.locator("#classify-result")).to_be_empty()
    page.screenshot(path=shots / "classify-error.png")


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


def test_a_shoppers_click_is_recorded_and_the_recommendations_change(
    demo: Demo, page: Any, shots: Path
) -> None:
    page.goto(f"{demo.base}/#shopper")
    page.select_option("#shopper-select", "demo-ann")
    recs = page.locator("#recs > li")
    expect(recs).to_have_count(8)
    expect(page.locator("#profile-heading")).to_have_text("Profile of demo-ann")
    expect(page.locator("#shopper-body .bars li").first).to_be_visible()
    expect(page.locator(".ad-slot").first).to_contain_text("Spring looks, 20 % off")
    expect(recs.first.locator(".reason")).not_to_be_empty()
    images_loaded(page, "#shopper-body img")
    page.screenshot(path=shots / "shopper.png", full_page=True)
    before = page.evaluate(RECS)
    new = recs.filter(has_not_text="you viewed it recently").first  # a product the shopper has not seen yet
    clicked = int(new.get_attribute("data-product-id"))
    new.get_by_role("button").click()
    page.wait_for_function(
        f"before => ({RECS})() !== before && document.querySelectorAll('#recs > li').length > 0",
        arg=before,
        timeout=20_000,
    )
    expect(page.locator("#status")).to_contain_text("recommendations updated")
    assert httpx.get(f"{demo.base}/v1/users/demo-ann/profile").json()["recent"][0] == clicked
    page.locator(".ad-slot button").first.click()
    expect(page.locator("#status")).to_contain_text("Recorded a click on the ad Spring looks")
    campaigns = httpx.get(f"{demo.base}/v1/ads/campaigns").json()
    report = httpx.get(f"{demo.base}/v1/ads/campaigns/{campaigns[0]['id']}/report").json()
    assert report["clicks"] == 1 and report["impressions"] >= 2


def test_the_model_view_shows_the_report_and_activates_and_rolls_back(
    demo: Demo, page: Any, shots: Path
) -> None:
    page.goto(f"{demo.base}/#model")
    expect(page.locator(".metrics")).to_contain_text("Accuracy")
    expect(page.locator("svg.heatmap rect.cell")).to_have_count(100)
    expect(page.locator("#report")).to_contain_text("Most confident mistakes: not in this bundle's report.")
    images_loaded(page, ".report-figure img")
    assert page.locator(".report-figure img").count() == 2  # training curves and the reliability diagram
    page.screenshot(path=shots / "model.png", full_page=True)

    row = page.locator("tbody tr", has=page.locator("th", has_text="v2"))
    refusals: list[str] = []
    page.once("dialog", lambda dialog: (refusals.append(dialog.message), dialog.accept()))
    row.get_by_role("button", name="Activate").click()  # never evaluated: refused, then forced by the person
    expect(row).to_contain_text("active")
    assert refusals and "no recorded evaluation" in refusals[0]
    expect(page.locator("#report")).to_contain_text("No evaluation report: version 'v2' has no metrics.json")
    page.get_by_role("button", name="Roll back to the previous version").click()
    expect(page.locator("tbody tr", has=page.locator("th", has_text="v1"))).to_contain_text("active")
    expect(page.locator("#status")).to_contain_text("now serving v1")


def test_the_confusion_matrix_is_labelled_in_the_reports_class_order(demo: Demo, page: Any) -> None:
    metrics = httpx.get(f"{demo.base}/v1/models/v1/report/metrics.json").json()
    assert metrics["labels"] == list(CLASS_NAMES)  # class-index order, not the sorted keys of per_class
    page.goto(f"{demo.base}/#model")
    first = page.locator("svg.heatmap rect.cell").first  # row 0, column 0: true and predicted T-shirt/top
    expect(first.locator("title")).to_have_text(
        f"true T-shirt/top, predicted T-shirt/top: {metrics['confusion_matrix'][0][0]} "
        f"({100 * metrics['confusion_matrix'][0][0] / sum(metrics['confusion_matrix'][0]):.1f} % of the row)"
    )
    ankle = page.locator("svg.heatmap rect.cell").nth(99)  # the last cell: true and predicted Ankle boot
    expect(ankle.locator("title")).to_contain_text(
        f"predicted Ankle boot: {metrics['confusion_matrix'][9][9]} ("
    )
    expect(page.locator(".metrics")).to_contain_text(
        "95 % CI"
    )  # 300 test samples: an interval, not a bare ECE
    clipped = page.evaluate(
        """() => { const svg = document.querySelector('svg.heatmap'), box = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text.tick')].filter(t => t.getBoundingClientRect().right > box.right + 0.5)
          .map(t => t.textContent); }"""
    )
    assert clipped == []  # "Ankle boot", the last column, was cut to "Ankle bo"


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


def test_the_trends_view_charts_each_category(demo: Demo, page: Any, shots: Path) -> None:
    page.goto(f"{demo.base}/#trends")
    lines = page.locator("#trends-body svg polyline")
    expect(lines.first).to_be_visible()
    expect(page.locator("#trends-body tbody tr").first).to_be_visible()
    assert lines.count() == page.locator("#trends-body tbody tr").count()
    page.screenshot(path=shots / "trends.png", full_page=True)
    page.select_option("#trends-form select[name=measure]", "purchases")
    expect(page.locator("#trends-body h2")).to_contain_text("Purchases per day")
    expect(lines).to_have_count(len({p["category"] for p in demo.purchases}))


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


@pytest.fixture
def keyed_server(demo: Demo) -> Iterator[tuple[str, str]]:
    """A second server on the same catalogue that needs API keys; yields its URL and a reader key."""
    settings = service_settings(demo.folder, demo.folder / "models")
    key = KeyStore(settings.api_keys_file).create("reader", "console test")
    with LiveServer(create_app(settings)) as server:
        yield server.base, key


def test_with_an_api_key_the_console_sends_it_and_loads_images_as_blobs(
    keyed_server: tuple[str, str], page: Any
) -> None:
    base, key = keyed_server
    page.goto(f"{base}/#catalog")
    expect(page.locator("#alert")).to_contain_text("an API key is required")
    page.locator("details.key summary").click()
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#catalog-grid > li").first).to_be_visible()
    expect(page.locator("#key-state")).to_have_text(f"set (…{key[-4:]})")
    images_loaded(page, "#catalog-grid img")
    sources = page.eval_on_selector_all("#catalog-grid img", "imgs => imgs.map(i => i.src)")
    assert sources and all(s.startswith("blob:") for s in sources)
    page.goto(f"{base}/#model")
    row = page.locator("tbody tr", has=page.locator("th", has_text="v2"))
    row.get_by_role("button", name="Activate").click()
    expect(page.locator("#alert")).to_contain_text("needs the admin role; the key has the reader role")


def test_the_skip_link_moves_to_the_content_of_the_view_shown(demo: Demo, page: Any) -> None:
    page.goto(f"{demo.base}/#model")
    expect(page.locator("#view-model")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    expect(page.locator("#view-model")).to_be_visible()  # "#main" is no view: the Model view stays
    assert page.evaluate("location.hash") == "#model"
