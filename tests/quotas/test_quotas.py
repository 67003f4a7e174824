"""Quotas and money, one rule at a time (shared/RELIABILITY.md section 3), on SQLite and PostgreSQL.

Every test ends with the books checked: for each wallet of each team, granted == available +
reserved + spent (when it has a budget), available is never negative, and reserved is exactly the
money still held for unfinished jobs.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Q, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations import services
from generations.assets import UploadedInput
from generations.models import Asset, Job, JobStatus
from providers import media
from tests.factories import JobFactory, MembershipFactory, UserFactory, make_png
from wanweb.accounts.models import Membership, Role, Team
from wanweb.quotas import selectors as quota_selectors
from wanweb.quotas import services as quotas
from wanweb.quotas.models import (
    Hold,
    HoldStatus,
    LedgerEntry,
    LedgerKind,
    MemberQuota,
    Period,
    PriceOverride,
    TeamQuota,
    Wallet,
)
from wanweb.quotas.selectors import limits_for, period_bounds
from wanweb.quotas.services import QuotaExceeded

UTC = zoneinfo.ZoneInfo("UTC")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
CENT = Decimal("0.01")


# ---------------------------------------------------------------------------------------------
# Helpers shared with test_quota_concurrency.py and test_quota_stateful.py
# ---------------------------------------------------------------------------------------------


def assert_books_balance(team: Team | None = None) -> None:
    """granted == available + reserved + spent per budgeted wallet; reserved == what holds still hold."""
    wallets = Wallet.objects.all() if team is None else Wallet.objects.filter(team=team)
    for wallet in wallets:
        held = Hold.objects.filter(
            Q(team_wallet=wallet) | Q(member_wallet=wallet), status=HoldStatus.HELD
        ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        assert wallet.reserved == held, f"{wallet}: reserved {wallet.reserved} but holds hold {held}"
        assert wallet.reserved >= 0, wallet
        assert wallet.spent >= 0, wallet
        if wallet.granted is not None:
            assert wallet.available >= 0, f"{wallet}: available {wallet.available}"
            assert wallet.granted == wallet.available + wallet.reserved + wallet.spent, (
                f"{wallet}: granted {wallet.granted} != available {wallet.available} + "
                f"reserved {wallet.reserved} + spent {wallet.spent}"
            )
    jobs = Job.objects.all() if team is None else Job.objects.filter(team=team)
    reserves = LedgerEntry.objects.filter(kind=LedgerKind.RESERVE, job__in=jobs).count()
    assert reserves == Hold.objects.filter(job__in=jobs).count()


def set_team_quota(team: Team, **limits) -> TeamQuota:
    quota, _ = TeamQuota.objects.update_or_create(team=team, defaults=limits)
    return quota


def set_member_quota(membership: Membership, **limits) -> MemberQuota:
    quota, _ = MemberQuota.objects.update_or_create(membership=membership, defaults=limits)
    return quota


def membership_of(user, team: Team) -> Membership:
    return Membership.objects.select_related("team", "user").get(user=user, team=team)


def submit(membership: Membership, project, *, mode: str = "t2i", uploads=(), **params) -> Job:
    """One simulator job through the real service (nothing is enqueued: see _no_enqueue)."""
    return services.job_create(
        membership=membership,
        project=project,
        provider="simulator",
        model=None,
        mode=mode,
        prompt="a lighthouse at dawn",
        params={"sim_delay": 0, **params},
        uploads=uploads,
    )


def team_wallet(team: Team, now: datetime | None = None) -> Wallet:
    return quotas.wallet_current(team=team, membership=None, now=now)


def member_wallet(membership: Membership, now: datetime | None = None) -> Wallet:
    return quotas.wallet_current(team=membership.team, membership=membership, now=now)


def set_time_zone(membership: Membership, tz: str) -> None:
    Team.objects.filter(pk=membership.team_id).update(time_zone=tz)
    membership.team.refresh_from_db()


def queued_job(membership: Membership, *, status: str = JobStatus.QUEUED) -> Job:
    """A job row made directly (not through job_create), for quota_reserve with a chosen `now`."""
    job = JobFactory(
        project__team=membership.team, created_by=membership.user, status=status, params={"sim_delay": 0}
    )
    job.refresh_from_db()  # cost_estimate as the Decimal the database gives back
    return job


def ledger(kind: str, job: Job | None = None):
    entries = LedgerEntry.objects.filter(kind=kind)
    return entries.filter(job=job) if job is not None else entries


def finish(job: Job, status: str, *, cost_final: Decimal | None = None) -> Job:
    """Move a job to a final status the way the task code does, then settle or refund it."""
    Job.objects.filter(pk=job.pk).update(status=status, cost_final=cost_final, finished_at=timezone.now())
    job.refresh_from_db()
    services.on_job_finished(job)
    return job


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    """job_create enqueues the submit after commit; these tests only look at the money."""
    monkeypatch.setattr(services.job_submit_task, "delay", lambda *args, **kwargs: None)


@pytest.fixture(autouse=True)
def _books_balance_after_every_test(request):
    uses_db = "db" in request.fixturenames or "transactional_db" in request.fixturenames
    if uses_db:
        request.getfixturevalue("db")  # set up first, so it is still there at teardown
    yield
    if uses_db:
        assert_books_balance()


@pytest.fixture
def alice_m(alice, acme) -> Membership:
    return membership_of(alice, acme)


@pytest.fixture
def bob_m(bob, acme) -> Membership:
    return membership_of(bob, acme)


# ---------------------------------------------------------------------------------------------
# Periods
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "tz", "now", "start", "end"),
    [
        pytest.param(
            Period.MONTHLY,
            "Europe/Berlin",
            datetime(2025, 3, 31, 23, 30, tzinfo=UTC),  # already 1 April, 01:30, in Berlin
            datetime(2025, 4, 1, tzinfo=BERLIN),
            datetime(2025, 5, 1, tzinfo=BERLIN),
            id="monthly-local-month-not-utc-month",
        ),
        pytest.param(
            Period.MONTHLY,
            "Europe/Berlin",
            datetime(2025, 3, 15, 12, tzinfo=UTC),  # the month the clocks go forward
            datetime(2025, 3, 1, tzinfo=BERLIN),  # +01:00
            datetime(2025, 4, 1, tzinfo=BERLIN),  # +02:00
            id="monthly-across-dst",
        ),
        pytest.param(
            Period.MONTHLY,
            "America/New_York",
            datetime(2025, 12, 31, 23, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
            datetime(2025, 12, 1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
            datetime(2026, 1, 1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
            id="monthly-december-rolls-into-next-year",
        ),
        pytest.param(
            Period.WEEKLY,
            "Asia/Tokyo",
            datetime(2025, 6, 8, 16, 0, tzinfo=UTC),  # Monday 9 June 01:00 in Tokyo, Sunday in UTC
            datetime(2025, 6, 9, tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo")),
            datetime(2025, 6, 16, tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo")),
            id="weekly-starts-monday-local",
        ),
        pytest.param(
            Period.DAILY,
            "America/Los_Angeles",
            datetime(2025, 6, 10, 3, 0, tzinfo=UTC),  # still 9 June, 20:00, in Los Angeles
            datetime(2025, 6, 9, tzinfo=zoneinfo.ZoneInfo("America/Los_Angeles")),
            datetime(2025, 6, 10, tzinfo=zoneinfo.ZoneInfo("America/Los_Angeles")),
            id="daily-local-day-not-utc-day",
        ),
    ],
)
def test_a_period_runs_from_local_midnight_to_local_midnight_in_the_team_time_zone(
    period, tz, now, start, end
):
    got_start, got_end = period_bounds(period, tz, now)
    assert (got_start, got_end) == (start, end)
    assert got_start <= now < got_end


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        ("Europe/Berlin", datetime(2025, 3, 30, 12), 23),  # clocks go forward
        ("Europe/Berlin", datetime(2025, 10, 26, 12), 25),  # clocks go back
        ("America/New_York", datetime(2025, 3, 9, 12), 23),
        ("America/New_York", datetime(2025, 11, 2, 12), 25),
    ],
)
def test_a_daily_period_on_a_dst_change_day_is_23_or_25_hours_long_and_starts_at_local_midnight(
    tz, day, hours
):
    zone = zoneinfo.ZoneInfo(tz)
    start, end = period_bounds(Period.DAILY, tz, day.replace(tzinfo=zone))
    assert start.astimezone(zone).replace(tzinfo=None) == day.replace(hour=0)
    assert end.astimezone(zone).replace(tzinfo=None) == day.replace(hour=0) + timedelta(days=1)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)


def test_a_weekly_period_containing_a_dst_change_is_one_hour_short_and_ends_at_local_midnight():
    start, end = period_bounds(Period.WEEKLY, "Europe/Berlin", datetime(2025, 3, 29, 12, tzinfo=BERLIN))
    assert start.astimezone(BERLIN).replace(tzinfo=None) == datetime(2025, 3, 24)
    assert end.astimezone(BERLIN).replace(tzinfo=None) == datetime(2025, 3, 31)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=7, hours=-1)


def test_the_moment_of_local_midnight_already_belongs_to_the_new_period():
    midnight = datetime(2025, 5, 1, tzinfo=BERLIN)
    assert period_bounds(Period.MONTHLY, "Europe/Berlin", midnight)[0] == midnight
    assert period_bounds(Period.MONTHLY, "Europe/Berlin", midnight - timedelta(microseconds=1))[1] == midnight


def test_a_period_of_none_never_ends():
    start, end = period_bounds(Period.NONE, "Europe/Berlin", datetime(2031, 7, 4, tzinfo=UTC))
    assert end is None
    assert start == quota_selectors.EPOCH


def test_an_unknown_time_zone_falls_back_to_utc():
    now = datetime(2025, 3, 31, 23, 30, tzinfo=UTC)
    assert period_bounds(Period.MONTHLY, "Mars/Olympus_Mons", now) == (
        datetime(2025, 3, 1, tzinfo=UTC),
        datetime(2025, 4, 1, tzinfo=UTC),
    )


# ---------------------------------------------------------------------------------------------
# Reserve, settle, refund
# ---------------------------------------------------------------------------------------------


def test_a_submit_reserves_its_estimate_from_the_team_and_from_the_member(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    set_member_quota(alice_m, budget_usd=Decimal("0.03"))
    job = submit(alice_m, acme_project)
    assert job.cost_estimate == CENT
    for wallet in (team_wallet(acme), member_wallet(alice_m)):
        assert (wallet.reserved, wallet.spent) == (CENT, 0)
    assert team_wallet(acme).available == Decimal("0.04")
    assert member_wallet(alice_m).available == Decimal("0.02")
    hold = Hold.objects.get(job=job)
    assert (hold.amount, hold.status) == (CENT, HoldStatus.HELD)
    entry = ledger(LedgerKind.RESERVE).get()
    assert (entry.job, entry.user, entry.amount, entry.team) == (job, alice_m.user, CENT, acme)


def test_five_submits_use_up_a_five_cent_budget_exactly_and_the_sixth_is_refused(acme, alice_m, acme_project):
    """Decimal arithmetic in the database: 0.05 - 5 x 0.01 must be exactly 0, not a float crumb."""
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    for _ in range(5):
        submit(alice_m, acme_project)
    wallet = team_wallet(acme)
    assert (wallet.available, wallet.reserved) == (0, Decimal("0.05"))
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project)
    assert refused.value.limit == "budget"
    assert Job.objects.count() == 5


def test_a_success_at_the_estimate_moves_the_hold_to_spent(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    job = finish(submit(alice_m, acme_project), JobStatus.SUCCEEDED)
    wallet = team_wallet(acme)
    assert (wallet.available, wallet.reserved, wallet.spent) == (Decimal("0.04"), 0, CENT)
    hold = Hold.objects.get(job=job)
    assert (hold.status, hold.final_amount) == (HoldStatus.SETTLED, CENT)
    assert ledger(LedgerKind.SETTLE, job).get().amount == CENT


def test_a_vendor_cost_above_the_estimate_is_charged_in_full_when_the_budget_covers_it(
    acme, alice_m, acme_project
):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    job = finish(submit(alice_m, acme_project), JobStatus.SUCCEEDED, cost_final=Decimal("0.0325"))
    wallet = team_wallet(acme)
    assert (wallet.available, wallet.reserved, wallet.spent) == (Decimal("0.0175"), 0, Decimal("0.0325"))
    entry = ledger(LedgerKind.SETTLE, job).get()
    assert (entry.amount, entry.note) == (Decimal("0.0325"), "")


def test_a_vendor_cost_above_what_is_left_is_charged_only_as_far_as_the_budget_goes(
    acme, alice_m, acme_project
):
    set_team_quota(acme, budget_usd=Decimal("0.02"))
    job = finish(submit(alice_m, acme_project), JobStatus.SUCCEEDED, cost_final=Decimal("0.05"))
    wallet = team_wallet(acme)
    assert (wallet.available, wallet.reserved, wallet.spent) == (0, 0, Decimal("0.02"))
    entry = ledger(LedgerKind.SETTLE, job).get()
    assert entry.amount == Decimal("0.02")
    assert "exceeded the budget" in entry.note


def test_a_vendor_cost_clipped_to_what_is_left_leaves_exactly_zero_and_does_not_crash(
    acme, alice_m, acme_project
):
    """0.03 - 0.01 is 0.019999999999999997 in floating point; clipping must still land on 0, not -3e-18."""
    set_team_quota(acme, budget_usd=Decimal("0.03"))
    job = finish(submit(alice_m, acme_project), JobStatus.SUCCEEDED, cost_final=Decimal("0.05"))
    wallet = team_wallet(acme)
    assert (wallet.available, wallet.reserved, wallet.spent) == (0, 0, Decimal("0.03"))
    assert Hold.objects.get(job=job).status == HoldStatus.SETTLED


def test_a_vendor_cost_below_the_estimate_gives_the_difference_back(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    set_member_quota(alice_m, budget_usd=Decimal("0.02"))
    job = finish(submit(alice_m, acme_project), JobStatus.SUCCEEDED, cost_final=Decimal("0.0040"))
    assert (team_wallet(acme).available, team_wallet(acme).spent) == (Decimal("0.0460"), Decimal("0.004"))
    assert (member_wallet(alice_m).available, member_wallet(alice_m).spent) == (
        Decimal("0.0160"),
        Decimal("0.004"),
    )
    assert ledger(LedgerKind.SETTLE, job).get().amount == Decimal("0.004")


def test_a_vendor_cost_clipped_by_the_member_budget_is_charged_the_same_to_team_member_and_ledger(
    acme, bob_m, acme_project
):
    set_team_quota(acme, budget_usd=Decimal("1.00"))
    set_member_quota(bob_m, budget_usd=Decimal("0.02"))
    job = finish(submit(bob_m, acme_project), JobStatus.SUCCEEDED, cost_final=Decimal("0.05"))
    charged = ledger(LedgerKind.SETTLE, job).get().amount
    assert charged == Decimal("0.02")  # what the member's budget could still cover
    assert member_wallet(bob_m).spent == charged
    assert team_wallet(acme).spent == charged


def test_a_team_without_a_budget_still_counts_what_it_reserves_and_spends(acme, alice_m, acme_project):
    job = submit(alice_m, acme_project)
    wallet = team_wallet(acme)
    assert (wallet.granted, wallet.available, wallet.reserved) == (None, 0, CENT)
    finish(job, JobStatus.SUCCEEDED, cost_final=Decimal("0.25"))
    wallet = team_wallet(acme)
    assert (wallet.reserved, wallet.spent, wallet.available) == (0, Decimal("0.25"), 0)


def test_a_failed_job_gives_its_whole_hold_back(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    set_member_quota(alice_m, budget_usd=Decimal("0.03"))
    job = submit(alice_m, acme_project)
    assert services.job_fail(job=job, code="vendor_failed", message="The vendor gave up.")
    for wallet, budget in ((team_wallet(acme), "0.05"), (member_wallet(alice_m), "0.03")):
        assert (wallet.available, wallet.reserved, wallet.spent) == (Decimal(budget), 0, 0)
    hold = Hold.objects.get(job=job)
    assert (hold.status, hold.final_amount) == (HoldStatus.REFUNDED, 0)
    entry = ledger(LedgerKind.REFUND, job).get()
    assert entry.amount == CENT
    assert "failed" in entry.note


def test_a_canceled_job_gives_its_whole_hold_back(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    job = submit(alice_m, acme_project)
    assert services.job_cancel(membership=alice_m, job=job)
    assert team_wallet(acme).available == Decimal("0.05")
    assert ledger(LedgerKind.REFUND, job).count() == 1


# ---------------------------------------------------------------------------------------------
# Exactly once
# ---------------------------------------------------------------------------------------------


def _refunded_once(team: Team, job: Job, budget: str) -> None:
    wallet = team_wallet(team)
    assert (wallet.available, wallet.reserved, wallet.spent) == (Decimal(budget), 0, 0)
    assert ledger(LedgerKind.REFUND, job).count() == 1
    assert ledger(LedgerKind.SETTLE, job).count() == 0


def test_a_duplicate_failure_event_refunds_once(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    job = submit(alice_m, acme_project)
    assert services.job_fail(job=job, code="timeout", message="first")
    stale = Job.objects.get(pk=job.pk)  # a second worker holding its own copy of the row
    assert not services.job_fail(job=stale, code="timeout", message="second")
    assert not services.job_fail_by_id(job_id=job.pk, code="timeout", message="third")
    _refunded_once(acme, job, "0.05")


def test_a_cancel_after_a_failure_refunds_nothing_more(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    job = submit(alice_m, acme_project)
    stale = Job.objects.get(pk=job.pk)
    assert services.job_fail(job=job, code="vendor_failed", message="gone")
    assert not services.job_cancel(membership=alice_m, job=stale)
    _refunded_once(acme, job, "0.05")


def test_quota_refund_called_twice_moves_money_once(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    job = submit(alice_m, acme_project)
    assert quotas.quota_refund(job=job, reason="first")
    assert not quotas.quota_refund(job=job, reason="second")
    _refunded_once(acme, job, "0.05")


def test_on_job_finished_called_twice_for_a_failure_refunds_once(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    job = finish(submit(alice_m, acme_project), JobStatus.FAILED)
    services.on_job_finished(job)
    _refunded_once(acme, job, "0.05")


def test_a_settled_job_cannot_be_refunded_and_a_refunded_job_cannot_be_settled(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    settled = finish(submit(alice_m, acme_project), JobStatus.SUCCEEDED)
    refunded = finish(submit(alice_m, acme_project), JobStatus.FAILED)
    assert not quotas.quota_refund(job=settled)
    assert not quotas.quota_settle(job=settled, amount=Decimal("0.04"))
    assert not quotas.quota_settle(job=refunded)
    wallet = team_wallet(acme)
    assert (wallet.available, wallet.reserved, wallet.spent) == (Decimal("0.04"), 0, CENT)
    assert ledger(LedgerKind.SETTLE).count() == 1
    assert ledger(LedgerKind.REFUND).count() == 1


def test_settling_or_refunding_a_job_without_a_hold_is_a_no_op(acme, alice):
    job = JobFactory(project__team=acme, created_by=alice)
    assert not quotas.quota_settle(job=job)
    assert not quotas.quota_refund(job=job)
    assert not LedgerEntry.objects.exists()


# ---------------------------------------------------------------------------------------------
# Periods and resets
# ---------------------------------------------------------------------------------------------


def test_a_period_reset_forgives_what_was_spent_but_keeps_what_is_still_held(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    set_member_quota(alice_m, budget_usd=Decimal("0.10"))
    for _ in range(3):
        finish(submit(alice_m, acme_project), JobStatus.SUCCEEDED)
    running = submit(alice_m, acme_project)
    quotas.wallet_reset_period(team=acme, actor=alice_m.user)
    wallet = team_wallet(acme)
    assert (wallet.granted, wallet.available, wallet.reserved, wallet.spent) == (
        Decimal("0.05"),
        Decimal("0.04"),
        CENT,
        0,
    )
    mine = member_wallet(alice_m)
    assert (mine.available, mine.reserved, mine.spent) == (Decimal("0.09"), CENT, 0)
    resets = sorted(ledger(LedgerKind.RESET).values_list("amount", flat=True))
    assert resets == [Decimal("-0.03"), Decimal("-0.03")]
    # The job that was running when the period was reset still settles against the same wallet.
    finish(running, JobStatus.SUCCEEDED)
    assert team_wallet(acme).spent == CENT


def test_a_period_reset_with_nothing_spent_writes_nothing(acme, alice_m):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    team_wallet(acme)
    quotas.wallet_reset_period(team=acme)
    assert not ledger(LedgerKind.RESET).exists()
    assert team_wallet(acme).available == Decimal("0.05")


def test_a_new_calendar_month_starts_a_fresh_wallet_with_the_full_budget(acme, alice, alice_m):
    set_time_zone(alice_m, "Europe/Berlin")
    set_team_quota(acme, budget_usd=Decimal("0.02"), period=Period.MONTHLY)
    january = datetime(2025, 1, 31, 22, 30, tzinfo=UTC)  # 23:30 in Berlin, still January
    february = datetime(2025, 1, 31, 23, 0, tzinfo=UTC)  # midnight in Berlin
    for _ in range(2):
        job = queued_job(alice_m, status=JobStatus.SUCCEEDED)
        quotas.quota_reserve(membership=alice_m, job=job, video_seconds=None, now=january)
        quotas.quota_settle(job=job)
    late = queued_job(alice_m)
    with pytest.raises(QuotaExceeded) as refused:
        quotas.quota_reserve(membership=alice_m, job=late, video_seconds=None, now=january)
    assert refused.value.limit == "budget"
    assert refused.value.resets_at == datetime(2025, 2, 1, tzinfo=BERLIN)
    assert "2025-02-01 00:00 (Europe/Berlin)" in refused.value.message

    hold = quotas.quota_reserve(membership=alice_m, job=late, video_seconds=None, now=february)
    fresh = hold.team_wallet
    assert fresh.period_start == datetime(2025, 2, 1, tzinfo=BERLIN)
    fresh.refresh_from_db()
    assert (fresh.granted, fresh.available, fresh.reserved, fresh.spent) == (
        Decimal("0.02"),
        CENT,
        CENT,
        0,
    )
    old = team_wallet(alice_m.team, now=january)
    assert (old.available, old.spent) == (0, Decimal("0.02"))
    assert Wallet.objects.filter(team=acme, membership=None).count() == 2


def test_a_job_reserved_last_month_settles_against_last_month(acme, alice, alice_m):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    march = datetime(2025, 3, 31, 12, tzinfo=UTC)
    job = queued_job(alice_m, status=JobStatus.RUNNING)
    quotas.quota_reserve(membership=alice_m, job=job, video_seconds=None, now=march)
    april = team_wallet(acme, now=datetime(2025, 4, 2, tzinfo=UTC))
    quotas.quota_settle(job=job)
    assert team_wallet(acme, now=march).spent == CENT
    april.refresh_from_db()
    assert (april.available, april.spent) == (Decimal("0.05"), 0)


# ---------------------------------------------------------------------------------------------
# Rate, concurrency, allow-lists, video length, freezing
# ---------------------------------------------------------------------------------------------


def _past_job(team, user, *, minutes_ago: float, status=JobStatus.SUCCEEDED) -> Job:
    job = JobFactory(project__team=team, created_by=user, status=status)
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    job.refresh_from_db()
    return job


def test_the_hourly_rate_refuses_the_next_job_and_says_when_a_slot_frees_up(
    acme, alice, alice_m, acme_project
):
    set_team_quota(acme, max_jobs_per_hour=2)
    oldest = _past_job(acme, alice, minutes_ago=40)
    _past_job(acme, alice, minutes_ago=10, status=JobStatus.FAILED)  # failed jobs still count
    _past_job(acme, alice, minutes_ago=61)  # outside the window
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project)
    error = refused.value
    assert error.limit == "max_jobs_per_hour"
    assert error.resets_at == oldest.created_at + timedelta(hours=1)
    assert "at most 2 jobs per hour" in error.message
    assert f"a slot frees up at {error.resets_at.astimezone(UTC):%H:%M} (UTC)" in error.message
    assert Job.objects.count() == 3


def test_the_hourly_rate_lets_a_job_through_once_the_oldest_leaves_the_window(
    acme, alice, alice_m, acme_project
):
    set_team_quota(acme, max_jobs_per_hour=2)
    _past_job(acme, alice, minutes_ago=59)
    _past_job(acme, alice, minutes_ago=5)
    with pytest.raises(QuotaExceeded):
        submit(alice_m, acme_project)
    job = queued_job(alice_m)
    later = timezone.now() + timedelta(minutes=2)
    hold = quotas.quota_reserve(membership=alice_m, job=job, video_seconds=None, now=later)
    assert hold.status == HoldStatus.HELD


def test_a_member_hourly_rate_stricter_than_the_team_stops_only_that_member(
    acme, alice, bob, alice_m, bob_m, acme_project
):
    set_team_quota(acme, max_jobs_per_hour=5)
    set_member_quota(bob_m, max_jobs_per_hour=1)
    _past_job(acme, bob, minutes_ago=5)
    with pytest.raises(QuotaExceeded) as refused:
        submit(bob_m, acme_project)
    assert refused.value.limit == "max_jobs_per_hour"
    assert refused.value.message.startswith("You can have at most 1 jobs per hour")
    submit(alice_m, acme_project)


def test_the_concurrency_limit_counts_only_active_jobs(acme, alice, alice_m, acme_project):
    set_team_quota(acme, max_concurrent_jobs=2)
    _past_job(acme, alice, minutes_ago=1, status=JobStatus.SUCCEEDED)
    _past_job(acme, alice, minutes_ago=1, status=JobStatus.CANCELED)
    first = submit(alice_m, acme_project)
    running = _past_job(acme, alice, minutes_ago=1, status=JobStatus.RUNNING)
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project)
    assert refused.value.limit == "max_concurrent_jobs"
    assert refused.value.resets_at is None
    assert (
        "at most 2 jobs running at once; a slot frees up when one of them finishes" in refused.value.message
    )
    assert services.job_fail(job=first, code="timeout", message="slow")
    submit(alice_m, acme_project)
    assert running.status == JobStatus.RUNNING


def test_a_member_concurrency_limit_applies_to_that_member_and_the_team_limit_to_all(
    acme, alice, bob, alice_m, bob_m, acme_project
):
    set_team_quota(acme, max_concurrent_jobs=3)
    set_member_quota(bob_m, max_concurrent_jobs=1)
    submit(bob_m, acme_project)
    with pytest.raises(QuotaExceeded) as refused:
        submit(bob_m, acme_project)
    assert refused.value.message.startswith("You can have at most 1 jobs running at once")
    submit(alice_m, acme_project)
    submit(alice_m, acme_project)
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project)
    assert refused.value.message.startswith("The team can have at most 3 jobs running at once")


@pytest.mark.parametrize(
    ("team_list", "member_list", "allowed"),
    [
        ([], [], None),
        (["fal"], [], "fal"),
        (["simulator", "fal"], [], None),
        (["simulator", "fal"], ["fal"], "fal"),  # the member's list narrows the team's
        (["simulator", "fal"], ["simulator", "dashscope"], None),
        ([], ["fal", "dashscope"], "dashscope, fal"),
        (["fal"], ["simulator"], "none"),  # a member's list cannot widen the team's
    ],
)
def test_the_provider_allow_list_is_the_intersection_of_team_and_member(
    acme, alice_m, acme_project, team_list, member_list, allowed
):
    """`allowed` is what the refusal lists, or None when the simulator job goes through."""
    set_team_quota(acme, allowed_providers=team_list)
    set_member_quota(alice_m, allowed_providers=member_list)
    if allowed is None:
        submit(alice_m, acme_project)
        return
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project)
    assert refused.value.limit == "providers"
    assert refused.value.message == f"Your quota does not allow simulator. Allowed providers: {allowed}."
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("team_list", "member_list", "allowed"),
    [
        (["wan-sim"], [], True),
        (["wan/v2.6/text-to-video"], [], False),
        (["wan-sim", "wan/v2.6/text-to-video"], ["wan/v2.6/text-to-video"], False),
        ([], ["wan-sim"], True),
        (["wan/v2.6/text-to-video"], ["wan-sim"], False),
    ],
)
def test_the_model_allow_list_is_the_intersection_of_team_and_member(
    acme, alice_m, acme_project, team_list, member_list, allowed
):
    set_team_quota(acme, allowed_models=team_list)
    set_member_quota(alice_m, allowed_models=member_list)
    if allowed:
        submit(alice_m, acme_project)
        return
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project)
    assert refused.value.limit == "models"
    assert "does not allow the model wan-sim" in refused.value.message
    assert not Job.objects.exists()


def test_a_video_longer_than_the_cap_is_refused_and_one_at_the_cap_is_accepted(acme, alice_m, acme_project):
    set_team_quota(acme, max_video_seconds=8)
    set_member_quota(alice_m, max_video_seconds=6)
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project, mode="t2v", duration=7)
    assert refused.value.limit == "max_video_seconds"
    assert "capped at 6 s per job; this one asks for 7 s" in refused.value.message
    job = submit(alice_m, acme_project, mode="t2v", duration=6)
    assert job.cost_estimate == Decimal("0.06")  # $0.01 per video second
    submit(alice_m, acme_project)  # images have no length


def test_a_frozen_team_cannot_start_jobs_until_it_is_thawed(acme, alice_m, acme_project):
    set_team_quota(acme, frozen=True, budget_usd=Decimal("1"))
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project)
    assert refused.value.limit == "frozen"
    assert "frozen" in refused.value.message
    assert not Job.objects.exists()
    assert not Hold.objects.exists()
    set_team_quota(acme, frozen=False)
    submit(alice_m, acme_project)


def test_freezing_a_team_does_not_touch_jobs_already_running(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("1"))
    job = submit(alice_m, acme_project)
    set_team_quota(acme, frozen=True)
    finish(job, JobStatus.SUCCEEDED)
    assert team_wallet(acme).spent == CENT


def test_limits_for_a_member_are_the_team_limits_made_stricter_by_the_override(acme, alice_m, bob_m):
    set_team_quota(
        acme,
        max_concurrent_jobs=5,
        max_jobs_per_hour=10,
        max_video_seconds=10,
        allowed_providers=["simulator", "fal"],
        allowed_models=[],
    )
    set_member_quota(
        bob_m,
        max_concurrent_jobs=8,  # looser than the team: the team's 5 wins
        max_jobs_per_hour=3,  # stricter: 3
        max_video_seconds=None,  # not set: the team's 10
        allowed_providers=["fal", "dashscope"],
        allowed_models=["wan-sim"],
    )
    bob = limits_for(bob_m)
    assert (bob.max_concurrent_team, bob.max_concurrent_member) == (5, 5)
    assert (bob.per_hour_team, bob.per_hour_member) == (10, 3)
    assert bob.max_video_seconds == 10
    assert bob.providers == {"fal"}
    assert bob.models == {"wan-sim"}
    assert not bob.frozen
    alice = limits_for(alice_m)  # no override
    assert (alice.max_concurrent_member, alice.per_hour_member, alice.max_video_seconds) == (5, 10, 10)
    assert alice.providers == {"simulator", "fal"}
    assert alice.models is None


def test_a_member_with_an_override_and_no_team_limits_gets_exactly_the_override(acme, bob_m):
    set_member_quota(bob_m, max_concurrent_jobs=2, max_video_seconds=4, allowed_models=["wan-sim"])
    bob = limits_for(bob_m)
    assert (bob.max_concurrent_team, bob.max_concurrent_member) == (None, 2)
    assert (bob.per_hour_team, bob.per_hour_member) == (None, None)
    assert bob.max_video_seconds == 4
    assert bob.providers is None
    assert bob.models == {"wan-sim"}


def test_a_member_budget_refuses_that_member_while_the_team_has_money_left(
    acme, alice_m, bob_m, acme_project
):
    set_team_quota(acme, budget_usd=Decimal("1.00"))
    set_member_quota(bob_m, budget_usd=Decimal("0.02"))
    submit(bob_m, acme_project)
    submit(bob_m, acme_project)
    with pytest.raises(QuotaExceeded) as refused:
        submit(bob_m, acme_project)
    assert refused.value.limit == "budget"
    assert refused.value.message.startswith("Your budget of $0.02")
    submit(alice_m, acme_project)
    assert team_wallet(acme).reserved == Decimal("0.03")
    # The refused submit took nothing from the team either.
    assert team_wallet(acme).available == Decimal("0.97")


# ---------------------------------------------------------------------------------------------
# Admin edits, top-ups
# ---------------------------------------------------------------------------------------------


def _spend_one_hold_one(membership, project) -> Job:
    finish(submit(membership, project), JobStatus.SUCCEEDED)
    return submit(membership, project)


def test_raising_the_budget_adds_the_difference_to_what_is_available(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    _spend_one_hold_one(alice_m, acme_project)
    set_team_quota(acme, budget_usd=Decimal("0.10"))
    quotas.quota_budget_changed(team=acme, actor=alice_m.user)
    wallet = team_wallet(acme)
    assert (wallet.granted, wallet.available, wallet.reserved, wallet.spent) == (
        Decimal("0.10"),
        Decimal("0.08"),
        CENT,
        CENT,
    )
    adjust = ledger(LedgerKind.ADJUST).get()
    assert (adjust.amount, adjust.user) == (Decimal("0.05"), alice_m.user)


def test_lowering_the_budget_below_spent_plus_reserved_leaves_nothing_available_and_never_goes_negative(
    acme, alice_m, acme_project
):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    held = _spend_one_hold_one(alice_m, acme_project)
    set_team_quota(acme, budget_usd=Decimal("0.01"))
    quotas.quota_budget_changed(team=acme)
    wallet = team_wallet(acme)
    assert (wallet.available, wallet.reserved, wallet.spent) == (0, CENT, CENT)
    assert wallet.granted == Decimal("0.02")  # granted never drops below what is already committed
    with pytest.raises(QuotaExceeded):
        submit(alice_m, acme_project)
    finish(held, JobStatus.FAILED)  # the refund returns to the wallet ...
    wallet = team_wallet(acme)
    assert (wallet.granted, wallet.available, wallet.spent) == (Decimal("0.02"), CENT, CENT)


def test_removing_the_budget_lets_jobs_through_and_putting_it_back_counts_what_was_spent(
    acme, alice_m, acme_project
):
    set_team_quota(acme, budget_usd=Decimal("0.02"))
    _spend_one_hold_one(alice_m, acme_project)
    set_team_quota(acme, budget_usd=None)
    quotas.quota_budget_changed(team=acme)
    wallet = team_wallet(acme)
    assert (wallet.granted, wallet.available) == (None, 0)
    for _ in range(3):
        finish(submit(alice_m, acme_project), JobStatus.SUCCEEDED)
    set_team_quota(acme, budget_usd=Decimal("0.10"))
    quotas.quota_budget_changed(team=acme)
    wallet = team_wallet(acme)
    assert (wallet.granted, wallet.available, wallet.reserved, wallet.spent) == (
        Decimal("0.10"),
        Decimal("0.05"),
        CENT,
        Decimal("0.04"),
    )


def test_editing_a_member_budget_moves_only_that_member_wallet(acme, alice_m, bob_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("1.00"))
    set_member_quota(bob_m, budget_usd=Decimal("0.02"))
    _spend_one_hold_one(bob_m, acme_project)
    set_member_quota(bob_m, budget_usd=Decimal("0.05"))
    quotas.quota_budget_changed(team=acme)
    bob_wallet = member_wallet(bob_m)
    assert (bob_wallet.granted, bob_wallet.available) == (Decimal("0.05"), Decimal("0.03"))
    assert team_wallet(acme).granted == Decimal("1.00")
    assert member_wallet(alice_m).granted is None
    assert "for bob" in ledger(LedgerKind.ADJUST).get().note


def test_deleting_a_member_override_removes_that_member_budget(acme, bob_m, acme_project):
    set_member_quota(bob_m, budget_usd=Decimal("0.01"))
    submit(bob_m, acme_project)
    MemberQuota.objects.filter(membership=bob_m).delete()
    quotas.quota_budget_changed(team=acme)
    assert member_wallet(bob_m).granted is None
    submit(bob_m, acme_project)


def test_a_budget_edit_with_no_change_writes_nothing(acme, alice_m):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    team_wallet(acme)
    quotas.quota_budget_changed(team=acme)
    assert not ledger(LedgerKind.ADJUST).exists()


def test_a_top_up_adds_to_granted_and_available_for_this_period(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.01"))
    submit(alice_m, acme_project)
    with pytest.raises(QuotaExceeded):
        submit(alice_m, acme_project)
    wallet = quotas.wallet_top_up(team=acme, amount=Decimal("0.02"), actor=alice_m.user)
    assert (wallet.granted, wallet.available, wallet.reserved) == (Decimal("0.03"), Decimal("0.02"), CENT)
    assert ledger(LedgerKind.TOP_UP).get().amount == Decimal("0.02")
    submit(alice_m, acme_project)
    submit(alice_m, acme_project)


def test_a_top_up_of_a_team_without_a_budget_changes_nothing(acme):
    wallet = quotas.wallet_top_up(team=acme, amount=Decimal("5"))
    assert wallet.granted is None
    assert not ledger(LedgerKind.TOP_UP).exists()


def test_a_top_up_survives_an_unrelated_budget_edit_and_a_change_of_the_budget(acme, alice_m, bob_m):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    quotas.wallet_top_up(team=acme, amount=Decimal("0.10"))
    set_member_quota(bob_m, budget_usd=Decimal("0.01"))  # an admin limits bob ...
    quotas.quota_budget_changed(team=acme)  # ... and the team's top-up must not vanish
    assert team_wallet(acme).granted == Decimal("0.15")
    set_team_quota(acme, budget_usd=Decimal("0.08"))
    quotas.quota_budget_changed(team=acme)
    wallet = team_wallet(acme)
    assert (wallet.granted, wallet.available, wallet.topped_up) == (
        Decimal("0.18"),
        Decimal("0.18"),
        Decimal("0.10"),
    )


# ---------------------------------------------------------------------------------------------
# A refused submit leaves no trace
# ---------------------------------------------------------------------------------------------


def _files_under(root) -> list[Path]:
    root = Path(root)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_refused_submit_creates_no_job_no_file_no_hold_and_no_ledger_row(
    settings, acme, alice_m, acme_project
):
    set_time_zone(alice_m, "Asia/Tokyo")
    set_team_quota(acme, budget_usd=Decimal("0.0150"), period=Period.WEEKLY)
    png = make_png()
    upload = UploadedInput(slot="image", data=png, filename="in.png", info=media.probe(png))
    kept = submit(alice_m, acme_project, mode="edit", uploads=[upload])
    files_before = _files_under(settings.MEDIA_ROOT)
    assert len(files_before) == 1
    counts = (Job.objects.count(), Asset.objects.count(), Hold.objects.count(), LedgerEntry.objects.count())

    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project, mode="edit", uploads=[upload])

    assert (
        Job.objects.count(),
        Asset.objects.count(),
        Hold.objects.count(),
        LedgerEntry.objects.count(),
    ) == (counts)
    assert _files_under(settings.MEDIA_ROOT) == files_before
    error = refused.value
    _, end = period_bounds(Period.WEEKLY, "Asia/Tokyo")
    assert (error.limit, error.resets_at) == ("budget", end)
    assert error.message.startswith("The team's budget of $0.0150 for this period has $0.0050 left")
    assert "this job needs $0.01" in error.message
    assert f"it resets {end.astimezone(zoneinfo.ZoneInfo('Asia/Tokyo')):%Y-%m-%d} 00:00 (Asia/Tokyo)" in (
        error.message
    )
    assert team_wallet(alice_m.team).reserved == kept.cost_estimate


def test_a_budget_that_never_resets_says_so_when_it_refuses(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0"), period=Period.NONE)
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project)
    assert refused.value.resets_at is None
    assert "it does not reset; ask an admin to raise it" in refused.value.message


def test_a_viewer_is_refused_before_any_quota_is_touched(acme, dave, acme_project):
    from django.core.exceptions import PermissionDenied

    set_team_quota(acme, budget_usd=Decimal("0.05"))
    with pytest.raises(PermissionDenied):
        submit(membership_of(dave, acme), acme_project)
    assert not Wallet.objects.exists()


# ---------------------------------------------------------------------------------------------
# Prices
# ---------------------------------------------------------------------------------------------


def test_a_price_override_changes_the_estimate_and_the_amount_reserved(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("1"))
    assert submit(alice_m, acme_project).cost_estimate == CENT
    PriceOverride.objects.create(key="simulator:wan-sim:t2i:image", usd=Decimal("0.0375"))
    PriceOverride.objects.create(key="simulator:wan-sim:t2v:second:*", usd=Decimal("0.02"))
    image = submit(alice_m, acme_project, num_outputs=2)
    video = submit(alice_m, acme_project, mode="t2v", duration=5)
    assert image.cost_estimate == Decimal("0.0750")
    assert video.cost_estimate == Decimal("0.10")
    assert Hold.objects.get(job=image).amount == Decimal("0.075")
    assert team_wallet(acme).reserved == Decimal("0.01") + Decimal("0.075") + Decimal("0.10")


def test_a_job_priced_above_what_is_left_is_refused_even_though_cheaper_ones_fit(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project, mode="t2v", duration=6)  # $0.06
    assert "this job needs $0.06" in refused.value.message
    submit(alice_m, acme_project, mode="t2v", duration=5)  # exactly $0.05
    assert team_wallet(acme).available == 0


def test_an_unrelated_user_outside_the_team_is_never_given_a_wallet(acme, alice_m, acme_project):
    outsider = UserFactory(username="eve")
    other = MembershipFactory(user=outsider, role=Role.OWNER)
    set_team_quota(acme, budget_usd=Decimal("0.05"))
    submit(alice_m, acme_project)
    assert not Wallet.objects.filter(team=other.team).exists()


# ---------------------------------------------------------------------------------------------
# A submit's SQL stays small (issue 13: job_create ran 20 queries)
# ---------------------------------------------------------------------------------------------


def test_job_create_with_its_reserve_takes_at_most_ten_queries(
    acme, alice_m, acme_project, django_assert_max_num_queries
):
    set_team_quota(acme, budget_usd=Decimal("1.00"))
    set_member_quota(alice_m, budget_usd=Decimal("0.50"))
    submit(alice_m, acme_project)  # the period's first submit also creates the wallets
    with django_assert_max_num_queries(10):
        submit(alice_m, acme_project)
    assert team_wallet(acme).available == Decimal("0.98")
    assert member_wallet(alice_m).available == Decimal("0.48")
    assert_books_balance(acme)


def test_the_first_submit_of_a_period_creates_both_wallets(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("0.02"))
    submit(alice_m, acme_project)
    assert team_wallet(acme).reserved == Decimal("0.01") == member_wallet(alice_m).reserved


def test_a_refusal_by_either_wallet_takes_nothing_from_the_other(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("1.00"))
    set_member_quota(alice_m, budget_usd=Decimal("0.01"))
    submit(alice_m, acme_project)
    with pytest.raises(QuotaExceeded) as refused:
        submit(alice_m, acme_project)
    assert "Your budget" in refused.value.message
    assert team_wallet(acme).available == Decimal("0.99")  # only the first job's cent
    assert_books_balance(acme)


def test_the_query_count_does_not_depend_on_how_many_jobs_the_team_has(acme, alice_m, acme_project):
    set_team_quota(acme, budget_usd=Decimal("5.00"))
    submit(alice_m, acme_project)
    counts = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            submit(alice_m, acme_project)
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1] == counts[2] <= 10
