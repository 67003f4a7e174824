"""Quotas and money: reserve at submit, settle or refund at the end, each exactly once.

shared/RELIABILITY.md section 3. A submit locks the team's wallet row and then the member's
(always in that order, so two submits cannot deadlock), checks every limit under those locks,
and moves the estimate from `available` to `reserved` with a conditional update that cannot
overdraw. A job's `Hold` (one per job) is closed by a conditional update on its status, so a
duplicate failure event or a racing cancel refunds once.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Round
from django.utils import timezone

from wanweb.accounts.models import (
    Hold,
    HoldStatus,
    LedgerEntry,
    LedgerKind,
    MemberQuota,
    Membership,
    Period,
    PriceOverride,
    Team,
    TeamQuota,
    Wallet,
)

ZERO = Decimal("0")


def money(expression):
    """Round a money expression to the column's 4 places.

    SQLite computes F() arithmetic on decimal columns in floating point: without this,
    0.05 - 4 x 0.01 leaves 0.009999999999999997 and a $0.01 job is refused with "$0.01 left".
    """
    return Round(expression, 4)


class QuotaExceeded(Exception):
    """A submit refused by a limit. The message names the limit and when it resets."""

    def __init__(self, message: str, *, limit: str, resets_at: datetime | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.limit = limit
        self.resets_at = resets_at


# ---------------------------------------------------------------------------------------------
# Periods
# ---------------------------------------------------------------------------------------------

EPOCH = datetime(2000, 1, 1, tzinfo=zoneinfo.ZoneInfo("UTC"))


def period_bounds(period: str, tz_name: str, now: datetime | None = None) -> tuple[datetime, datetime | None]:
    """The current period's start and end, at midnight in the team's time zone."""
    now = now or timezone.now()
    try:
        tz = zoneinfo.ZoneInfo(tz_name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    local = now.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == Period.DAILY:
        start, end = midnight, midnight + timedelta(days=1)
    elif period == Period.WEEKLY:
        start = midnight - timedelta(days=midnight.weekday())
        end = start + timedelta(days=7)
    elif period == Period.MONTHLY:
        start = midnight.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        return EPOCH, None
    # Re-localise: across a DST change the naive arithmetic above keeps wall-clock midnight.
    start = start.replace(tzinfo=None).replace(tzinfo=tz)
    end = end.replace(tzinfo=None).replace(tzinfo=tz)
    return start, end


def team_quota(team: Team) -> TeamQuota:
    quota, _ = TeamQuota.objects.get_or_create(team=team)
    return quota


def _budget_for(team_q: TeamQuota, member_q: MemberQuota | None, *, member: bool) -> Decimal | None:
    if not member:
        return team_q.budget_usd
    return member_q.budget_usd if member_q else None


def wallet_current(*, team: Team, membership: Membership | None, now: datetime | None = None) -> Wallet:
    """This period's wallet of the team (membership None) or of one member, created on first use."""
    quota = team_quota(team)
    start, end = period_bounds(quota.period, team.time_zone, now)
    member_q = MemberQuota.objects.filter(membership=membership).first() if membership else None
    granted = _budget_for(quota, member_q, member=membership is not None)
    wallet, _ = Wallet.objects.get_or_create(
        team=team,
        membership=membership,
        period_start=start,
        defaults={"period_end": end, "granted": granted, "available": granted or ZERO},
    )
    return wallet


# ---------------------------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------------------------


@dataclass
class Limits:
    """The limits that apply to one member: the team's, made stricter by the member's own."""

    max_concurrent_team: int | None
    max_concurrent_member: int | None
    per_hour_team: int | None
    per_hour_member: int | None
    providers: set[str] | None
    models: set[str] | None
    max_video_seconds: int | None
    frozen: bool


def _stricter(a, b):
    values = [v for v in (a, b) if v is not None]
    return min(values) if values else None


def _allowed(a: list, b: list) -> set[str] | None:
    sets = [set(x) for x in (a, b) if x]
    if not sets:
        return None
    return set.intersection(*sets)


def limits_for(membership: Membership) -> Limits:
    team_q = team_quota(membership.team)
    member_q = MemberQuota.objects.filter(membership=membership).first()
    m = member_q or MemberQuota()
    return Limits(
        max_concurrent_team=team_q.max_concurrent_jobs,
        max_concurrent_member=_stricter(team_q.max_concurrent_jobs, m.max_concurrent_jobs),
        per_hour_team=team_q.max_jobs_per_hour,
        per_hour_member=_stricter(team_q.max_jobs_per_hour, m.max_jobs_per_hour),
        providers=_allowed(team_q.allowed_providers, m.allowed_providers),
        models=_allowed(team_q.allowed_models, m.allowed_models),
        max_video_seconds=_stricter(team_q.max_video_seconds, m.max_video_seconds),
        frozen=team_q.frozen,
    )


def _when(moment: datetime | None, team: Team) -> str:
    if moment is None:
        return "it does not reset; ask an admin to raise it"
    tz = _team_tz(team)
    return f"it resets {moment.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})"


def usd(amount: Decimal) -> str:
    """$1.50, or $0.0050 when cents alone would hide what is there."""
    amount = Decimal(amount)
    return f"${amount:.2f}" if amount == amount.quantize(Decimal("0.01")) else f"${amount:.4f}"


def _team_tz(team: Team) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(team.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def price_overrides() -> dict[str, Decimal]:
    return dict(PriceOverride.objects.values_list("key", "usd"))


# ---------------------------------------------------------------------------------------------
# Reserve, settle, refund
# ---------------------------------------------------------------------------------------------


def quota_reserve(
    *, membership: Membership, job, video_seconds: float | None, now: datetime | None = None
) -> Hold:
    """Check every limit and reserve `job.cost_estimate` for team and member, atomically.

    Call inside the transaction that creates the job: QuotaExceeded rolls it all back.
    """
    now = now or timezone.now()
    team = membership.team
    limits = limits_for(membership)
    if limits.frozen:
        raise QuotaExceeded("This team is frozen: no new jobs can start. Ask an owner.", limit="frozen")
    if limits.providers is not None and job.provider not in limits.providers:
        allowed = ", ".join(sorted(limits.providers)) or "none"
        raise QuotaExceeded(
            f"Your quota does not allow {job.provider}. Allowed providers: {allowed}.", limit="providers"
        )
    if limits.models is not None and job.model not in limits.models:
        raise QuotaExceeded(f"Your quota does not allow the model {job.model}.", limit="models")
    if limits.max_video_seconds is not None and video_seconds and video_seconds > limits.max_video_seconds:
        raise QuotaExceeded(
            f"Videos are capped at {limits.max_video_seconds} s per job; this one asks for {video_seconds:g} s.",
            limit="max_video_seconds",
        )

    with transaction.atomic():
        team_wallet = wallet_current(team=team, membership=None, now=now)
        member_wallet = wallet_current(team=team, membership=membership, now=now)
        # Fixed order, team first: every submit of this team queues on the same row.
        team_wallet = Wallet.objects.select_for_update().get(pk=team_wallet.pk)
        member_wallet = Wallet.objects.select_for_update().get(pk=member_wallet.pk)
        _check_counts(membership, job, limits, now)

        cost = Decimal(job.cost_estimate)
        _take(team_wallet, cost, what="The team's budget", team=team)
        _take(member_wallet, cost, what="Your budget", team=team)
        hold = Hold.objects.create(job=job, team_wallet=team_wallet, member_wallet=member_wallet, amount=cost)
        _ledger(job, LedgerKind.RESERVE, cost, user=membership.user)
    return hold


def _check_counts(membership: Membership, job, limits: Limits, now: datetime) -> None:
    from generations.models import ACTIVE_STATUSES, Job

    others = Job.objects.exclude(pk=job.pk)
    team_jobs = others.filter(team=membership.team)
    member_jobs = team_jobs.filter(created_by=membership.user)
    hour_ago = now - timedelta(hours=1)
    checks = [
        (
            limits.max_concurrent_team,
            team_jobs.filter(status__in=ACTIVE_STATUSES),
            "The team",
            "jobs running at once",
            None,
        ),
        (
            limits.max_concurrent_member,
            member_jobs.filter(status__in=ACTIVE_STATUSES),
            "You",
            "jobs running at once",
            None,
        ),
        (
            limits.per_hour_team,
            team_jobs.filter(created_at__gte=hour_ago),
            "The team",
            "jobs per hour",
            hour_ago,
        ),
        (
            limits.per_hour_member,
            member_jobs.filter(created_at__gte=hour_ago),
            "You",
            "jobs per hour",
            hour_ago,
        ),
    ]
    for limit, queryset, who, what, window_start in checks:
        if limit is None:
            continue
        if queryset.count() >= limit:
            if window_start is not None:
                oldest = queryset.order_by("created_at").values_list("created_at", flat=True).first()
                resets = (oldest or now) + timedelta(hours=1)
                tz = _team_tz(membership.team)
                when = f"a slot frees up at {resets.astimezone(tz):%H:%M} ({tz.key})"
            else:
                resets, when = None, "a slot frees up when one of them finishes"
            limit_name = "max_jobs_per_hour" if window_start is not None else "max_concurrent_jobs"
            raise QuotaExceeded(
                f"{who} can have at most {limit} {what}; {when}.", limit=limit_name, resets_at=resets
            )


def _take(wallet: Wallet, cost: Decimal, *, what: str, team: Team) -> None:
    if wallet.granted is None:
        Wallet.objects.filter(pk=wallet.pk).update(reserved=money(F("reserved") + cost))
        return
    # The conditional update is the guard: it cannot take more than is available.
    taken = Wallet.objects.filter(pk=wallet.pk, available__gte=cost).update(
        available=money(F("available") - cost), reserved=money(F("reserved") + cost)
    )
    if not taken:
        wallet.refresh_from_db()
        left = "is used up" if wallet.available <= 0 else f"has {usd(wallet.available)} left"
        raise QuotaExceeded(
            f"{what} of {usd(wallet.granted)} for this period {left}; this job needs {usd(cost)}; "
            f"{_when(wallet.period_end, team)}.",
            limit="budget",
            resets_at=wallet.period_end,
        )


def quota_settle(*, job, amount: Decimal | None = None) -> bool:
    """Charge the job's final cost (the hold amount unless the vendor reported another); once.

    Both wallets are charged the same amount. When the vendor charged more than the hold, the
    difference is taken only as far as both budgets have it left (never overdrawn); the ledger
    notes what could not be charged.
    """
    hold = Hold.objects.filter(job=job).first()
    if hold is None:
        return False
    final = hold.amount if amount is None else Decimal(amount)
    with transaction.atomic():
        if not Hold.objects.filter(pk=hold.pk, status=HoldStatus.HELD).update(
            status=HoldStatus.SETTLED, final_amount=final, closed_at=timezone.now()
        ):
            return False
        wallets = _lock_hold_wallets(hold)
        charged = final
        for wallet in wallets:
            if wallet.granted is not None and final > hold.amount:
                charged = min(charged, hold.amount + wallet.available)
        for wallet in wallets:
            _release(wallet, hold.amount, charged)
        note = (
            ""
            if charged == final
            else f"the vendor reported ${final}; ${final - charged} exceeded the budget"
        )
        _ledger(job, LedgerKind.SETTLE, charged, note=note)
    return True


def _lock_hold_wallets(hold: Hold) -> list[Wallet]:
    """The hold's wallets, locked team first (the same order as a reserve, so no deadlock)."""
    team = Wallet.objects.select_for_update().get(pk=hold.team_wallet_id)
    member = Wallet.objects.select_for_update().get(pk=hold.member_wallet_id)
    return [team, member]


def _release(wallet: Wallet, held: Decimal, charged: Decimal) -> None:
    """Move a hold out of `reserved`: `charged` to spent, the rest back to available."""
    Wallet.objects.filter(pk=wallet.pk).update(
        reserved=money(F("reserved") - held),
        spent=money(F("spent") + charged),
        available=money(F("available") + (held - charged if wallet.granted is not None else ZERO)),
    )


def quota_refund(*, job, reason: str = "") -> bool:
    """Give the whole hold back (failed or canceled job); once."""
    hold = Hold.objects.filter(job=job).first()
    if hold is None:
        return False
    with transaction.atomic():
        if not Hold.objects.filter(pk=hold.pk, status=HoldStatus.HELD).update(
            status=HoldStatus.REFUNDED, final_amount=ZERO, closed_at=timezone.now()
        ):
            return False
        for wallet in _lock_hold_wallets(hold):
            _release(wallet, hold.amount, ZERO)
        _ledger(job, LedgerKind.REFUND, hold.amount, note=reason[:300])
    return True


def _ledger(job, kind: str, amount: Decimal, *, user=None, note: str = "") -> None:
    LedgerEntry.objects.create(
        team_id=job.team_id,
        user=user or job.created_by,
        job=job,
        project_id=job.project_id,
        provider=job.provider,
        model=job.model,
        kind=kind,
        amount=amount,
        note=note,
    )


# ---------------------------------------------------------------------------------------------
# Admin operations
# ---------------------------------------------------------------------------------------------


def wallet_set_budget(*, wallet: Wallet, budget: Decimal | None, actor=None) -> Wallet:
    """Apply a new budget to a wallet of the current period, keeping granted = available + reserved + spent."""
    with transaction.atomic():
        wallet = Wallet.objects.select_for_update().get(pk=wallet.pk)
        target = None if budget is None else budget + wallet.topped_up
        if target == wallet.granted:
            return wallet
        before = wallet.granted
        if budget is None:
            wallet.granted, wallet.available = None, ZERO
        else:
            # This period's top-ups stay on top of whatever the budget becomes.
            wallet.available = max(ZERO, budget + wallet.topped_up - wallet.reserved - wallet.spent)
            wallet.granted = wallet.available + wallet.reserved + wallet.spent
        wallet.save(update_fields=["granted", "available"])
        LedgerEntry.objects.create(
            team_id=wallet.team_id,
            user=actor,
            kind=LedgerKind.ADJUST,
            amount=(wallet.granted or ZERO) - (before or ZERO),
            note=f"budget {'none' if before is None else f'${before}'} -> {'none' if budget is None else f'${budget}'}"
            + ("" if wallet.membership_id is None else f" for {wallet.membership.user}"),
        )
    return wallet


def quota_budget_changed(*, team: Team, actor=None) -> None:
    """After an admin edits budgets: bring this period's wallets of the team in line."""
    quota = team_quota(team)
    team_wallet = wallet_current(team=team, membership=None)
    wallet_set_budget(wallet=team_wallet, budget=quota.budget_usd, actor=actor)
    budgets = dict(
        MemberQuota.objects.filter(membership__team=team).values_list("membership_id", "budget_usd")
    )
    # Every member wallet of this period, including members whose override was just deleted.
    member_ids = set(budgets) | set(
        Wallet.objects.filter(
            team=team, period_start=team_wallet.period_start, membership__isnull=False
        ).values_list("membership_id", flat=True)
    )
    for membership in Membership.objects.filter(pk__in=member_ids).select_related("user", "team"):
        wallet = wallet_current(team=team, membership=membership)
        wallet_set_budget(wallet=wallet, budget=budgets.get(membership.pk), actor=actor)


def wallet_top_up(*, team: Team, amount: Decimal, actor=None) -> Wallet:
    """Add money to the team's current period (on top of its budget)."""
    with transaction.atomic():
        wallet = Wallet.objects.select_for_update().get(pk=wallet_current(team=team, membership=None).pk)
        if wallet.granted is None:
            return wallet  # no budget: nothing to top up
        Wallet.objects.filter(pk=wallet.pk).update(
            granted=money(F("granted") + amount),
            available=money(F("available") + amount),
            topped_up=money(F("topped_up") + amount),
        )
        LedgerEntry.objects.create(
            team=team, user=actor, kind=LedgerKind.TOP_UP, amount=amount, note="admin top-up"
        )
    wallet.refresh_from_db()
    return wallet


def wallet_reset_period(*, team: Team, actor=None) -> None:
    """Start the period over: this period's spending no longer counts against the budgets."""
    with transaction.atomic():
        wallets = Wallet.objects.select_for_update().filter(
            team=team, period_start=wallet_current(team=team, membership=None).period_start
        )
        for wallet in wallets.order_by("membership_id", "pk"):
            spent = wallet.spent
            if not spent:
                continue
            Wallet.objects.filter(pk=wallet.pk).update(
                spent=ZERO, available=money(F("available") + (spent if wallet.granted is not None else ZERO))
            )
            LedgerEntry.objects.create(
                team=team,
                user=actor,
                kind=LedgerKind.RESET,
                amount=-spent,
                note="period reset"
                + ("" if wallet.membership_id is None else f" for {wallet.membership.user}"),
            )
