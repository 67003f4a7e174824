"""Done-means (issue 11, item 12): no console error and no uncaught exception on any page, on load,
on a mode switch and while typing a prompt; the admin finds its favicon; a bad URL is the app's 404."""

from __future__ import annotations

import pytest

from tests.browser.conftest import pick_mode
from tests.browser.studio import build_studio, log_in, watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_no_console_error_on_any_page(live_server, page):
    base = live_server.url
    studio = build_studio(base)
    seen = watch(page)
    log_in(page, base)

    page.goto(f"{base}/projects/{studio.project.public_id}/")
    page.locator("#gallery-grid .job-card").first.wait_for()
    for mode in ("t2v", "i2v", "s2v", "t2i"):
        pick_mode(page, mode)
    # Typing runs the live estimate (its hx-get lives inside the form and inherits its attributes).
    with page.expect_response(lambda r: "/estimate/" in r.url):
        page.locator("#id_prompt").press_sequentially("a lighthouse in a storm", delay=15)
    page.wait_for_timeout(700)  # the keyup delay is 500 ms: let the last one fire too

    for path in (
        "/gallery/",
        f"/jobs/{studio.image_job.public_id}/",
        f"/jobs/{studio.video_job.public_id}/",
        f"/jobs/{studio.failed_job.public_id}/",
        "/team/usage/",
        "/team/members/",
        "/team/vendor-keys/",
        "/team/failover/",
        f"/runs/{studio.run.public_id}/",
        "/team/api-tokens/",
        f"/projects/{studio.project.public_id}/webhooks/",
        "/api/v1/docs",
        "/admin/",
        "/admin/generations/job/",
    ):
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
    for url in (studio.share_url, studio.run_share_url):
        page.goto(url)
        page.wait_for_load_state("networkidle")

    # A bad URL: the app's 404 page (the console's "404" for the document itself is expected).
    response = page.goto(f"{base}/jobs/00000000-0000-0000-0000-000000000000/")
    assert response.status == 404
    assert page.get_by_role("heading", name="Nothing here").is_visible()
    assert page.get_by_role("link", name="Go to your projects").is_visible()
    page.wait_for_load_state("networkidle")

    errors = [e for e in seen.console_errors if "/jobs/00000000-" not in e or "404" not in e]
    assert errors == [], "\n".join(errors)
    assert seen.page_errors == []


def test_the_favicon_is_served_where_browsers_and_the_admin_ask(live_server, page):
    for path in ("/favicon.ico", "/static/img/favicon.svg"):
        response = page.request.get(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert response.headers["content-type"].startswith("image/"), path
