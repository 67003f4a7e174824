"""Done-means: in Django admin alone, an admin sets a team's monthly budget and a lower cap for one
member; that member's next submit over the cap is refused with a message naming the cap and its
reset time."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from generations.models import Job
from tests.conftest import PASSWORD
from tests.factories import JobFactory
from wanweb.accounts.models import Membership
from wanweb.quotas import selectors as quota_selectors
from wanweb.quotas import services as quotas
from wanweb.quotas.models import Hold, LedgerEntry, LedgerKind, MemberQuota, TeamQuota, Wallet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _admin_log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")


def test_admin_sets_a_budget_and_a_member_cap_and_the_member_is_refused(
    live_server, browser, page, screenshot, acme, alice, bob, acme_project
):
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    # Alice has already spent $0.30 this period and has $0.20 on a running job (no budget yet).
    alice_m = Membership.objects.get(team=acme, user=alice)
    done = JobFactory(project=acme_project, created_by=alice, status="queued", cost_estimate=Decimal("0.30"))
    quotas.quota_reserve(membership=alice_m, job=done, video_seconds=None)
    quotas.quota_settle(job=done)
    running = JobFactory(
        project=acme_project, created_by=alice, status="running", cost_estimate=Decimal("0.20")
    )
    quotas.quota_reserve(membership=alice_m, job=running, video_seconds=None)
    _admin_log_in(page, live_server, "root")

    # The team: its monthly budget in the quota inline, members listed below it.
    page.get_by_role("link", name="Teams", exact=True).click()
    page.get_by_role("link", name="Acme", exact=True).click()
    page.locator("#id_quota-0-budget_usd").fill("1.00")
    page.locator("#id_quota-0-period").select_option("monthly")
    page.get_by_role("button", name="Save and continue editing").click()
    page.locator(".messagelist .success").wait_for()
    assert TeamQuota.objects.get(team=acme).budget_usd == Decimal("1.00")
    assert page.locator("#quota-group").is_visible() and page.locator("#memberships-group").is_visible()
    assert "$0.50 left of $1.00" in page.locator(".field-usage_this_period").inner_text()
    screenshot(page, "40-admin-team-change")

    # Bob's own cap, from his row in the memberships inline.
    bob_row = page.locator("#memberships-group tr", has_text="bob")
    bob_row.get_by_role("link", name="set a quota").click()
    page.wait_for_url(re.compile(r".*/admin/accounts/membership/\d+/change/.*"))
    assert "budget $1.00 monthly" in page.locator("#quota-group").inner_text()  # the team's, for reference
    page.locator("#id_quota-0-budget_usd").fill("0.05")
    page.get_by_role("button", name="Save and continue editing").click()
    page.locator(".messagelist .success").wait_for()
    bob_m = Membership.objects.get(team=acme, user=bob)
    assert MemberQuota.objects.get(membership=bob_m).budget_usd == Decimal("0.05")
    assert quotas.wallet_current(team=acme, membership=bob_m).granted == Decimal("0.05")
    screenshot(page, "41-admin-member-quota")

    # A top-up through the action's own page, then the ledger and the change history show it.
    page.goto(f"{live_server.url}/admin/accounts/team/")
    page.locator("#result_list tr", has_text="Acme").locator("input.action-select").check()
    page.locator("select[name=action]").select_option("top_up")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("Amount (USD)").fill("0.50")
    screenshot(page, "42-admin-top-up")
    page.get_by_role("button", name="Top up").click()
    page.locator(".messagelist .success", has_text="Topped up $0.50").wait_for()
    assert "$1.00 left of $1.50" in page.locator("#result_list").inner_text()
    screenshot(page, "43-admin-teams")

    page.goto(f"{live_server.url}/admin/quotas/ledgerentry/")
    assert page.locator("#result_list tbody tr").count() == 5  # reserve, settle, reserve, budget, top-up
    assert "Top up" in page.locator("#result_list").inner_text()
    assert "Budget change" in page.locator("#result_list").inner_text()
    assert LedgerEntry.objects.get(kind=LedgerKind.TOP_UP).user.username == "root"
    screenshot(page, "44-admin-ledger")

    # Wallets and holds: read-only, each wallet balanced (granted = available + reserved + spent).
    page.goto(f"{live_server.url}/admin/quotas/wallet/")
    wallets = page.locator("#result_list tbody tr")
    assert wallets.count() == Wallet.objects.count() >= 2
    assert page.locator("#result_list img[alt='True']").count() >= 1
    assert page.locator("#result_list img[alt='False']").count() == 0
    screenshot(page, "44b-admin-wallets")
    page.goto(f"{live_server.url}/admin/quotas/hold/")
    assert page.locator("#result_list tbody tr").count() == Hold.objects.count() == 2
    screenshot(page, "44c-admin-holds")

    page.goto(f"{live_server.url}/admin/accounts/team/{acme.pk}/history/")
    history = page.locator("#change-history").inner_text()
    assert "Topped up $0.50" in history and "team quota" in history
    screenshot(page, "45-admin-team-history")

    # The price table lists every catalog key with its default, and links to an override.
    page.goto(f"{live_server.url}/admin/quotas/priceoverride/")
    page.get_by_role("link", name="Price table (every catalog key)").click()
    row = page.locator("#result_list tr", has_text="simulator:wan-sim:t2v:second:*")
    assert "$0.01" in row.inner_text()
    screenshot(page, "47-admin-price-table")
    row.get_by_role("link", name="override").click()
    assert page.locator("#id_key").input_value() == "simulator:wan-sim:t2v:second:*"
    screenshot(page, "48-admin-price-override")

    # Bob, in his own browser, asks for a 10 s video ($0.10) over his $0.05 cap.
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    bob_page = context.new_page()
    try:
        bob_page.goto(f"{live_server.url}/login/")
        bob_page.get_by_label("Username").fill("bob")
        bob_page.get_by_label("Password").fill(PASSWORD)
        bob_page.get_by_role("button", name="Log in").click()
        bob_page.wait_for_url(f"{live_server.url}/projects/")
        bob_page.goto(f"{live_server.url}/projects/{acme_project.public_id}/")
        bob_page.get_by_label("Provider", exact=True).select_option("simulator")
        bob_page.get_by_label("Mode", exact=True).select_option("t2v")
        bob_page.locator("#generation-form[data-mode='t2v'] #id_duration").wait_for()
        bob_page.wait_for_load_state("networkidle")
        duration = bob_page.locator("#generation-form #id_duration")
        duration.fill("10")
        assert duration.input_value() == "10"
        bob_page.get_by_label("Prompt", exact=True).fill("A lighthouse in a storm, slow push in")
        bob_page.get_by_role("button", name="Generate").click()

        alert = bob_page.locator("#generation-form .alert-danger")
        alert.wait_for()
        message = alert.inner_text()
        start, end = quota_selectors.period_bounds("monthly", acme.time_zone)
        assert "$0.05" in message, message
        assert "$0.10" in message, message
        assert f"resets {end:%Y-%m-%d %H:%M}" in message, message
        screenshot(bob_page, "46-member-refused-over-cap")
    finally:
        context.close()
    assert not Job.objects.filter(created_by=bob).exists()
    assert not LedgerEntry.objects.filter(kind=LedgerKind.RESERVE, user=bob).exists()
