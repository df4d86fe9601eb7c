"""What the console says when a photo goes to review, a shopper id is long, a request is refused, or the screen is
narrow — in Debian's Chromium against a real server.

The server of this module needs no catalogue: a photo-reading model sure of its categories, with a "not a
product" detector that sends photos to review from a score of 0.3 (and never calls one "not a product"), an
untrained second version, and one ad campaign.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shoplens.api import create_app
from shoplens.api.keys import KeyStore
from tests.support.bundles import NAME, PHOTO_PRE, add_detector, bundle_at, confident_bundle
from tests.support.console import open_page, service_settings
from tests.support.images import checkerboard, encode, product_photo
from tests.support.live import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips these tests, or fails them when SHOPLENS_REQUIRE_BROWSER=1
    expect: Any = None
else:
    expect.set_options(timeout=15_000)
LONG_ID = "shopper-" + "x" * 92  # 100 characters: the longest id the API takes
AD = "Spring looks, 20 % off"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The models (v1 active and sure of itself, with a detector; v2 untrained) and the catalogue's folder."""
    folder = tmp_path_factory.mktemp("states")
    models = folder / "models"
    add_detector(bundle_at(models / NAME / "v1", preprocess=PHOTO_PRE, temperature=0.001), threshold=2.0)
    confident_bundle(models, "v2", seed=2)
    (models / NAME / "ACTIVE").write_text("v1\n")
    return folder


@pytest.fixture(scope="module")
def base(folder: Path) -> Iterator[str]:
    """The server in open mode (writes allowed, as `make demo` runs it), with one ad campaign."""
    settings = service_settings(folder, folder / "models", open_mode=True, open_write=True)
    with LiveServer(create_app(settings), timeout=60) as server:
        with httpx.Client(base_url=server.base, timeout=60) as c:
            r = c.post(
                "/v1/ads/campaigns",
                json={"merchant": "acme", "name": "Spring sale", "budget": "50.00", "bid": "0.40"},
            )
            assert r.status_code == 201, r.text
            r = c.post(
                f"/v1/ads/campaigns/{r.json()['id']}/creatives",
                data={"headline": AD},
                files={"file": ("ad.png", encode(product_photo()), "image/png")},
            )
            assert r.status_code == 201, r.text
        yield server.base


@pytest.fixture(scope="module")
def keyed(folder: Path, base: str) -> Iterator[tuple[str, str]]:
    """A second server on the same folders that needs API keys; its URL and a reader key (no shopper-data)."""
    settings = service_settings(folder, folder / "models")
    key = KeyStore(settings.api_keys_file).create("reader", "console test")
    with LiveServer(create_app(settings), timeout=60) as server:
        yield server.base, key


def impressions(base: str) -> int:
    """The ad campaign's recorded impressions."""
    campaign = httpx.get(f"{base}/v1/ads/campaigns").json()[0]
    return httpx.get(f"{base}/v1/ads/campaigns/{campaign['id']}/report").json()["impressions"]


def use_key(page: Any, key: str) -> None:
    """Enter an API key in the header's form (the page loads again with it)."""
    page.locator("details.key summary").click()
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-state")).to_have_text(f"set (…{key[-4:]})")


def show_shopper(page: Any, user: str) -> None:
    """Type a shopper id in the Shopper view and show it."""
    page.locator("#shopper-id").fill(user)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#profile-heading")).to_have_text(f"Profile of {user}")


def test_a_photo_sent_to_review_for_its_score_says_so_not_that_the_model_is_unsure(
    base: str, page: Any
) -> None:
    answer = httpx.post(
        f"{base}/v1/classify", files={"file": ("board.png", encode(checkerboard()), "image/png")}
    ).json()["results"][0]
    assert answer["needs_review"] and answer["top"][0]["probability"] > 0.99 and answer["ood_score"] >= 0.3
    page.goto(f"{base}/#classify")
    board = {"name": "board.png", "mimeType": "image/png", "buffer": encode(checkerboard())}
    page.set_input_files("#classify-file", files=[board])
    expect(page.locator("#classify-result .badge.warn")).to_have_text("needs review")
    note = page.locator(".review-note")
    expect(note).to_have_text(
        "The photo looks unlike the products the model knows: a person should check this one."
    )
    expect(page.locator("#classify-result")).not_to_contain_text("less sure")


def test_a_100_character_shopper_id_records_impressions_and_clicks(base: str, page: Any) -> None:
    before = impressions(base)
    page.goto(f"{base}/#shopper")
    show_shopper(page, LONG_ID)
    expect(page.locator(".ad-slot").first).to_contain_text(AD)
    page.wait_for_load_state("networkidle")
    assert impressions(base) == before + 1  # the session id stays short: no 422 for it
    expect(page.locator("#alert")).to_be_hidden()
    page.locator(".ad-slot button").first.click()
    expect(page.locator("#status")).to_contain_text(f"Recorded a click on the ad {AD}")
    expect(page.locator("#alert")).to_be_hidden()


def test_an_impression_that_is_not_recorded_is_shown(base: str, page: Any) -> None:
    user = "erased-shopper"  # an erased shopper's later events are refused (409)
    assert httpx.delete(f"{base}/v1/users/{user}").status_code == 200
    page.goto(f"{base}/#shopper")
    show_shopper(page, user)
    expect(page.locator(".ad-slot").first).to_contain_text(AD)
    expect(page.locator("#alert")).to_contain_text(f"The impression of the ad {AD} was not recorded")


def test_the_key_state_claims_open_mode_only_on_an_open_server(
    base: str, keyed: tuple[str, str], page: Any
) -> None:
    page.goto(f"{base}/#classify")
    expect(page.locator("#key-state")).to_have_text("none (open mode)")
    page.goto(f"{keyed[0]}/#classify")
    expect(page.locator("#key-state")).to_have_text("none (this server needs one)")


def test_without_a_key_the_shopper_list_says_a_key_is_needed(keyed: tuple[str, str], page: Any) -> None:
    page.goto(f"{keyed[0]}/#shopper")
    expect(page.locator("#alert")).to_contain_text("Shoppers could not be listed: an API key is required")
    expect(page.locator("#shopper-select option").first).to_have_text(
        "not listed: no access with this key; type an id"
    )


def test_a_reader_key_is_told_it_may_not_see_shoppers_not_that_there_are_none(
    keyed: tuple[str, str], page: Any
) -> None:
    url, key = keyed
    page.goto(f"{url}/#shopper")
    use_key(page, key)
    expect(page.locator("#alert")).to_contain_text("Shoppers could not be listed: this needs the admin role")
    first = page.locator("#shopper-select option").first
    expect(first).to_have_text("not listed: no access with this key; type an id")
    show_shopper(page, "demo-ann")
    panel = page.locator("#shopper-body .panel", has=page.locator("#profile-heading"))
    expect(panel.locator(".profile-refused")).to_contain_text(
        "The profile cannot be shown: this API key may not"
    )
    expect(panel).not_to_contain_text("No events yet")


@pytest.mark.parametrize("width", [1400, 390])
def test_every_tab_and_every_version_action_is_on_screen(
    base: str, browser: Any, shots: Path, width: int
) -> None:
    with open_page(browser, width, 900) as page:
        page.goto(f"{base}/#model")
        expect(page.locator("tbody tr")).to_have_count(2)
        off = page.evaluate(
            """() => [...document.querySelectorAll('[role=tab], tbody button, tbody td')]
              .filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > innerWidth; })
              .map(e => e.textContent)"""
        )
        assert off == [], f"off screen at {width} px: {off}"
        activate = page.locator("tbody tr", has=page.locator("th", has_text="v2")).get_by_role(
            "button", name="Activate"
        )
        expect(activate).to_be_in_viewport()
        expect(page.locator("tbody tr", has_text="v1")).to_contain_text("active")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        page.screenshot(path=shots / f"model-versions-{width}.png", full_page=True)
