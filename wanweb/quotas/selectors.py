"""Reads about money: quotas and periods, the limits that apply to a member, and the usage pages'
figures, all from the ledger and the wallets. Nothing here writes.

Every usage figure is a sum over `LedgerEntry` rows, so the page can be checked against the ledger:

- spent (gross) = the period's SETTLE entries: what jobs really cost;
- spent (counted) = gross + the period's RESET entries (negative): what counts against a budget,
  equal to `Wallet.spent`;
- reserved = RESERVE entries of jobs with no SETTLE or REFUND yet, equal to `Wallet.reserved`;
- remaining = budget - counted - reserved, equal to `Wallet.available` (the budget itself comes
  from the wallet: a period's opening grant is not a ledger entry; top-ups and changes are).

A job's entries belong to the period of its hold's wallet, not to the day they were written: a job
reserved on the 30th and settled on the 1st was charged to the old period, and so is its SETTLE.
Entries without a job (top-ups, budget changes, resets, jobs since deleted) go by their time.
"""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from wanweb.accounts.models import Membership, Team, zone_or_utc
from wanweb.quotas.charts import Chart, spend_chart
from wanweb.quotas.models import (
    BilledTo,
    LedgerEntry,
    LedgerKind,
    MemberQuota,
    Period,
    PriceOverride,
    TeamQuota,
    Wallet,
)
from wanweb.quotas.money import ZERO, format_usd

# ---------------------------------------------------------------------------------------------
# Periods
# ---------------------------------------------------------------------------------------------

EPOCH = datetime(2000, 1, 1, tzinfo=zoneinfo.ZoneInfo("UTC"))


def period_bounds(period: str, tz_name: str, now: datetime | None = None) -> tuple[datetime, datetime | None]:
    """The current period's start and end, at midnight in the team's time zone."""
    now = now or timezone.now()
    tz = zone_or_utc(tz_name)
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
    """The team's quota, or an unsaved unlimited default (monthly, no budget): reading never creates."""
    # A query, not `team.quota`: the reverse accessor caches, and a long-lived Team would keep
    # reading limits an admin has since changed.
    return TeamQuota.objects.filter(team=team).first() or TeamQuota(team=team)


def member_quota(membership: Membership) -> MemberQuota | None:
    """The member's own limits within the team, if an admin set any."""
    return MemberQuota.objects.filter(membership=membership).first()


def wallet_of_current_period(
    *, team: Team, membership: Membership | None, now: datetime | None = None
) -> Wallet:
    """This period's wallet of the team (membership None) or of one member.

    An unsaved one, carrying the budget it would open with, when none exists yet: pages and the
    admin read it, `services.wallet_current` saves it.
    """
    quota = team_quota(team)
    start, end = period_bounds(quota.period, team.time_zone, now)
    wallet = Wallet.objects.filter(team=team, membership=membership, period_start=start).first()
    if wallet is not None:
        return wallet
    if membership is None:
        granted = quota.budget_usd
    else:
        own = member_quota(membership)
        granted = own.budget_usd if own else None
    return Wallet(
        team=team,
        membership=membership,
        period_start=start,
        period_end=end,
        granted=granted,
        available=granted or ZERO,
    )


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


def quotas_of(membership: Membership) -> tuple[Team, TeamQuota, MemberQuota | None]:
    """The member's team (fresh), the team's quota (an unsaved default if none) and the member's
    own quota, in one query: what a submit reads before it locks the wallets."""
    from django.core.exceptions import ObjectDoesNotExist

    fresh = Membership.objects.select_related("team__quota", "quota").get(pk=membership.pk)
    try:
        team_q = fresh.team.quota
    except ObjectDoesNotExist:
        team_q = TeamQuota(team=fresh.team)
    try:
        member_q = fresh.quota
    except ObjectDoesNotExist:
        member_q = None
    return fresh.team, team_q, member_q


def limits_for(membership: Membership) -> Limits:
    return limits_from(team_quota(membership.team), member_quota(membership))


def limits_from(team_q: TeamQuota, member_q: MemberQuota | None) -> Limits:
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


# The limits an admin can set, by kind: numbers (at most the team's) and lists (a subset of the team's).
LIMIT_FIELDS = ["budget_usd", "max_concurrent_jobs", "max_jobs_per_hour", "max_video_seconds"]
LIST_FIELDS = {"allowed_providers": "providers", "allowed_models": "models"}


def member_quotas_looser_than_team(team: Team) -> list[str]:
    """Members whose override is no longer stricter than the team's limits (after a team edit)."""
    team_q = team_quota(team)
    found = []
    for member_q in MemberQuota.objects.filter(membership__team=team).select_related("membership__user"):
        for field in LIMIT_FIELDS:
            mine, theirs = getattr(member_q, field), getattr(team_q, field)
            if mine is not None and theirs is not None and mine > theirs:
                found.append(f"{member_q.membership.user} ({TeamQuota._meta.get_field(field).verbose_name})")
        for field in LIST_FIELDS:
            theirs = set(getattr(team_q, field) or [])
            if theirs and set(getattr(member_q, field) or []) - theirs:
                found.append(f"{member_q.membership.user} ({field.replace('_', ' ')})")
    return found


def team_limits_summary(team: Team) -> str:
    """One line of the team's limits, for the admin's member pages."""
    team_q = team_quota(team)
    if team_q.pk is None:
        return "no limits"
    parts = [
        f"budget {format_usd(team_q.budget_usd)} {team_q.get_period_display().lower()}"
        if team_q.budget_usd is not None
        else "no budget",
        f"{team_q.max_concurrent_jobs} jobs at once" if team_q.max_concurrent_jobs else "",
        f"{team_q.max_jobs_per_hour} jobs/h" if team_q.max_jobs_per_hour else "",
        f"videos ≤ {team_q.max_video_seconds} s" if team_q.max_video_seconds else "",
        f"providers {', '.join(team_q.allowed_providers)}" if team_q.allowed_providers else "",
        f"models {', '.join(team_q.allowed_models)}" if team_q.allowed_models else "",
        "FROZEN" if team_q.frozen else "",
    ]
    return "; ".join(p for p in parts if p)


def price_overrides() -> dict[str, Decimal]:
    """The admins' prices by catalog price key (what estimates use instead of the defaults)."""
    return dict(PriceOverride.objects.values_list("key", "usd"))


# Without a soft budget, warn once this share of the budget is used or reserved.
DEFAULT_WARN_SHARE = Decimal("0.8")


# ---------------------------------------------------------------------------------------------
# Usage periods: the current one and every earlier one with a wallet
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsagePeriod:
    start: datetime
    end: datetime | None
    tz: zoneinfo.ZoneInfo
    is_current: bool

    @property
    def key(self) -> str:
        """The `?period=` value: the start's date in the team's time zone."""
        return self.start.astimezone(self.tz).date().isoformat()

    @property
    def kind(self) -> str:
        # From the bounds, not the team's current setting: old periods keep their own length.
        if self.end is None:
            return Period.NONE
        days = (self.end - self.start) / timedelta(days=1)
        if days < 1.5:
            return Period.DAILY
        if days < 7.5:
            return Period.WEEKLY
        return Period.MONTHLY

    @property
    def adjective(self) -> str:
        return "" if self.kind == Period.NONE else str(Period(self.kind).label).lower()

    @property
    def label(self) -> str:
        local = self.start.astimezone(self.tz)
        if self.kind == Period.NONE:
            return "All time"
        if self.kind == Period.DAILY:
            return f"{local:%a} {local.day} {local:%b %Y}"
        if self.kind == Period.WEEKLY:
            return f"Week of {local.day} {local:%b %Y}"
        return f"{local:%B %Y}"

    @property
    def last_day(self) -> date | None:
        if self.end is None:
            return None
        return (self.end.astimezone(self.tz) - timedelta(microseconds=1)).date()

    @property
    def range_label(self) -> str:
        """1 – 30 Nov 2025, or 'since 1 Jan 2000' for a period that never resets."""
        first = self.start.astimezone(self.tz).date()
        last = self.last_day
        if last is None:
            return "no reset"
        if first == last:
            return f"{first.day} {first:%b %Y}"
        if (first.year, first.month) == (last.year, last.month):
            return f"{first.day} – {last.day} {last:%b %Y}"
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"

    @property
    def resets_label(self) -> str:
        """'1 Dec 00:00 Europe/Paris', or '' when the period never resets."""
        if self.end is None:
            return ""
        local = self.end.astimezone(self.tz)
        return f"{local.day} {local:%b %H:%M} {self.tz.key}"


def usage_periods(*, team: Team, now: datetime | None = None) -> list[UsagePeriod]:
    """The team's current period and every earlier one it has a wallet for, newest first."""
    tz = team.zoneinfo
    start, end = period_bounds(team_quota(team).period, team.time_zone, now)
    periods = {start: UsagePeriod(start=start, end=end, tz=tz, is_current=True)}
    for p_start, p_end in Wallet.objects.filter(team=team, membership__isnull=True).values_list(
        "period_start", "period_end"
    ):
        periods.setdefault(p_start, UsagePeriod(start=p_start, end=p_end, tz=tz, is_current=False))
    return sorted(periods.values(), key=lambda p: p.start, reverse=True)


def usage_period_get(*, team: Team, key: str | None, now: datetime | None = None) -> UsagePeriod:
    """The period whose `key` is given (the current one when empty); Http404 for any other."""
    periods = usage_periods(team=team, now=now)
    if not key:
        return next(p for p in periods if p.is_current)
    for period in periods:
        if period.key == key:
            return period
    raise Http404("No such period")


def _in_period(period: UsagePeriod) -> Q:
    by_time = Q(created_at__gte=period.start)
    if period.end is not None:
        by_time &= Q(created_at__lt=period.end)
    # Job entries follow their hold's wallet; the rest (and jobs since deleted) go by time.
    return Q(job__hold__team_wallet__period_start=period.start) | (Q(job__hold__isnull=True) & by_time)


def ledger_for_period(*, team: Team, period: UsagePeriod | None = None) -> QuerySet[LedgerEntry]:
    """The team's ledger entries, those of one period when given. Never another team's."""
    entries = LedgerEntry.objects.filter(team=team)
    if period is not None:
        entries = entries.filter(_in_period(period))
    return entries


# Resets and budget changes of a member's wallet name the member in their note (quotas.py).
_FOR_MEMBER = re.compile(r" for (?P<username>\S+)$")


def _wallet_owner(note: str) -> str | None:
    """The username a wallet-level entry is about, or None for the team's wallet."""
    match = _FOR_MEMBER.search(note or "")
    return match.group("username") if match else None


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """One wallet's period in money: the team's, a member's, or a row of a breakdown."""

    spent_gross: Decimal = ZERO  # SETTLE entries: what the jobs cost
    reset: Decimal = ZERO  # RESET entries (<= 0): spending an admin wiped off the budget
    reserved: Decimal = ZERO  # RESERVE entries of jobs still running
    jobs: int = 0  # jobs settled
    budget: Decimal | None = None  # the wallet's grant, top-ups included; None: no budget
    soft_budget: Decimal | None = None
    top_ups: Decimal = ZERO  # TOP_UP entries (part of `budget`)

    @property
    def spent(self) -> Decimal:
        """What counts against the budget: `Wallet.spent`."""
        return self.spent_gross + self.reset

    @property
    def used(self) -> Decimal:
        return self.spent + self.reserved

    @property
    def remaining(self) -> Decimal | None:
        """`Wallet.available`; None without a budget."""
        return None if self.budget is None else self.budget - self.used

    @property
    def warn_at(self) -> Decimal | None:
        if self.soft_budget is not None:
            return self.soft_budget
        return None if self.budget is None else self.budget * DEFAULT_WARN_SHARE

    def _pct(self, value: Decimal | None) -> float:
        if not self.budget or value is None:
            return 0.0
        return max(0.0, min(100.0, float(value / self.budget * 100)))

    @property
    def spent_pct(self) -> float:
        return self._pct(self.spent)

    @property
    def reserved_pct(self) -> float:
        return min(self._pct(self.reserved), 100.0 - self.spent_pct)

    @property
    def used_pct(self) -> float:
        return self._pct(self.used)

    @property
    def soft_pct(self) -> float | None:
        return self._pct(self.soft_budget) if self.soft_budget is not None and self.budget else None


@dataclass
class BreakdownRow:
    key: str
    label: str
    figures: Figures
    share_pct: float = 0.0  # of the team's gross spend
    url: str = ""


@dataclass
class MemberRow:
    membership: Membership
    figures: Figures
    share_pct: float = 0.0


@dataclass
class Usage:
    team: Team
    period: UsagePeriod
    totals: Figures
    members: list[MemberRow]
    by_model: list[BreakdownRow]
    by_provider: list[BreakdownRow]
    by_project: list[BreakdownRow]
    chart: Chart
    by_billing: list[BreakdownRow] = dataclasses.field(
        default_factory=list
    )  # team's own keys vs the operator's
    wallet: Wallet | None = None

    @property
    def has_activity(self) -> bool:
        return bool(self.totals.spent_gross or self.totals.reserved or self.totals.jobs)


def _held(entries: QuerySet[LedgerEntry]) -> QuerySet[LedgerEntry]:
    """RESERVE entries whose job has neither SETTLE nor REFUND: the money still on hold."""
    closed = entries.filter(kind__in=[LedgerKind.SETTLE, LedgerKind.REFUND], job__isnull=False).values(
        "job_id"
    )
    # A deleted job's entries lose their job; only finished jobs can be deleted, so they are closed.
    return entries.filter(kind=LedgerKind.RESERVE, job__isnull=False).exclude(job_id__in=closed)


def _group(entries: QuerySet[LedgerEntry], field_name: str) -> dict:
    """{value of field: Figures} with gross spend, jobs and reserved per value."""
    groups: dict = defaultdict(Figures)
    settled = (
        entries.filter(kind=LedgerKind.SETTLE)
        .values(field_name)
        .annotate(total=Sum("amount"), jobs=Count("job", distinct=True))
        .order_by()
    )
    for row in settled:
        figures = groups[row[field_name]]
        figures.spent_gross, figures.jobs = row["total"] or ZERO, row["jobs"]
    for row in _held(entries).values(field_name).annotate(total=Sum("amount")).order_by():
        groups[row[field_name]].reserved = row["total"] or ZERO
    return groups


def _breakdown(groups: dict, labels, total_gross: Decimal, url=None) -> list[BreakdownRow]:
    rows = [
        BreakdownRow(
            key=str(key),
            label=labels(key),
            figures=figures,
            share_pct=float(figures.spent_gross / total_gross * 100) if total_gross else 0.0,
            url=url(key) if url else "",
        )
        for key, figures in groups.items()
    ]
    rows.sort(key=lambda r: (-r.figures.spent_gross, -r.figures.reserved, r.label))
    return rows


def usage_for_team(
    *, team: Team, period: UsagePeriod, members: list[Membership] | None = None, now: datetime | None = None
) -> Usage:
    """Team totals, per-member rows (only `members` when given), breakdowns and the chart."""
    from django.urls import reverse

    from generations.models import Project

    entries = ledger_for_period(team=team, period=period)
    wallets = {
        w.membership_id: w
        for w in Wallet.objects.filter(team=team, period_start=period.start).select_related(
            "membership__user"
        )
    }
    quota = team_quota(team)

    # Team totals in one aggregate over the period.
    sums = entries.aggregate(
        gross=Sum("amount", filter=Q(kind=LedgerKind.SETTLE)),
        jobs=Count("job", filter=Q(kind=LedgerKind.SETTLE), distinct=True),
        top_ups=Sum("amount", filter=Q(kind=LedgerKind.TOP_UP)),
    )
    held_total = _held(entries).aggregate(total=Sum("amount"))["total"] or ZERO
    resets: dict[str | None, Decimal] = defaultdict(lambda: ZERO)
    for note, amount in entries.filter(kind=LedgerKind.RESET).values_list("note", "amount"):
        resets[_wallet_owner(note)] += amount
    team_wallet = wallets.get(None)
    totals = Figures(
        spent_gross=sums["gross"] or ZERO,
        reset=resets[None],
        reserved=held_total,
        jobs=sums["jobs"] or 0,
        budget=team_wallet.granted if team_wallet else (quota.budget_usd if period.is_current else None),
        # Soft budgets are not kept per period: show today's only on today's period.
        soft_budget=quota.soft_budget_usd if period.is_current else None,
        top_ups=sums["top_ups"] or ZERO,
    )

    # Members: spend and holds by the entry's user (the job's creator, whose wallet held it).
    by_user = _group(entries.filter(job__isnull=False), "user_id")
    if members is None:
        members = list(team.memberships.select_related("user").order_by("user__username"))
    member_quotas = {
        q.membership_id: q for q in MemberQuota.objects.filter(membership__in=[m.pk for m in members])
    }
    member_rows = []
    for membership in members:
        figures = by_user.get(membership.user_id, Figures())
        wallet = wallets.get(membership.pk)
        member_q = member_quotas.get(membership.pk)
        figures.reset = resets[membership.user.username]
        if wallet is not None:
            figures.budget = wallet.granted
        elif member_q is not None and period.is_current:
            figures.budget = member_q.budget_usd
        figures.soft_budget = member_q.soft_budget_usd if member_q and period.is_current else None
        share = float(figures.spent_gross / totals.spent_gross * 100) if totals.spent_gross else 0.0
        member_rows.append(MemberRow(membership=membership, figures=figures, share_pct=share))

    projects = _group(entries, "project_id")
    names = dict(Project.objects.filter(pk__in=[k for k in projects if k]).values_list("pk", "name"))
    public_ids = dict(Project.objects.filter(pk__in=names).values_list("pk", "public_id"))
    return Usage(
        team=team,
        period=period,
        totals=totals,
        members=member_rows,
        by_model=_breakdown(_group(entries.exclude(model=""), "model"), lambda k: k, totals.spent_gross),
        by_provider=_breakdown(
            _group(entries.exclude(provider=""), "provider"), _provider_label, totals.spent_gross
        ),
        by_project=_breakdown(
            projects,
            lambda k: names.get(k, "Deleted project"),
            totals.spent_gross,
            url=lambda k: (
                reverse("generations:project-detail", args=[public_ids[k]]) if k in public_ids else ""
            ),
        ),
        chart=spend_chart(entries=entries, period=period, now=now),
        wallet=team_wallet,
        by_billing=_breakdown(
            _group(entries.exclude(billed_to=""), "billed_to"),
            lambda k: BilledTo(k).label if k in BilledTo.values else k,
            totals.spent_gross,
        ),
    )


def _provider_label(kind: str) -> str:
    from providers.registry import PROVIDER_LABELS

    return PROVIDER_LABELS.get(kind, kind)


# ---------------------------------------------------------------------------------------------
# CSV export
# ---------------------------------------------------------------------------------------------

CSV_HEADER = ["time", "kind", "amount", "user", "project", "provider", "model", "job id", "note", "billed to"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str | None) -> str:
    # Spreadsheets run cells that start like a formula: a project named "=HYPERLINK(...)" must not.
    text = text or ""
    return "'" + text if text.startswith(_FORMULA_START) else text


def ledger_csv_rows(*, team: Team, period: UsagePeriod | None = None) -> Iterator[list[str]]:
    """The header, then one row per ledger entry of the team (and period), oldest first, streamed."""
    yield CSV_HEADER
    rows = (
        ledger_for_period(team=team, period=period)
        .order_by("created_at", "id")
        .values_list(
            "created_at",
            "kind",
            "amount",
            "user__username",
            "project__name",
            "provider",
            "model",
            "job__public_id",
            "note",
            "billed_to",
        )
    )
    utc = zoneinfo.ZoneInfo("UTC")
    for (
        created_at,
        kind,
        amount,
        username,
        project,
        provider,
        model,
        job_id,
        note,
        billed_to,
    ) in rows.iterator(chunk_size=2000):
        yield [
            created_at.astimezone(utc).isoformat(),
            kind,
            f"{amount:.4f}",
            _cell(username),
            _cell(project),
            _cell(provider),
            _cell(model),
            str(job_id) if job_id else "",
            _cell(note),
            billed_to,  # team (its own key) | operator | empty (no vendor: simulator, top-ups)
        ]


# ---------------------------------------------------------------------------------------------
# Soft-budget banners
# ---------------------------------------------------------------------------------------------


@dataclass
class BudgetBanner:
    level: str  # warning | danger
    message: str
    key: str = ""  # stable per wallet and period: a hook for remembering a dismissal


def budget_banners(*, membership: Membership, now: datetime | None = None) -> list[BudgetBanner]:
    """Warnings for the current period: the team's, then the member's own, past their soft budget.

    Uses the wallet rows (which the ledger reconciles with) and writes nothing.
    """
    team = membership.team
    quota = team_quota(team)
    start, end = period_bounds(quota.period, team.time_zone, now)
    period = UsagePeriod(start=start, end=end, tz=team.zoneinfo, is_current=True)
    wallets = {
        w.membership_id: w
        for w in Wallet.objects.filter(
            Q(membership__isnull=True) | Q(membership=membership), team=team, period_start=start
        )
    }
    member_q = member_quota(membership)
    banners = []
    for who, wallet, soft in (
        ("team", wallets.get(None), quota.soft_budget_usd),
        ("member", wallets.get(membership.pk), member_q.soft_budget_usd if member_q else None),
    ):
        if wallet is None:
            continue
        figures = Figures(
            spent_gross=wallet.spent, reserved=wallet.reserved, budget=wallet.granted, soft_budget=soft
        )
        if figures.warn_at is None or figures.used < figures.warn_at or not figures.used:
            continue
        banners.append(_banner(who=who, team=team, period=period, figures=figures, wallet=wallet))
    return banners


def _banner(*, who: str, team: Team, period: UsagePeriod, figures: Figures, wallet: Wallet) -> BudgetBanner:
    subject, their = (team.name, "its") if who == "team" else ("You", "your")
    has = "has" if who == "team" else "have"
    where = "" if who == "team" else f" in {team.name}"
    adjective = f"{period.adjective} " if period.adjective else ""
    if figures.budget is not None:
        message = f"{subject} {has} used {format_usd(figures.used)} of {their} {format_usd(figures.budget)} {adjective}budget{where}"
    else:
        message = (
            f"{subject} {has} used {format_usd(figures.used)}{where} this period, "
            f"above {their} {format_usd(figures.soft_budget)} soft budget"
        )
    message += f"; it resets {period.resets_label}." if period.resets_label else "; it does not reset."
    exhausted = figures.budget is not None and figures.used >= figures.budget
    return BudgetBanner(
        level="danger" if exhausted else "warning",
        message=message,
        key=f"{wallet.pk}-{period.key}",
    )
