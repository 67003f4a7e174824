"""Quotas and money: reserve at submit, settle or refund at the end, each exactly once.

shared/RELIABILITY.md section 3. A submit locks the team's wallet row and then the member's
(always in that order, so two submits cannot deadlock), checks every limit under those locks,
and moves the estimate from `available` to `reserved` with a conditional update that cannot
overdraw. A job's `Hold` (one per job) is closed by a conditional update on its status, so a
duplicate failure event or a racing cancel refunds once.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.db.models import Case, Exists, F, Q, When
from django.db.models.functions import Round
from django.utils import timezone

from wanweb.accounts.models import Membership, Team
from wanweb.quotas import selectors
from wanweb.quotas.models import (
    BilledTo,
    Hold,
    HoldStatus,
    LedgerEntry,
    LedgerKind,
    MemberQuota,
    TeamQuota,
    Wallet,
)
from wanweb.quotas.money import ZERO, format_usd
from wanweb.quotas.selectors import Limits


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


def wallet_current(*, team: Team, membership: Membership | None, now: datetime | None = None) -> Wallet:
    """This period's wallet of the team (membership None) or of one member, created on first use."""
    wallet = selectors.wallet_of_current_period(team=team, membership=membership, now=now)
    if wallet.pk is not None:
        return wallet
    wallet, _ = Wallet.objects.get_or_create(
        team=team,
        membership=membership,
        period_start=wallet.period_start,
        defaults={"period_end": wallet.period_end, "granted": wallet.granted, "available": wallet.available},
    )
    return wallet


def _when(moment: datetime | None, team: Team) -> str:
    if moment is None:
        return "it does not reset; ask an admin to raise it"
    tz = team.zoneinfo
    return f"it resets {moment.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key})"


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
    team, team_q, member_q = selectors.quotas_of(membership)  # one query for both quotas
    limits = selectors.limits_from(team_q, member_q)
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

    # No savepoint of its own inside the caller's transaction (job_create's: two queries saved);
    # every refusal below is raised before anything is written.
    connection = transaction.get_connection()
    with contextlib.nullcontext() if connection.in_atomic_block else transaction.atomic():
        team_wallet, member_wallet = _lock_wallets(membership, team, team_q, member_q, now)
        _check_counts(membership, job, limits, now)

        cost = Decimal(job.cost_estimate)
        _take_both(team_wallet, member_wallet, cost, team=team)
        hold = Hold.objects.create(job=job, team_wallet=team_wallet, member_wallet=member_wallet, amount=cost)
        _ledger(job, LedgerKind.RESERVE, cost, user=membership.user)
    return hold


def _lock_wallets(membership, team, team_q, member_q, now) -> tuple[Wallet, Wallet]:
    """This period's team and member wallets, locked in one query (team first: NULL membership
    sorts first), created on the period's first submit.

    The query locks nothing unless both wallets exist. A submit that held the team wallet's lock
    while it inserted the member's wallet would deadlock with one that had inserted that member
    wallet first and was waiting for the team wallet's lock (PostgreSQL reports it as a deadlock
    on `wallet_unique_period`). So the missing wallets are created holding no lock, team first,
    and only then are both locked.
    """
    start, _ = selectors.period_bounds(team_q.period, team.time_zone, now)
    this_period = Wallet.objects.filter(team=team, period_start=start)

    def locked() -> dict[int | None, Wallet]:
        rows = (
            this_period.select_for_update()
            .filter(Q(membership__isnull=True) | Q(membership=membership))
            .filter(
                Exists(this_period.filter(membership__isnull=True)),
                Exists(this_period.filter(membership=membership)),
            )
            .order_by(F("membership_id").asc(nulls_first=True))
        )
        return {wallet.membership_id: wallet for wallet in rows}

    wallets = locked()
    if not wallets:
        wallet_current(team=team, membership=None, now=now)
        wallet_current(team=team, membership=membership, now=now)
        wallets = locked()
    return wallets[None], wallets[membership.pk]


def _take_both(team_wallet: Wallet, member_wallet: Wallet, cost: Decimal, *, team: Team) -> None:
    """Move `cost` from available to reserved on both wallets in one conditional UPDATE.

    The rows are locked, so their `available` is current; the WHERE clause is the guard all the
    same (SQLite has no row locks). A refusal raises, and the caller's transaction rolls back.
    """
    pairs = ((team_wallet, "The team's budget"), (member_wallet, "Your budget"))
    for wallet, what in pairs:
        if wallet.granted is not None and wallet.available < cost:
            _refuse(wallet, cost, what=what, team=team)
    taken = (
        Wallet.objects.filter(pk__in=[team_wallet.pk, member_wallet.pk])
        .filter(Q(granted__isnull=True) | Q(available__gte=cost))
        .update(
            available=Case(
                When(granted__isnull=True, then=F("available")), default=money(F("available") - cost)
            ),
            reserved=money(F("reserved") + cost),
        )
    )
    if taken != 2:
        # Only without row locks (SQLite) can this happen, and one wallet may have been taken from.
        transaction.set_rollback(True)
        for wallet, what in pairs:
            wallet.refresh_from_db()
            if wallet.granted is not None and wallet.available < cost:
                _refuse(wallet, cost, what=what, team=team)
        raise QuotaExceeded(
            "The budget changed while this job was being reserved; try again.", limit="budget"
        )


def _refuse(wallet: Wallet, cost: Decimal, *, what: str, team: Team) -> None:
    # Padded sub-cents line the figures up: "budget of $0.0150 ... has $0.0050 left".
    usd = partial(format_usd, pad_sub_cents=True)
    left = "is used up" if wallet.available <= 0 else f"has {usd(wallet.available)} left"
    raise QuotaExceeded(
        f"{what} of {usd(wallet.granted)} for this period {left}; this job needs {usd(cost)}; "
        f"{_when(wallet.period_end, team)}.",
        limit="budget",
        resets_at=wallet.period_end,
    )


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
                tz = membership.team.zoneinfo
                when = f"a slot frees up at {resets.astimezone(tz):%H:%M} ({tz.key})"
            else:
                resets, when = None, "a slot frees up when one of them finishes"
            limit_name = "max_jobs_per_hour" if window_start is not None else "max_concurrent_jobs"
            raise QuotaExceeded(
                f"{who} can have at most {limit} {what}; {when}.", limit=limit_name, resets_at=resets
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
    # No savepoint inside the caller's transaction (the job's final status): nothing here is
    # caught and retried, so an error rolls back the whole of it either way (two queries saved).
    with transaction.atomic(savepoint=False):
        if not Hold.objects.filter(pk=hold.pk, status=HoldStatus.HELD).update(
            status=HoldStatus.SETTLED, final_amount=final, closed_at=timezone.now()
        ):
            return False
        wallets = _lock_hold_wallets(hold)
        charged = final
        for wallet in wallets:
            if wallet.granted is not None and final > hold.amount:
                charged = min(charged, hold.amount + wallet.available)
        _release(wallets, hold.amount, charged)
        note = (
            ""
            if charged == final
            else f"the vendor reported ${final}; ${final - charged} exceeded the budget"
        )
        _ledger(job, LedgerKind.SETTLE, charged, note=note)
    return True


def _lock_hold_wallets(hold: Hold) -> list[Wallet]:
    """The hold's wallets, locked in one query team first (NULL membership sorts first: the same
    order as a reserve's _lock_wallets, so no deadlock)."""
    wallets = list(
        Wallet.objects.select_for_update()
        .filter(pk__in=[hold.team_wallet_id, hold.member_wallet_id])
        .order_by(F("membership_id").asc(nulls_first=True))
    )
    if len(wallets) != 2:  # the foreign keys protect both rows: this is a broken database
        raise Wallet.DoesNotExist(f"hold {hold.pk} is missing a wallet")
    return wallets


def _release(wallets: list[Wallet], held: Decimal, charged: Decimal) -> None:
    """Move a hold out of `reserved` on the (locked) wallets in one UPDATE: `charged` to spent, the
    rest back to available (a wallet without a budget keeps `available` as it is)."""
    Wallet.objects.filter(pk__in=[wallet.pk for wallet in wallets]).update(
        reserved=money(F("reserved") - held),
        spent=money(F("spent") + charged),
        available=Case(
            When(granted__isnull=True, then=money(F("available"))),
            default=money(F("available") + (held - charged)),
        ),
    )


def quota_refund(*, job, reason: str = "") -> bool:
    """Give the whole hold back (failed or canceled job); once."""
    hold = Hold.objects.filter(job=job).first()
    if hold is None:
        return False
    with transaction.atomic(savepoint=False):  # as in quota_settle
        if not Hold.objects.filter(pk=hold.pk, status=HoldStatus.HELD).update(
            status=HoldStatus.REFUNDED, final_amount=ZERO, closed_at=timezone.now()
        ):
            return False
        _release(_lock_hold_wallets(hold), hold.amount, ZERO)
        _ledger(job, LedgerKind.REFUND, hold.amount, note=reason[:300])
    return True


def _billed_to(job) -> str:
    """Whose vendor account the job runs on: the team's own key, the operator's, or none (simulator)."""
    if job.credential_id:
        return BilledTo.TEAM
    return "" if job.provider == "simulator" else BilledTo.OPERATOR


def _ledger(job, kind: str, amount: Decimal, *, user=None, note: str = "") -> None:
    LedgerEntry.objects.create(
        team_id=job.team_id,
        user_id=user.pk if user is not None else job.created_by_id,  # no query for the job's creator
        job=job,
        project_id=job.project_id,
        provider=job.provider,
        model=job.model,
        billed_to=_billed_to(job),
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
    quota = selectors.team_quota(team)
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


def team_freeze(*, team: Team, frozen: bool) -> bool:
    """Freeze (no new jobs start) or unfreeze a team; False when it already was."""
    quota, _ = TeamQuota.objects.get_or_create(team=team)
    return bool(TeamQuota.objects.filter(pk=quota.pk).exclude(frozen=frozen).update(frozen=frozen))
