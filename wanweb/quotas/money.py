"""How money is written for people: one formatter for pages, the admin, CSV-adjacent text and messages."""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal("0")
SUB_CENT = Decimal("0.0001")  # the money columns keep 4 places


def format_usd(value: Decimal | int | str | None, *, pad_sub_cents: bool = False) -> str:
    """$8.12, $1,234.50, −$1.575; sub-cent amounts keep their digits ($0.0125), so shown figures add up.

    `pad_sub_cents` writes every sub-cent amount with all 4 places ($0.0050): refusal messages
    line up "budget of $0.0150 ... has $0.0050 left" that way. None is a dash.
    """
    if value is None:
        return "—"
    value = Decimal(value).quantize(SUB_CENT)
    if value == value.quantize(Decimal("0.01")):
        text = f"{abs(value):,.2f}"
    elif pad_sub_cents:
        text = f"{abs(value):,.4f}"
    else:
        whole, _, frac = f"{abs(value):,.4f}".rstrip("0").partition(".")
        text = f"{whole}.{frac.ljust(2, '0')}"
    return f"−${text}" if value < 0 else f"${text}"
