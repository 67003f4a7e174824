from __future__ import annotations

import re

import pytest

from generations.models import Job, JobStatus
from tests.browser.conftest import pick_mode
from tests.conftest import PASSWORD
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/projects/")


def test_a_simulator_video_goes_from_queued_to_playable_without_a_reload(
    live_server, page, screenshot, celery_worker_live, alice, acme
):
    project = ProjectFactory(team=acme, name="Launch film", created_by=alice)
    _log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.public_id}/")
    screenshot(page, "10-project-empty")

    pick_mode(page, "t2v")
    page.get_by_label("Prompt", exact=True).fill(
        "A paper boat sails across a rainy street at dusk, cinematic"
    )
    # Fast fake job: the advanced settings hold the simulator's knobs.
    page.locator("details.advanced summary").click()
    page.locator("#id_sim_delay").fill("4")
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("button", name="Generate").click()

    card = page.locator(".job-card").first
    card.wait_for()
    assert card.get_attribute("data-status") in ("queued", "submitted", "running")
    screenshot(page, "11-job-queued")

    # The single poller swaps the card while the job runs, then stops.
    page.locator(".job-card[data-status='running']").first.wait_for(timeout=20_000)
    page.locator(".job-card[data-status='succeeded']").first.wait_for(timeout=40_000)
    assert page.evaluate("window.__sameDocument") is True
    # One job, one card: the poller's updates replace the card the submit inserted.
    assert page.locator(".job-card").count() == 1
    video = page.locator(".job-card video.hover-play").first
    assert video.get_attribute("preload") == "none"
    video.hover()
    page.wait_for_function(
        "() => { const v = document.querySelector('.job-card video'); return v && v.currentTime > 0; }",
        timeout=10_000,
    )
    page.wait_for_function(
        "() => document.getElementById('gallery-poller').dataset.polling === 'false'", timeout=10_000
    )
    screenshot(page, "12-job-succeeded")

    job = Job.objects.get(project=project)
    assert job.status == JobStatus.SUCCEEDED

    page.locator(".job-card .prompt a").first.click()
    page.wait_for_url(re.compile(r".*/jobs/.*"))
    assert page.locator("video[controls]").count() == 1
    assert page.get_by_text("Timeline").is_visible()
    screenshot(page, "13-job-detail")

    page.get_by_role("link", name="Remix").click()
    page.wait_for_url(re.compile(r".*\?remix=.*"))
    assert page.get_by_label("Prompt", exact=True).input_value().startswith("A paper boat")
    assert page.get_by_label("Mode", exact=True).input_value() == "t2v"
    assert (
        page.evaluate("document.querySelector('#id_sim_delay').value") == "4.0"
        or page.evaluate("document.querySelector('#id_sim_delay').value") == "4"
    )
    screenshot(page, "14-remix-form")
    assert page.js_errors == []


def test_an_invalid_generation_shows_field_errors_and_creates_nothing(
    live_server, page, screenshot, alice, acme
):
    project = ProjectFactory(team=acme, name="Errors", created_by=alice)
    _log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{project.public_id}/")
    pick_mode(page, "i2v")
    page.get_by_role("button", name="Generate").click()
    page.locator("#generation-form .invalid-feedback").first.wait_for()
    errors = page.locator("#generation-form .invalid-feedback").all_inner_texts()
    assert any("prompt" in e.lower() or "required" in e.lower() for e in errors)
    assert Job.objects.filter(project=project).count() == 0
    screenshot(page, "15-form-errors")
