"""Reads behind the usage pages: what a team (and each member) spent and holds, from the ledger.

Every figure is a sum over `LedgerEntry` rows, so the page can be checked against the ledger:

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

import math
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.http import Http404
from django.utils import timezone

from wanweb.accounts.models import (
    LedgerEntry,
    LedgerKind,
    MemberQuota,
    Membership,
    Period,
    Team,
    TeamQuota,
    Wallet,
)
from wanweb.accounts.quotas import ZERO, period_bounds

SUB_CENT = Decimal("0.0001")
# Without a soft budget, warn once this share of the budget is used or reserved.
DEFAULT_WARN_SHARE = Decimal("0.8")


def usd(value: Decimal | None) -> str:
    """$8.12; sub-cent amounts keep their digits ($0.0125), so shown figures add up exactly."""
    if value is None:
        return "—"
    value = Decimal(value).quantize(SUB_CENT)
    text = f"{abs(value):,.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    text = f"{whole}.{frac.ljust(2, '0')}"
    return f"−${text}" if value < 0 else f"${text}"


class _Usd:
    """`{{ totals.usd.spent }}`: any Decimal field of the wrapped figures, formatted."""

    def __init__(self, figures) -> None:
        self._figures = figures

    def __getitem__(self, name: str) -> str:
        return usd(getattr(self._figures, name))

    __getattr__ = __getitem__


def _tz(team: Team) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(team.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


# ---------------------------------------------------------------------------------------------
# Periods
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


def _quota(team: Team) -> TeamQuota:
    # Read-only: a GET never creates the quota row (quotas.team_quota does).
    return TeamQuota.objects.filter(team=team).first() or TeamQuota(team=team)


def usage_periods(*, team: Team, now: datetime | None = None) -> list[UsagePeriod]:
    """The team's current period and every earlier one it has a wallet for, newest first."""
    tz = _tz(team)
    start, end = period_bounds(_quota(team).period, team.time_zone, now)
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

    @property
    def usd(self) -> _Usd:
        return _Usd(self)


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


# The chart's SVG is as wide as its card (x in %) and a fixed height (y in px), so its text
# never scales with the screen.
PLOT_TOP, PLOT_BOTTOM = 22.0, 190.0
PLOT_HEIGHT = PLOT_BOTTOM - PLOT_TOP


@dataclass
class ChartBar:
    label: str  # axis label, '' when skipped to avoid crowding
    title: str  # the full bucket name for the tooltip
    value: Decimal
    x_pct: float
    width_pct: float
    height_pct: float
    is_future: bool
    is_max: bool = False

    @property
    def center_pct(self) -> float:
        return self.x_pct + self.width_pct / 2

    @property
    def h_px(self) -> float:
        if not self.value:
            return 0.0
        return max(2.0, self.height_pct / 100 * PLOT_HEIGHT)  # the smallest spend stays visible

    @property
    def y_px(self) -> float:
        return PLOT_BOTTOM - self.h_px

    @property
    def value_usd(self) -> str:
        return usd(self.value)


@dataclass
class Chart:
    bars: list[ChartBar]
    ticks: list[tuple[float, str]]  # (y px, label)
    total: Decimal
    unit: str  # day | hour
    caption: str

    plot_top: float = PLOT_TOP
    plot_bottom: float = PLOT_BOTTOM
    plot_height: float = PLOT_HEIGHT
    height: int = int(PLOT_BOTTOM) + 28  # room for the day labels

    @property
    def total_usd(self) -> str:
        return usd(self.total)

    @property
    def nonzero(self) -> list[ChartBar]:
        return [b for b in self.bars if b.value]

    @property
    def peak(self) -> ChartBar | None:
        return next((b for b in self.bars if b.is_max), None)

    @property
    def description(self) -> str:
        peak = self.peak
        text = f"{self.caption}. Total {usd(self.total)}."
        if peak is not None:
            text += f" Highest: {usd(peak.value)} on {peak.title}."
        return text


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
    quota = _quota(team)

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
    )


def _provider_label(kind: str) -> str:
    from providers.registry import PROVIDER_LABELS

    return PROVIDER_LABELS.get(kind, kind)


# ---------------------------------------------------------------------------------------------
# The spend chart
# ---------------------------------------------------------------------------------------------


def _nice_step(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^n at or above `value`: gridlines at round amounts."""
    if value <= 0:
        return 0.25
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-9):
            return candidate
    return 10.0 ** (exponent + 1)  # pragma: no cover


def spend_chart(
    *, entries: QuerySet[LedgerEntry], period: UsagePeriod, now: datetime | None = None, max_days: int = 31
) -> Chart:
    """Gross spend per day (per hour for a daily period) in the team's time zone."""
    now = now or timezone.now()
    tz = period.tz
    settled = entries.filter(kind=LedgerKind.SETTLE)
    hourly = period.kind == Period.DAILY
    trunc = TruncHour("created_at", tzinfo=tz) if hourly else TruncDay("created_at", tzinfo=tz)
    raw = settled.annotate(bucket=trunc).values("bucket").annotate(total=Sum("amount")).order_by("bucket")
    first = period.start.astimezone(tz)
    if hourly:
        buckets = [first + timedelta(hours=h) for h in range(24)]
        buckets = [b.astimezone(tz) for b in buckets]
    else:
        first_day = first.date()
        last_day = period.last_day or now.astimezone(tz).date()
        if period.end is None:
            first_day = max(first_day, last_day - timedelta(days=max_days - 1))
        days = (last_day - first_day).days + 1
        buckets = [first_day + timedelta(days=d) for d in range(days)]

    def key_of(moment) -> object:
        local = moment.astimezone(tz) if isinstance(moment, datetime) else moment
        return (
            (local.date(), local.hour) if hourly else (local.date() if isinstance(local, datetime) else local)
        )

    keys = [key_of(b) for b in buckets]
    values: dict = {k: ZERO for k in keys}
    for row in raw:
        if row["bucket"] is None:
            continue
        k = key_of(row["bucket"])
        if k not in values:
            if period.end is None and k < keys[0]:
                continue  # a period that never resets shows its last `max_days` only
            # A job reserved in this period may settle just after it: count it on the last bar.
            k = keys[0] if k < keys[0] else keys[-1]
        values[k] += row["total"] or ZERO
    total = sum(values.values(), ZERO)

    peak_value = max(values.values(), default=ZERO)
    # Three or four gridlines at round amounts ($0.50, $1.00, ...), the top one at or above the peak.
    step = _nice_step(float(peak_value) / 4)
    ceiling = step * max(1, math.ceil(float(peak_value) / step - 1e-9))
    n = len(keys)
    slot = 100.0 / n
    label_every = 1 if n <= 8 else (3 if hourly else math.ceil(n / 8))
    now_key = key_of(now.astimezone(tz))
    bars = []
    for i, (bucket, k) in enumerate(zip(buckets, keys, strict=True)):
        value = values[k]
        if hourly:
            title = f"{bucket:%H}:00–{(bucket + timedelta(hours=1)):%H}:00"
            label = f"{bucket:%H}" if i % label_every == 0 else ""
        else:
            title = f"{bucket:%a} {bucket.day} {bucket:%b}"
            label = (f"{bucket:%a}" if n <= 7 else str(bucket.day)) if i % label_every == 0 else ""
        bars.append(
            ChartBar(
                label=label,
                title=title,
                value=value,
                x_pct=i * slot + slot * 0.15,
                width_pct=slot * 0.7,
                height_pct=float(value) / ceiling * 100 if value else 0.0,
                is_future=k > now_key,
                is_max=bool(value) and value == peak_value,
            )
        )
    # Only one peak label.
    seen = False
    for bar in bars:
        if bar.is_max:
            bar.is_max, seen = not seen, True
    count = round(ceiling / step)
    ticks = [
        (PLOT_BOTTOM - i / count * PLOT_HEIGHT, usd(Decimal(str(round(step * i, 4)))))
        for i in range(1, count + 1)
    ]
    unit = "hour" if hourly else "day"
    if hourly:
        caption = f"Spend per hour on {period.range_label}"
    elif period.end is None:
        caption = f"Spend per day, last {n} days"
    else:
        caption = f"Spend per day, {period.range_label}"
    return Chart(bars=bars, ticks=ticks, total=total, unit=unit, caption=caption)


# ---------------------------------------------------------------------------------------------
# CSV export
# ---------------------------------------------------------------------------------------------

CSV_HEADER = ["time", "kind", "amount", "user", "project", "provider", "model", "job id", "note"]
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
        )
    )
    utc = zoneinfo.ZoneInfo("UTC")
    for created_at, kind, amount, username, project, provider, model, job_id, note in rows.iterator(
        chunk_size=2000
    ):
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
    quota = _quota(team)
    start, end = period_bounds(quota.period, team.time_zone, now)
    period = UsagePeriod(start=start, end=end, tz=_tz(team), is_current=True)
    wallets = {
        w.membership_id: w
        for w in Wallet.objects.filter(
            Q(membership__isnull=True) | Q(membership=membership), team=team, period_start=start
        )
    }
    member_q = MemberQuota.objects.filter(membership=membership).first()
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
        message = f"{subject} {has} used {usd(figures.used)} of {their} {usd(figures.budget)} {adjective}budget{where}"
    else:
        message = (
            f"{subject} {has} used {usd(figures.used)}{where} this period, "
            f"above {their} {usd(figures.soft_budget)} soft budget"
        )
    message += f"; it resets {period.resets_label}." if period.resets_label else "; it does not reset."
    exhausted = figures.budget is not None and figures.used >= figures.budget
    return BudgetBanner(
        level="danger" if exhausted else "warning",
        message=message,
        key=f"{wallet.pk}-{period.key}",
    )


def budget_banner_context(request) -> dict:
    """Context processor: `budget_banners`, computed only when a template reads it."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    from django.utils.functional import SimpleLazyObject

    def compute() -> list[BudgetBanner]:
        membership = getattr(request, "membership", None)
        return budget_banners(membership=membership) if membership else []

    return {"budget_banners": SimpleLazyObject(compute)}
