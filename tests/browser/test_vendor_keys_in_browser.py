"""An owner adds the team's own Lumenfall key, verifies it, sees only its hint, and generates with it
(a fake Lumenfall on loopback, a real Celery worker)."""

from __future__ import annotations

import pytest

from generations.models import Job, JobStatus
from tests.conftest import PASSWORD, wait_for
from tests.factories import ProjectFactory
from tests.fakes.lumenfall import FakeLumenfall
from tests.fakes.server import FakeServer
from wanweb.accounts.models import VendorCredential

pytestmark = [pytest.mark.browser, pytest.mark.celery, pytest.mark.django_db(transaction=True)]

TEAM_KEY = "lmnfl_CANARY_team_key_0123456789abcdef"


def test_an_owner_adds_verifies_and_generates_with_the_teams_own_key(
    live_server, page, screenshot, celery_worker_live, alice, acme, monkeypatch, settings
):
    settings.ALLOW_PRIVATE_URLS = True  # the fake's images are on loopback
    monkeypatch.delenv("LUMENFALL_API_KEY", raising=False)
    with FakeServer() as server:
        FakeLumenfall(server, api_key=TEAM_KEY)
        monkeypatch.setenv("LUMENFALL_BASE_URL", server.url)
        project = ProjectFactory(team=acme, name="Own keys", created_by=alice)

        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/projects/")

        page.get_by_role("link", name="Vendor keys").click()
        page.wait_for_url(f"{live_server.url}/team/vendor-keys/")
        row = page.locator("#vendor-lumenfall")
        row.get_by_label("API key").fill(TEAM_KEY)
        row.get_by_role("button", name="Add key").click()
        page.get_by_text("Lumenfall key (…cdef) added.").wait_for()
        row = page.locator("#vendor-lumenfall")
        assert row.locator(".key-hint").inner_text() == "…cdef"
        assert row.get_by_label("API key").input_value() == ""
        assert TEAM_KEY not in page.content()

        row.get_by_role("button", name="Verify").click()
        page.get_by_text("Lumenfall accepted the key.").wait_for()
        assert page.locator("#vendor-lumenfall").get_by_text("Verified", exact=True).is_visible()
        screenshot(page, "60-vendor-keys")
        assert TEAM_KEY not in page.content()

        page.goto(f"{live_server.url}/projects/{project.public_id}/")
        with page.expect_response(lambda response: "/form/" in response.url):
            page.locator("#generation-form select[name=provider]").select_option("lumenfall")
        page.locator("#generation-form[data-provider='lumenfall']").wait_for()
        page.wait_for_function(
            "() => !document.querySelector('#generation-form.htmx-swapping, #generation-form.htmx-settling')"
        )
        if page.locator("#generation-form").get_attribute("data-mode") != "t2i":
            with page.expect_response(lambda response: "/form/" in response.url):
                page.locator("#generation-form select[name=mode]").select_option("t2i")
            page.locator("#generation-form[data-mode='t2i']").wait_for()
        page.get_by_label("Prompt", exact=True).fill("A lighthouse on a cliff at dawn")
        page.get_by_role("button", name="Generate").click()
        page.locator(".job-card[data-status='succeeded']").first.wait_for(timeout=40_000)
        screenshot(page, "61-generated-with-team-key")

        job = wait_for(lambda: Job.objects.filter(project=project, status=JobStatus.SUCCEEDED).first())
        assert job.provider == "lumenfall"
        assert job.credential == VendorCredential.objects.get(team=acme, revoked_at__isnull=True)
        generations = [r for r in server.requests if r.path == "/openai/v1/images/generations"]
        assert [r.headers["authorization"] for r in generations] == [f"Bearer {TEAM_KEY}"]
        assert TEAM_KEY not in page.content()
        assert not page.js_errors
