"""A compare run built from the studio form in Chromium: cells fill live, a row of videos plays in
sync, a winner is picked, a second member votes. Screenshots at desktop and phone sizes."""

from __future__ import annotations

import pytest

from generations.models import Favourite, RunCell, RunVote
from tests.conftest import PASSWORD
from tests.fakes.fal import FakeFal

pytestmark = [pytest.mark.browser, pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/projects/")


@pytest.fixture
def fake_fal(monkeypatch, settings):
    with FakeFal(steps=("IN_PROGRESS",)) as fake:
        for name, value in fake.environ.items():
            monkeypatch.setenv(name, value)
        settings.ALLOW_PRIVATE_URLS = True  # the fake's result files are on loopback
        yield fake


def test_a_compare_run_from_the_form_fills_live_plays_in_sync_and_takes_a_winner_and_votes(
    live_server, browser, page, screenshot, celery_worker_live, fake_fal, alice, bob, acme_project
):
    from tests.browser.conftest import pick_mode

    _log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{acme_project.public_id}/")
    pick_mode(page, "t2v")
    page.get_by_label("Prompt", exact=True).fill("A paper boat on a rainy street at dusk")
    page.locator("details.advanced summary").click()
    page.locator("#id_sim_delay").fill("2")
    page.locator("#compare-section summary").click()
    page.get_by_label("Simulator (offline) · wan-sim").check()
    page.get_by_label("fal.ai · wan/v2.6/text-to-video").check()
    page.locator("#id_compare_seed_list").fill("7, 8")
    page.locator("#compare-estimate .compare-count").filter(has_text="4 jobs").wait_for()
    total = page.locator("#compare-estimate .compare-total").inner_text()
    assert total.startswith("$")
    screenshot(page, "60-compare-form")
    page.locator("button.compare-submit").click()
    page.wait_for_url(f"{live_server.url}/runs/*/")
    assert page.locator(".run-cell").count() == 4

    # The cells fill in place: the page is never reloaded, one poller asks for the changes.
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function(
        "() => document.querySelectorAll('.run-cell[data-status=succeeded]').length === 4", timeout=120_000
    )
    assert page.evaluate("window.__sameDocument") is True
    page.wait_for_function("() => document.getElementById('run-poller').dataset.polling === 'false'")
    fal_note = page.locator("#cell-1-0 .run-note").inner_text()
    assert "left out (this model has no such setting): fps" in fal_note and "sim_" not in fal_note
    assert "Seed\n8" in page.locator("#cell-0-1 .run-facts").inner_text()

    # One button plays the row's videos together.
    page.locator(".run-play-row[data-row='0']").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.run-row[data-row=\"0\"] video')]"
        ".every(v => !v.paused && v.currentTime > 0)",
        timeout=15_000,
    )
    page.locator("#cell-0-1 .run-winner").click()
    page.locator("#cell-0-1.winner").wait_for()
    assert RunCell.objects.get(row=0, col=1).winner
    assert Favourite.objects.filter(user=alice, asset__job__run__isnull=False).count() == 1
    screenshot(page, "61-compare-desktop")

    # Bob votes from his own browser; the count shows.
    context = browser.new_context(viewport={"width": 390, "height": 844})
    phone = context.new_page()
    _log_in(phone, live_server, "bob")
    phone.goto(page.url)
    phone.locator("#cell-0-1 .run-vote").click()
    phone.locator("#cell-0-1 .run-vote[aria-pressed=true] .vote-count").filter(has_text="1").wait_for()
    assert RunVote.objects.filter(user=bob).count() == 1
    screenshot(phone, "62-compare-phone")
    context.close()

    # Alice's page sees bob's vote without a reload: the idle poller brings the cell back.
    page.locator("#cell-0-1 .run-vote[aria-pressed=false] .vote-count").filter(has_text="1").wait_for(
        timeout=20_000
    )
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("#row-winner-0").inner_text().strip() == "Winner: seed 8"

    # Alice shares the run; a logged-out visitor sees the read-only grid.
    page.locator(".share-button").click()
    page.locator("#share-panel").wait_for()
    page.locator("#id_share-label").fill("For the client")
    page.get_by_role("button", name="Create public link").click()
    share_url = page.locator("#new-share-url").input_value()
    assert share_url.startswith(live_server.url + "/s/")
    for name, viewport in (
        ("63-compare-share-desktop", {"width": 1280, "height": 860}),
        ("64-compare-share-phone", {"width": 390, "height": 844}),
    ):
        visitor = browser.new_context(viewport=viewport)
        public = visitor.new_page()
        public.goto(share_url)
        assert public.locator(".run-cell[data-status=succeeded]").count() == 4
        assert public.locator(".run-vote, .run-winner, form").count() == 0
        assert public.locator("#cell-0-1 video").count() == 1
        screenshot(public, name)
        visitor.close()
    assert not page.js_errors


def test_the_failover_settings_are_set_with_the_keyboard_alone(
    live_server, page, screenshot, fake_fal, alice
):
    from generations.models import TeamRunSettings

    _log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/team/failover/")
    page.locator("#id_failover_enabled").focus()
    page.keyboard.press("Space")  # tick the switch
    page.keyboard.press("Tab")  # the 1st choice
    assert page.evaluate("document.activeElement.id") == "id_order_1"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # "—", Simulator, fal.ai: fal.ai
    page.keyboard.press("Tab")  # the 2nd choice: the same provider again is an error
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Save"
    page.keyboard.press("Enter")
    page.get_by_role("alert").filter(has_text="chosen twice").wait_for()
    assert not TeamRunSettings.objects.exists()
    assert page.locator("#id_failover_enabled").is_checked()  # the form came back as it was sent
    page.locator("#id_order_2").focus()
    page.keyboard.press("ArrowUp")  # Simulator
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # on Save
    page.get_by_text("Failover settings saved.").wait_for()
    settings = TeamRunSettings.objects.get()
    assert settings.failover_enabled and settings.provider_order == ["fal", "simulator"]
    screenshot(page, "65-failover-settings-desktop")
