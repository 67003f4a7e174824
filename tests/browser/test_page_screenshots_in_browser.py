"""Screenshots of the main pages, the 404 and the lockout message at desktop and phone sizes (saved
under test-artifacts/screenshots/ to look at), and what can be checked without eyes: nothing
scrolls sideways on a phone, and the lockout page says when to try again."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.browser.studio import build_studio, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


def _no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the viewport"


@pytest.mark.parametrize("size", SIZES)
def test_screenshots_of_the_main_pages(live_server, browser, screenshot, size):
    base = live_server.url
    studio = build_studio(base)
    context = browser.new_context(viewport=SIZES[size])
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        # The lockout message, on the login page, after five wrong passwords.
        for _ in range(5):
            page.goto(f"{base}/login/")
            page.get_by_label("Username").fill("alice")
            page.get_by_label("Password").fill("wrong")
            page.get_by_role("button", name="Log in").click()
            page.wait_for_load_state()
        assert (
            "Too many failed attempts: try again in 15 minutes."
            in page.locator("#lockout-message").inner_text()
        )
        _no_sideways_scroll(page)
        screenshot(page, f"60-lockout-{size}")
        # The page of its own for invite links: five made-up tokens from this address.
        for n in range(5):
            response = page.goto(f"{base}/invite/made-up-{n}/")
        assert response.status == 429
        assert page.get_by_role("heading", name="Too many failed attempts").is_visible()
        _no_sideways_scroll(page)
        screenshot(page, f"60-lockout-invite-{size}")
        from axes.models import AccessAttempt

        AccessAttempt.objects.all().delete()  # the operator's unlock

        log_in(page, base)
        shots = {
            "61-project": f"/projects/{studio.project.public_id}/",
            "62-gallery": "/gallery/",
            "63-job-image": f"/jobs/{studio.image_job.public_id}/",
            "64-job-failed": f"/jobs/{studio.failed_job.public_id}/",
            "65-404": "/jobs/00000000-0000-0000-0000-000000000000/",
            "70-compare-run": f"/runs/{studio.run.public_id}/",
            "71-failover-settings": "/team/failover/",
            "72-compare-share": studio.run_share_url.removeprefix(base),
        }
        for name, path in shots.items():
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            _no_sideways_scroll(page)
            screenshot(page, f"{name}-{size}")
        # The skip link as a keyboard user first sees it.
        page.goto(f"{base}/projects/{studio.project.public_id}/")
        page.keyboard.press("Tab")
        page.screenshot(path=str(ARTIFACTS / f"66-skip-link-{size}.png"))
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        page.screenshot(path=str(ARTIFACTS / f"67-focus-ring-{size}.png"))
    finally:
        context.close()
