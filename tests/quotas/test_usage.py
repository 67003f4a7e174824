"""The usage page, its ledger CSV and the soft-budget banner: figures come from the ledger and
must equal both the ledger's own sums and the wallets (Done-means 3 of the quotas issue)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from generations import services
from tests.factories import JobFactory, ProjectFactory
from wanweb.accounts.models import Membership
from wanweb.quotas import services as quotas
from wanweb.quotas.models import LedgerEntry, MemberQuota, TeamQuota, Wallet
from wanweb.quotas.money import format_usd as usd
from wanweb.quotas.selectors import CSV_HEADER, budget_banners, usage_for_team, usage_period_get

D = Decimal
URL = "/team/usage/"
CSV_URL = "/team/usage/ledger.csv"


def _membership(team, user) -> Membership:
    return Membership.objects.get(team=team, user=user)


def _reserve(team, user, project, cost, *, model="wan-sim", provider="simulator", now=None):
    job = JobFactory(
        project=project,
        created_by=user,
        cost_estimate=D(cost),
        model=model,
        provider=provider,
        status="running",
    )
    quotas.quota_reserve(membership=_membership(team, user), job=job, video_seconds=None, now=now)
    return job


@pytest.fixture
def acme_quota(acme):
    acme.time_zone = "Europe/Paris"
    acme.save(update_fields=["time_zone"])
    return TeamQuota.objects.create(team=acme, budget_usd=D("10"), soft_budget_usd=D("8"))


@pytest.fixture
def busy_acme(acme, acme_quota, alice, bob, dave, acme_project):
    """A mix of every movement: settles (one at a vendor price), refunds, holds, a top-up and a reset."""
    other = ProjectFactory(team=acme, name="Autumn teaser", slug="autumn", created_by=alice)
    # alice: one settled at the estimate, one settled cheaper than reserved, one refunded, one held.
    services._finish_success(_reserve(acme, alice, acme_project, "1.25", model="wan/v2.6/text-to-video"))
    cheap = _reserve(acme, alice, other, "0.50", provider="fal", model="wan/v2.2/image")
    quotas.quota_settle(job=cheap, amount=D("0.3125"))
    services.job_fail(job=_reserve(acme, alice, acme_project, "2.00"), code="vendor", message="boom")
    _reserve(acme, alice, other, "0.75", provider="fal", model="wan/v2.2/image")
    # bob: one settled, one still held; then a refunded one twice (the second refund is a no-op).
    services._finish_success(_reserve(acme, bob, acme_project, "0.0125"))
    _reserve(acme, bob, acme_project, "1.00")
    failed = _reserve(acme, bob, other, "0.40")
    quotas.quota_refund(job=failed, reason="canceled")
    assert quotas.quota_refund(job=failed) is False
    quotas.wallet_top_up(team=acme, amount=D("5"), actor=alice)
    return acme


def _ledger_sums(team, *, user=None) -> dict[str, Decimal]:
    """Sums straight from the ledger, independent of wanweb.quotas.selectors."""
    entries = LedgerEntry.objects.filter(team=team)
    if user is not None:
        entries = entries.filter(user=user, job__isnull=False)

    def total(qs) -> Decimal:
        return qs.aggregate(s=Sum("amount"))["s"] or D(0)

    closed = set(entries.filter(kind__in=["settle", "refund"]).values_list("job_id", flat=True))
    held = [e.amount for e in entries.filter(kind="reserve") if e.job_id not in closed]
    team_resets = LedgerEntry.objects.filter(team=team, kind="reset")
    if user is None:
        resets = total(team_resets.filter(note="period reset"))
    else:
        resets = total(team_resets.filter(note=f"period reset for {user.username}"))
    return {
        "settled": total(entries.filter(kind="settle")),
        "reserved": sum(held, D(0)),
        "resets": resets,
        "top_ups": total(entries.filter(kind="top_up")),
    }


def _assert_reconciles(team):
    period = usage_period_get(team=team, key=None)
    usage = usage_for_team(team=team, period=period)
    wallet = Wallet.objects.get(team=team, membership=None, period_start=period.start)
    sums = _ledger_sums(team)
    t = usage.totals

    assert t.spent_gross == sums["settled"]
    assert t.spent == sums["settled"] + sums["resets"] == wallet.spent
    assert t.reserved == sums["reserved"] == wallet.reserved
    assert t.remaining == wallet.available
    assert t.budget == wallet.granted == wallet.available + wallet.reserved + wallet.spent
    assert t.top_ups == sums["top_ups"]
    # Every breakdown and the chart split the same totals, to the ten-thousandth of a dollar.
    for rows in (usage.by_model, usage.by_provider, usage.by_project):
        assert sum((r.figures.spent_gross for r in rows), D(0)) == t.spent_gross
        assert sum((r.figures.reserved for r in rows), D(0)) == t.reserved
    assert sum((b.value for b in usage.chart.bars), D(0)) == t.spent_gross == usage.chart.total
    for row in usage.members:
        member_wallet = Wallet.objects.filter(membership=row.membership, period_start=period.start).first()
        member_sums = _ledger_sums(team, user=row.membership.user)
        assert row.figures.spent_gross == member_sums["settled"]
        assert row.figures.reserved == member_sums["reserved"]
        if member_wallet is not None:
            assert row.figures.spent == member_sums["settled"] + member_sums["resets"] == member_wallet.spent
            assert row.figures.reserved == member_wallet.reserved
            if member_wallet.granted is not None:
                assert row.figures.remaining == member_wallet.available
    assert sum((r.figures.spent_gross for r in usage.members), D(0)) == t.spent_gross
    return usage


# ---------------------------------------------------------------------------------------------
# Figures == ledger sums == wallets
# ---------------------------------------------------------------------------------------------


def test_figures_equal_the_ledger_sums_and_the_wallets_after_a_mix_of_movements(busy_acme, alice, bob):
    usage = _assert_reconciles(busy_acme)
    t = usage.totals
    # 1.25 + 0.3125 + 0.0125 settled; 0.75 + 1.00 held; budget 10 + 5 top-up.
    assert t.spent == D("1.5750")
    assert t.reserved == D("1.7500")
    assert t.budget == D("15.0000")
    assert t.remaining == D("11.6750")
    assert t.jobs == 3
    assert {r.key: r.figures.spent_gross for r in usage.by_provider} == {
        "simulator": D("1.2625"),
        "fal": D("0.3125"),
    }
    by_project = {r.label: (r.figures.spent_gross, r.figures.reserved) for r in usage.by_project}
    assert by_project == {
        "Spring campaign": (D("1.2625"), D("1.0000")),
        "Autumn teaser": (D("0.3125"), D("0.7500")),
    }
    members = {r.membership.user.username: (r.figures.spent, r.figures.reserved) for r in usage.members}
    assert members == {
        "alice": (D("1.5625"), D("0.7500")),
        "bob": (D("0.0125"), D("1.0000")),
        "dave": (D("0"), D("0")),
    }


def test_figures_still_reconcile_after_a_period_reset_and_budget_changes(busy_acme, alice, bob):
    MemberQuota.objects.create(membership=_membership(busy_acme, bob), budget_usd=D("3"))
    quotas.quota_budget_changed(team=busy_acme, actor=alice)
    quotas.wallet_reset_period(team=busy_acme, actor=alice)
    # Spending after the reset counts again.
    services._finish_success(_reserve(busy_acme, bob, ProjectFactory(team=busy_acme), "0.20"))
    usage = _assert_reconciles(busy_acme)
    assert usage.totals.spent == D("0.2000")  # only what came after the reset counts
    assert usage.totals.spent_gross == D("1.7750")  # but every settled job is still shown
    assert usage.totals.reset == D("-1.5750")
    bob_row = next(r for r in usage.members if r.membership.user == bob)
    assert bob_row.figures.budget == D("3.0000")
    assert bob_row.figures.spent == D("0.2000")


def test_a_job_settled_after_its_period_ended_counts_in_the_period_it_was_reserved(
    acme, acme_quota, alice, acme_project
):
    last_month = timezone.now() - timedelta(days=40)
    old = _reserve(acme, alice, acme_project, "2.00", now=last_month)
    services._finish_success(old)  # the SETTLE is written today
    _reserve(acme, alice, acme_project, "0.50")

    previous = usage_period_get(team=acme, key=None)
    periods = sorted(Wallet.objects.filter(team=acme, membership=None).values_list("period_start", flat=True))
    old_wallet = Wallet.objects.get(team=acme, membership=None, period_start=periods[0])
    current = usage_for_team(team=acme, period=previous)
    assert current.totals.spent == D("0") and current.totals.reserved == D("0.5000")
    older_key = next(p.key for p in current_periods(acme) if not p.is_current)
    older = usage_for_team(team=acme, period=usage_period_get(team=acme, key=older_key))
    assert older.totals.spent == D("2.0000") == old_wallet.spent
    assert older.totals.reserved == D("0") == old_wallet.reserved
    # It lands on the old period's chart too (on its last day), so bars still add up.
    assert older.chart.total == D("2.0000")


def current_periods(team):
    from wanweb.quotas.selectors import usage_periods

    return usage_periods(team=team)


def test_the_page_shows_the_same_figures_as_the_ledger(client, busy_acme, alice):
    client.force_login(alice)
    body = client.get(URL).content.decode()
    assert 'data-figure="spent">$1.575<' in body
    assert 'data-figure="reserved">$1.75<' in body
    assert 'data-figure="remaining">$11.675<' in body
    assert 'data-figure="budget">$15.00<' in body


def test_usd_keeps_sub_cent_digits_and_signs():
    assert usd(D("8.1200")) == "$8.12"
    assert usd(D("0.0125")) == "$0.0125"
    assert usd(D("1234.5")) == "$1,234.50"
    assert usd(D("-1.5750")) == "−$1.575"
    assert usd(None) == "—"


# ---------------------------------------------------------------------------------------------
# Who sees what
# ---------------------------------------------------------------------------------------------


def test_an_owner_sees_every_member_and_the_csv_link(client, busy_acme, alice, bob, dave):
    client.force_login(alice)
    r = client.get(URL)
    assert r.status_code == 200
    body = r.content.decode()
    for username in ("alice", "bob", "dave"):
        assert f'<span class="fw-medium">{username}</span>' in body
    assert reverse("quotas:usage-csv") in body
    assert "Spring campaign" in body and "Autumn teaser" in body
    assert "<svg" in body and 'role="img"' in body and "<desc" in body


def test_an_admin_sees_every_member_too(client, busy_acme, bob):
    Membership.objects.filter(user=bob).update(role="admin")
    client.force_login(bob)
    body = client.get(URL).content.decode()
    assert '<span class="fw-medium">alice</span>' in body


@pytest.mark.parametrize("username", ["bob", "dave"])
def test_members_and_viewers_see_team_totals_and_only_their_own_row(client, busy_acme, username, request):
    user = request.getfixturevalue(username)
    client.force_login(user)
    r = client.get(URL)
    assert r.status_code == 200
    body = r.content.decode()
    assert 'data-figure="spent">$1.575<' in body  # the team's totals
    assert f'<span class="fw-medium">{username}</span>' in body
    others = {"alice", "bob", "dave"} - {username}
    for other in others:
        assert f'<span class="fw-medium">{other}</span>' not in body
    assert reverse("quotas:usage-csv") not in body
    assert client.get(CSV_URL).status_code == 403


def test_an_outsider_sees_only_his_own_teams_figures(client, busy_acme, charlie, umbrella, umbrella_project):
    TeamQuota.objects.create(team=umbrella, budget_usd=D("50"))
    services._finish_success(_reserve(umbrella, charlie, umbrella_project, "4.00"))
    client.force_login(charlie)
    body = client.get(URL).content.decode()
    assert "Usage of Umbrella" in body
    assert 'data-figure="spent">$4.00<' in body
    for secret in ("Acme", "Spring campaign", "Autumn teaser", "$1.575", "alice", "bob"):
        assert secret not in body
    rows = list(csv.reader(io.StringIO(_csv(client.get(CSV_URL)))))
    assert len(rows) == 3  # header, reserve, settle: all Umbrella's
    assert {row[4] for row in rows[1:]} == {"Secret plans"}


def test_a_period_of_another_team_is_a_404(client, acme, acme_quota, alice, acme_project, charlie, umbrella):
    _reserve(acme, alice, acme_project, "1.00", now=timezone.now() - timedelta(days=40))
    acme_key = next(p.key for p in current_periods(acme) if not p.is_current)
    client.force_login(charlie)
    assert client.get(URL, {"period": acme_key}).status_code == 404
    assert client.get(CSV_URL, {"period": acme_key}).status_code == 404
    assert client.get(URL, {"period": "not-a-date"}).status_code == 404


def test_someone_without_a_team_is_sent_to_make_one_and_anonymous_users_to_log_in(client, db):
    from tests.factories import UserFactory

    assert client.get(URL).url.startswith("/login/")
    assert client.get(CSV_URL).url.startswith("/login/")
    client.force_login(UserFactory(username="erin"))
    assert client.get(URL).url == reverse("accounts:team-list")


def test_the_top_bar_links_to_the_usage_page(client, alice):
    client.force_login(alice)
    body = client.get(reverse("accounts:member-list")).content.decode()
    assert f'href="{reverse("quotas:usage")}"' in body


# ---------------------------------------------------------------------------------------------
# Empty state, periods and HTMX
# ---------------------------------------------------------------------------------------------


def test_a_team_with_no_spend_gets_the_empty_state(client, alice, acme_quota):
    client.force_login(alice)
    body = client.get(URL).content.decode()
    assert "No spend yet this period" in body
    assert "<svg" not in body
    assert 'data-figure="budget">$10.00<' in body
    assert not Wallet.objects.exists()  # looking does not create wallets


def test_the_period_picker_lists_earlier_periods_and_shows_them(
    client, acme, acme_quota, alice, acme_project
):
    services._finish_success(
        _reserve(acme, alice, acme_project, "2.00", now=timezone.now() - timedelta(days=40))
    )
    client.force_login(alice)
    old = next(p for p in current_periods(acme) if not p.is_current)
    body = client.get(URL).content.decode()
    assert f'<option value="{old.key}"' in body and old.label in body
    body = client.get(URL, {"period": old.key}).content.decode()
    assert 'data-figure="spent">$2.00<' in body
    assert f"?period={old.key}" in body  # the CSV link follows the period


def test_htmx_gets_only_the_page_body(client, busy_acme, alice):
    client.force_login(alice)
    r = client.get(URL, headers={"HX-Request": "true"})
    assert r.status_code == 200
    body = r.content.decode()
    assert body.lstrip().startswith('<div id="usage-body"')
    assert "<html" not in body and 'data-figure="spent">$1.575<' in body
    assert "HX-Request" in r.headers["Vary"]


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------


def _csv(response) -> str:
    assert response.status_code == 200
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_the_csv_streams_every_entry_with_its_columns(client, busy_acme, alice, acme_project):
    client.force_login(alice)
    r = client.get(CSV_URL)
    assert r["Content-Type"].startswith("text/csv")
    assert r["Content-Disposition"] == 'attachment; filename="acme-ledger-all.csv"'
    rows = list(csv.DictReader(io.StringIO(_csv(r))))
    assert list(rows[0].keys()) == CSV_HEADER
    assert len(rows) == LedgerEntry.objects.filter(team=busy_acme).count()
    first = rows[0]
    job = LedgerEntry.objects.filter(team=busy_acme).order_by("created_at", "id").first().job
    assert first["kind"] == "reserve" and first["amount"] == "1.2500" and first["user"] == "alice"
    assert first["project"] == "Spring campaign" and first["model"] == "wan/v2.6/text-to-video"
    assert first["job id"] == str(job.public_id)
    assert first["time"].endswith("+00:00")  # ISO 8601 in UTC
    # The CSV sums to the same figures as the page.
    settled = sum(D(row["amount"]) for row in rows if row["kind"] == "settle")
    assert settled == D("1.5750")
    assert any(row["kind"] == "top_up" and row["amount"] == "5.0000" for row in rows)


def test_the_csv_can_be_limited_to_one_period(client, acme, acme_quota, alice, acme_project):
    services._finish_success(
        _reserve(acme, alice, acme_project, "2.00", now=timezone.now() - timedelta(days=40))
    )
    _reserve(acme, alice, acme_project, "0.50")
    client.force_login(alice)
    current = usage_period_get(team=acme, key=None)
    rows = list(csv.DictReader(io.StringIO(_csv(client.get(CSV_URL, {"period": current.key})))))
    assert [(r["kind"], r["amount"]) for r in rows] == [("reserve", "0.5000")]


def test_the_csv_defuses_cells_that_look_like_formulas(client, acme, alice):
    project = ProjectFactory(team=acme, name='=HYPERLINK("http://evil")', slug="evil")
    _reserve(acme, alice, project, "0.10")
    client.force_login(alice)
    rows = list(csv.DictReader(io.StringIO(_csv(client.get(CSV_URL)))))
    assert rows[0]["project"].startswith("'=")


# ---------------------------------------------------------------------------------------------
# Soft-budget banner
# ---------------------------------------------------------------------------------------------


def test_no_banner_below_the_soft_budget(client, acme, acme_quota, alice, acme_project):
    _reserve(acme, alice, acme_project, "7.99")
    assert budget_banners(membership=_membership(acme, alice)) == []
    client.force_login(alice)
    body = client.get(reverse("generations:project-detail", args=[acme_project.public_id])).content.decode()
    assert "budget-banner" not in body


def test_the_banner_shows_at_the_soft_budget_on_the_project_and_usage_pages(
    client, acme, acme_quota, alice, bob, acme_project
):
    services._finish_success(_reserve(acme, alice, acme_project, "5.00"))
    _reserve(acme, alice, acme_project, "3.00")  # spent + reserved = soft budget
    client.force_login(bob)
    for url in (reverse("generations:project-detail", args=[acme_project.public_id]), URL):
        body = client.get(url).content.decode()
        assert "budget-banner" in body and "alert-warning" in body
        assert "Acme has used $8.00 of its $10.00 monthly budget; it resets 1 " in body
        assert "00:00 Europe/Paris." in body
        assert 'data-bs-dismiss="alert"' in body


def test_without_a_soft_budget_the_banner_shows_at_80_percent(acme, acme_quota, alice, acme_project):
    acme_quota.soft_budget_usd = None
    acme_quota.save()
    _reserve(acme, alice, acme_project, "7.99")
    assert budget_banners(membership=_membership(acme, alice)) == []
    _reserve(acme, alice, acme_project, "0.01")
    [banner] = budget_banners(membership=_membership(acme, alice))
    assert banner.level == "warning"


def test_a_used_up_budget_is_a_danger_banner(acme, acme_quota, alice, acme_project):
    _reserve(acme, alice, acme_project, "10.00")
    [banner] = budget_banners(membership=_membership(acme, alice))
    assert banner.level == "danger"


def test_a_member_is_warned_about_their_own_budget(acme, acme_quota, alice, bob, acme_project):
    MemberQuota.objects.create(membership=_membership(acme, bob), budget_usd=D("2"), soft_budget_usd=D("1"))
    _reserve(acme, bob, acme_project, "1.50")
    [banner] = budget_banners(membership=_membership(acme, bob))
    assert banner.message.startswith("You have used $1.50 of your $2.00 monthly budget in Acme; it resets")
    assert budget_banners(membership=_membership(acme, alice)) == []  # alice's own wallet is fine


def test_a_vendor_charge_above_the_hold_still_reconciles(acme, acme_quota, alice, acme_project):
    MemberQuota.objects.create(membership=_membership(acme, alice), budget_usd=D("1.10"))
    job = _reserve(acme, alice, acme_project, "1.00")
    quotas.quota_settle(job=job, amount=D("1.50"))  # the member's wallet can take only 1.10
    _assert_reconciles(acme)
