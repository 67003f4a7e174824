from __future__ import annotations

import zoneinfo
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from generations import services
from tests.conftest import PASSWORD
from tests.factories import JobFactory, MembershipFactory, ProjectFactory, TeamFactory, UserFactory
from wanweb.accounts.models import Role
from wanweb.quotas import services as quotas
from wanweb.quotas.models import TeamQuota

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _spend(membership, project, cost: str, *, days_ago: float = 0, settle: bool = True, model="wan/v2.6/t2v"):
    now = timezone.now() - timedelta(days=days_ago)
    job = JobFactory(
        project=project,
        created_by=membership.user,
        cost_estimate=Decimal(cost),
        status="running",
        provider="fal" if "2.6" in model else "simulator",
        model=model,
    )
    quotas.quota_reserve(membership=membership, job=job, video_seconds=None, now=now)
    if settle:
        services._finish_success(job)
    # Spread the month's spend over several days, as real use would be.
    job.ledger.update(created_at=now)
    return job


@pytest.fixture
def team_with_spend(db):
    team = TeamFactory(name="Acme", slug="acme", time_zone="Europe/Paris")
    TeamQuota.objects.create(team=team, budget_usd=Decimal("10"), soft_budget_usd=Decimal("6"))
    alice = MembershipFactory(team=team, user=UserFactory(username="alice"), role=Role.OWNER)
    bob = MembershipFactory(team=team, user=UserFactory(username="bob"), role=Role.MEMBER)
    MembershipFactory(team=team, user=UserFactory(username="dave"), role=Role.VIEWER)
    spring = ProjectFactory(team=team, name="Spring campaign", slug="spring", created_by=alice.user)
    teaser = ProjectFactory(team=team, name="Neon city teaser", slug="neon", created_by=bob.user)
    today = timezone.now().astimezone(zoneinfo.ZoneInfo("Europe/Paris")).day
    for i, (who, project, cost, model) in enumerate(
        [
            (alice, spring, "1.25", "wan/v2.6/t2v"),
            (bob, teaser, "0.40", "wan-sim"),
            (alice, teaser, "2.10", "wan/v2.6/t2v"),
            (bob, spring, "0.0125", "wan-sim"),
            (alice, spring, "0.85", "wan/v2.6/t2v"),
        ]
    ):
        _spend(who, project, cost, days_ago=min(today - 1, 2 * (4 - i)), model=model)
    _spend(bob, teaser, "1.50", settle=False)  # still running: reserved
    _spend(alice, spring, "3.00", days_ago=40)  # last month
    return team


def _login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/projects/")


def test_the_usage_page_shows_figures_a_chart_and_switches_period_in_place(
    live_server, page, screenshot, team_with_spend
):
    _login(page, live_server, "alice")
    page.get_by_role("link", name="Usage").click()
    page.wait_for_url(f"{live_server.url}/team/usage/")
    assert page.get_by_role("heading", name="Usage of Acme").is_visible()
    assert page.locator('[data-figure="spent"]').inner_text() == "$4.6125"
    assert page.locator('[data-figure="reserved"]').inner_text() == "$1.50"
    assert page.locator('[data-figure="remaining"]').inner_text() == "$3.8875"
    # Past the $6 soft budget: the warning shows, and can be dismissed.
    banner = page.locator(".budget-banner")
    assert "Acme has used $6.1125 of its $10.00 monthly budget" in banner.inner_text()
    chart = page.get_by_role("img", name="Spend per day")
    assert chart.is_visible()
    screenshot(page, "usage-01-owner")

    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Period").select_option(index=1)
    page.wait_for_url("**/team/usage/?period=*")
    page.locator('[data-figure="spent"]', has_text="$3.00").wait_for()
    assert page.evaluate("window.__sameDocument") is True
    screenshot(page, "usage-02-last-month")

    page.go_back()
    page.wait_for_url(f"{live_server.url}/team/usage/")
    page.locator('[data-figure="spent"]', has_text="$4.6125").wait_for()

    banner.get_by_role("button", name="Dismiss").click()
    banner.wait_for(state="detached")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "usage-03-owner-phone")

    # The same warning sits under the header of every project page.
    page.set_viewport_size({"width": 1280, "height": 860})
    page.get_by_role("link", name="Projects").click()
    page.get_by_role("link", name="Spring campaign").click()
    page.get_by_role("heading", name="Spring campaign").wait_for()
    assert "monthly budget" in page.locator(".budget-banner").inner_text()
    page.locator(".budget-banner").get_by_role("link", name="See usage").wait_for()
    screenshot(page, "usage-06-project-banner")
    assert page.js_errors == []


def test_a_member_sees_their_own_row_and_an_empty_team_sees_the_empty_state(
    live_server, page, screenshot, team_with_spend
):
    _login(page, live_server, "bob")
    page.goto(f"{live_server.url}/team/usage/")
    assert page.locator(".usage-table tbody tr", has_text="alice").count() == 0
    assert page.locator(".usage-table tbody tr", has_text="bob").count() == 1
    assert page.get_by_role("link", name="Ledger CSV").count() == 0
    screenshot(page, "usage-04-member")

    lonely = TeamFactory(name="Lonely", slug="lonely")
    TeamQuota.objects.create(team=lonely, budget_usd=Decimal("25"))
    MembershipFactory(team=lonely, user=UserFactory(username="erin"), role=Role.OWNER)
    page.context.clear_cookies()
    _login(page, live_server, "erin")
    page.goto(f"{live_server.url}/team/usage/")
    assert page.get_by_role("heading", name="No spend yet this period").is_visible()
    screenshot(page, "usage-05-empty")
    assert page.js_errors == []
