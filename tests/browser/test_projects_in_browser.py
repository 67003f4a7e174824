from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _demo_login() -> tuple[str, str]:
    out = StringIO()
    call_command("demo", stdout=out)
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    return lines["username"], lines["password"]


def test_the_demo_user_logs_in_and_creates_a_project_without_a_reload(live_server, page, screenshot):
    username, password = _demo_login()
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/login/")
    screenshot(page, "01-login")

    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/projects/")
    assert page.get_by_role("heading", name="Projects").is_visible()
    assert page.locator(".project-card", has_text="First steps").is_visible()

    # A marker on window survives only if the page is not reloaded.
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Name").fill("Neon city teaser")
    page.get_by_label("Description").fill("Night drone shots for the launch.")
    page.get_by_role("button", name="Create project").click()
    card = page.locator(".project-card", has_text="Neon city teaser")
    card.wait_for()
    assert page.evaluate("window.__sameDocument") is True
    # The new card is first, and the form is empty again for the next project.
    assert "Neon city teaser" in page.locator(".project-card").first.inner_text()
    assert page.get_by_label("Name").input_value() == ""
    page.locator(".toast", has_text="created").first.wait_for()
    screenshot(page, "02-project-list")

    card.get_by_role("link", name="Neon city teaser").click()
    page.wait_for_url(f"{live_server.url}/projects/*/")
    assert page.get_by_role("heading", name="Neon city teaser").is_visible()
    screenshot(page, "03-project-page")
    assert page.js_errors == []


def test_an_invalid_project_shows_its_error_in_place(live_server, page, screenshot):
    username, password = _demo_login()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/projects/")
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Create project").click()
    page.locator("#project-form .invalid-feedback").wait_for()
    assert "required" in page.locator("#project-form .invalid-feedback").inner_text()
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator(".project-card").count() == 1  # only the demo project

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "04-project-list-phone")


def test_members_page_renders_with_the_invite_panel(live_server, page, screenshot):
    username, password = _demo_login()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/projects/")
    page.get_by_role("link", name="Members").click()
    page.get_by_role("button", name="Create invite link").click()
    link = page.locator("#new-invite-url")
    link.wait_for()
    assert "/invite/" in link.input_value()
    screenshot(page, "05-members")
    assert page.js_errors == []
