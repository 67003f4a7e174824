"""Pictures of money: the usage page's spend chart (an inline SVG's geometry) and the admin's usage bars."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone
from django.utils.html import format_html

from wanweb.quotas.models import LedgerEntry, LedgerKind, Period, Wallet
from wanweb.quotas.money import ZERO, format_usd

if TYPE_CHECKING:
    from wanweb.quotas.selectors import UsagePeriod

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
    def nonzero(self) -> list[ChartBar]:
        return [b for b in self.bars if b.value]

    @property
    def peak(self) -> ChartBar | None:
        return next((b for b in self.bars if b.is_max), None)

    @property
    def description(self) -> str:
        peak = self.peak
        text = f"{self.caption}. Total {format_usd(self.total)}."
        if peak is not None:
            text += f" Highest: {format_usd(peak.value)} on {peak.title}."
        return text


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
        (PLOT_BOTTOM - i / count * PLOT_HEIGHT, format_usd(Decimal(str(round(step * i, 4)))))
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
# The admin's usage bars
# ---------------------------------------------------------------------------------------------

SPENT_COLOUR = "#2f6fb0"
RESERVED_COLOUR = "#e0a526"
TRACK_COLOUR = "#dde3ea"


def usage_bar(
    *, granted: Decimal | None, spent: Decimal, reserved: Decimal, unlimited: str = "no budget"
) -> str:
    """A small stacked bar (spent, reserved, remaining of the budget) and the numbers under it."""
    spent, reserved = spent or ZERO, reserved or ZERO
    if granted is None:
        return format_html(
            '<span class="usage usage-unlimited" style="font-size:.85em;white-space:nowrap">'
            '{} · <b>{}</b> spent · <span style="color:#9a6b00">{}</span> reserved</span>',
            unlimited,
            format_usd(spent),
            format_usd(reserved),
        )
    remaining = max(ZERO, granted - spent - reserved)
    if granted > 0:
        spent_pct = min(Decimal(100), spent * 100 / granted)
        reserved_pct = min(Decimal(100) - spent_pct, reserved * 100 / granted)
    else:
        spent_pct, reserved_pct = (Decimal(100), ZERO) if spent or reserved else (ZERO, ZERO)
    return format_html(
        '<div class="usage" title="{spent} spent, {reserved} reserved, {remaining} left of {granted}">'
        '<div role="img" aria-label="{used_pct}% of the budget used" style="display:flex;width:10em;'
        'height:.55em;border-radius:.3em;overflow:hidden;background:{track};margin:.2em 0">'
        '<span style="width:{spent_pct}%;background:{spent_colour}"></span>'
        '<span style="width:{reserved_pct}%;background:{reserved_colour}"></span></div>'
        '<span style="font-size:.85em;white-space:nowrap"><b>{spent}</b> spent'
        "{reserved_part} · {remaining} left of <b>{granted}</b></span></div>",
        spent=format_usd(spent),
        reserved=format_usd(reserved),
        reserved_part=format_html(' · <span style="color:#9a6b00">{} reserved</span>', format_usd(reserved))
        if reserved
        else "",
        remaining=format_usd(remaining),
        granted=format_usd(granted),
        used_pct=f"{spent_pct + reserved_pct:.0f}",
        spent_pct=f"{spent_pct:.2f}",
        reserved_pct=f"{reserved_pct:.2f}",
        track=TRACK_COLOUR,
        spent_colour=SPENT_COLOUR,
        reserved_colour=RESERVED_COLOUR,
    )


def wallet_bar(wallet: Wallet) -> str:
    unlimited = "team's budget" if wallet.membership_id else "no budget"
    return usage_bar(
        granted=wallet.granted, spent=wallet.spent, reserved=wallet.reserved, unlimited=unlimited
    )
