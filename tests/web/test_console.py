"""The web console in Debian's Chromium against a real server, on a small generated catalogue: classifying an
upload, a shopper's recommendations, the model and trends views, and a server that needs an API key."""

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
from tests.support.console import DUPLICATED, PHOTOS, Demo, service_settings
from tests.support.images import encode, png
from tests.support.live import LiveServer
from tests.web.console_page import expect, images_loaded

pytestmark = [pytest.mark.browser, pytest.mark.server]

ANY_CATEGORY = re.compile("^(" + "|".join(map(re.escape, CLASS_NAMES)) + ")$")
PERCENT = re.compile(r"^\d{1,3}\.\d %$")
RECS = (  # the recommendations on screen: product ids and reasons
    "() => [...document.querySelectorAll('#recs > li')]"
    ".map(li => li.dataset.productId + ':' + li.querySelector('.reason').textContent).join('|')"
)


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
