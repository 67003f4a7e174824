from __future__ import annotations

import json
import zipfile

import pytest

from generations.assets import asset_save_output
from generations.models import Favourite
from tests.conftest import PASSWORD
from tests.factories import ProjectFactory, make_png
from tests.generations.test_gallery import make_gallery_output

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROMPTS = [
    "A red fox in fresh snow, morning light",
    "Neon city street in the rain at night",
    "A paper boat on a puddle, macro shot",
    "Lighthouse on a cliff during a storm",
    "Neon signs reflected in a wet window",
    "Desert dunes at golden hour, aerial view",
    "A bowl of ramen with steam, top-down",
]
COLORS = [
    (200, 80, 40),
    (40, 90, 200),
    (60, 160, 90),
    (220, 190, 60),
    (150, 60, 170),
    (230, 130, 70),
    (90, 90, 110),
]


def _artifacts():
    from tests.browser.conftest import ARTIFACTS

    return ARTIFACTS


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/projects/")


@pytest.fixture
def outputs(acme, alice, bob, acme_project):
    other = ProjectFactory(team=acme, name="Night shoot", slug="night-shoot", created_by=alice)
    made = []
    for i, (prompt, color) in enumerate(zip(PROMPTS, COLORS, strict=True)):
        project = other if i % 2 else acme_project
        asset = make_gallery_output(project, user=alice if i % 3 else bob, age_minutes=i * 10, prompt=prompt)
        # A distinct colour per card, so the screenshots show which is which (same row, new file).
        made.append(asset_save_output(job=asset.job, index=0, data=make_png(640, 480, color)))
    return made


def _results_swap(page):
    return page.expect_response(
        lambda r: "/gallery/?" in r.url and r.request.headers.get("hx-request") == "true"
    )


def test_the_gallery_filters_searches_stars_selects_a_range_and_downloads_a_zip(
    live_server, page, screenshot, alice, outputs
):
    _log_in(page, live_server, "alice")
    page.get_by_role("link", name="Gallery").click()
    page.wait_for_url(f"{live_server.url}/gallery/")
    cards = page.locator(".output-card")
    assert cards.count() == len(PROMPTS)
    page.evaluate("window.__sameDocument = true")

    # Search narrows the grid as you type (debounced), and the URL follows.
    with _results_swap(page):
        page.get_by_label("Search prompts").fill("neon")
    page.wait_for_function("() => document.querySelectorAll('.output-card').length === 2")
    assert "q=neon" in page.url
    # A filter on top of the search.
    with _results_swap(page):
        page.get_by_label("Project", exact=True).select_option(label="Night shoot")
    page.wait_for_function("() => document.querySelectorAll('.output-card').length === 1")
    assert "Neon city street" in cards.first.inner_text()
    with _results_swap(page):
        page.get_by_label("Search prompts").fill("zebra")
    page.get_by_role("heading", name="Nothing matches").wait_for()
    screenshot(page, "40-gallery-nothing-matches")

    page.get_by_role("link", name="Clear all filters").click()
    page.wait_for_url(f"{live_server.url}/gallery/")
    page.wait_for_function(f"() => document.querySelectorAll('.output-card').length === {len(PROMPTS)}")
    page.evaluate("window.__sameDocument = true")  # the clear link was a real navigation

    # Star the first card: the button swaps in place, the row exists.
    first = cards.nth(0)
    first.locator(".star-btn").click()
    first.locator(".star-btn.is-on").wait_for()
    assert Favourite.objects.filter(user=alice, asset=outputs[0]).exists()

    # Click card 2, Shift-click card 5: cards 2..5 are selected, and the bar counts them.
    boxes = page.locator("input.gallery-select")
    boxes.nth(1).click()
    boxes.nth(4).click(modifiers=["Shift"])
    checked = page.evaluate(
        "() => [...document.querySelectorAll('input.gallery-select')].map(b => b.checked)"
    )
    assert checked == [False, True, True, True, True, False, False]
    bar = page.locator("#bulk-bar")
    bar.wait_for(state="visible")
    assert page.locator("#bulk-count").inner_text() == "4"
    screenshot(page, "41-gallery-selection")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download zip").click()
    download = download_info.value
    assert download.suggested_filename.startswith("wanweb-acme-") and download.suggested_filename.endswith(
        ".zip"
    )
    archive = zipfile.ZipFile(download.path())
    manifest = json.loads(archive.read("manifest.json"))
    assert [e["prompt"] for e in manifest["outputs"]] == PROMPTS[1:5]
    for entry, asset in zip(manifest["outputs"], outputs[1:5], strict=True):
        with asset.file.open("rb") as handle:
            assert archive.read(entry["file"]) == handle.read()

    # Add the selection to a new collection without leaving the page.
    page.get_by_role("button", name="Add to collection").click()
    page.get_by_placeholder("New collection name").fill("Client picks")
    page.get_by_role("button", name="Add", exact=True).click()
    page.locator(".toast", has_text="Added 4 outputs").wait_for()
    page.wait_for_function("() => !document.querySelector('input.gallery-select:checked')")
    assert page.evaluate("window.__sameDocument") is True
    assert page.js_errors == []

    # Favourites only.
    with _results_swap(page):
        page.get_by_label("Favourites").check()
    page.wait_for_function("() => document.querySelectorAll('.output-card').length === 1")

    page.goto(f"{live_server.url}/collections/")
    screenshot(page, "46-collection-list")
    page.get_by_role("link", name="Client picks").click()
    page.locator(".output-card").nth(3).wait_for()
    assert page.locator(".output-card").count() == 4
    screenshot(page, "42-collection-detail")
    assert page.js_errors == []


def test_the_gallery_on_a_phone(live_server, page, screenshot, alice, outputs):
    page.set_viewport_size({"width": 390, "height": 844})
    _log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/gallery/")
    page.locator("input.gallery-select").nth(0).click()
    page.locator("input.gallery-select").nth(2).click(modifiers=["Shift"])
    assert page.locator("#bulk-count").inner_text() == "3"
    screenshot(page, "43-gallery-phone")
    # What the phone really shows: the sticky bar at the bottom of the screen, over the cards.
    page.screenshot(path=str(_artifacts() / "43b-gallery-phone-viewport.png"))
    page.goto(f"{live_server.url}/collections/")
    screenshot(page, "44-collections-phone")
    assert page.js_errors == []


def test_the_gallery_desktop_overview(live_server, page, screenshot, alice, outputs):
    _log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/gallery/")
    page.locator(".output-card").first.wait_for()
    screenshot(page, "45-gallery-desktop")
    assert page.js_errors == []
