"""Markdown for docs/PROVIDERS.md, generated from the catalog.

python -m providers.docs > docs/PROVIDERS.md
"""

from __future__ import annotations

import sys
from decimal import Decimal

from providers.base import MODE_LABELS, Mode
from providers.catalog import (
    MB,
    PROVIDER_ORDER,
    FieldSpec,
    MediaSlot,
    ModelSpec,
    PriceRule,
    all_models,
    number_text,
)
from providers.registry import PROVIDER_LABELS

HOW_TO_ADD = """\
## How to add a model

1. Read the vendor's notes in `shared/providers/<vendor>.md` (or the vendor's API page) for the
   model id, its mode, every input field with type, choices, range and default, and the input
   media limits (formats, pixels per side, bytes, seconds, fps).
2. Add one `ModelSpec` to `providers/catalog_data/<vendor>.py` (one per mode when one id serves
   several modes). Use the helpers in `providers/catalog_data/common.py` (`duration(...)`,
   `resolution(...)`, `first_frame(...)`, `audio()`, `per_second({...})` ...) and the normalised
   names of shared/DESIGN.md; a field only this vendor has keeps the vendor's own name.
   Put the preferred model of a mode first: `default_model` picks it.
3. Mark what the notes flag as unsure: `unconfirmed=True` on a field, a sentence in the entry's
   `unconfirmed`. Give a price rule; say in its `note` where the figures come from.
4. Teach the vendor client any new field name or value format it must translate.
5. Run `.venv/bin/pytest tests/providers/test_catalog.py` (it checks every entry is consistent)
   and regenerate this page: `.venv/bin/python -m providers.docs > docs/PROVIDERS.md`.
"""


def _usd(amount: Decimal) -> str:
    return f"${amount}"


def price_text(rule: PriceRule) -> str:
    parts: list[str] = []
    if rule.per_image is not None:
        parts.append(f"{_usd(rule.per_image)} per image")
    for tier, usd in rule.per_second:
        parts.append(f"{_usd(usd)}/s" + ("" if tier == "*" else f" at {tier}"))
    for tier, usd in rule.per_video:
        parts.append(f"{_usd(usd)} per video" + ("" if tier == "*" else f" at {tier}"))
    if rule.audio_per_second is not None:
        parts.append(f"+{_usd(rule.audio_per_second)}/s with audio")
    text = ", ".join(parts) or "free"
    return f"{text}. {rule.note}" if rule.note else text


def _number(value: float | None, unit: str = "") -> str:
    return "" if value is None else f"{number_text(value)}{unit}"


def _allowed(field: FieldSpec) -> str:
    if field.choices:
        return ", ".join(f"`{c}`" for c in field.choices)
    if field.size_limits is not None:
        limits = field.size_limits
        parts = [f"`WxH`, sides {limits.min_side}-{limits.max_side} px"]
        if limits.min_pixels or limits.max_pixels:
            parts.append(f"{limits.min_pixels or 0}-{limits.max_pixels or 'any'} pixels")
        if limits.max_ratio:
            parts.append(f"ratio up to {limits.max_ratio:g}:1")
        if limits.multiple_of:
            parts.append(f"multiples of {limits.multiple_of}")
        return "; ".join(parts)
    if field.type == "str" and field.max is not None:
        return f"up to {field.max:g} characters"
    if field.type == "json" and field.max is not None:
        return f"JSON list, up to {field.max:g} items"
    if field.min is not None or field.max is not None:
        text = f"{_number(field.min, field.unit)}-{_number(field.max, field.unit)}"
        return text + (f", multiple of {field.multiple_of}" if field.multiple_of else "")
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _field_row(field: FieldSpec) -> str:
    default = (
        ""
        if field.default is None
        else f"`{str(field.default).lower() if field.type == 'bool' else field.default}`"
    )
    flags = [word for word, on in (("required", field.required), ("advanced", field.advanced)) if on]
    if field.unconfirmed:
        flags.append("unconfirmed")
    notes = " ".join(filter(None, [field.help, f"({', '.join(flags)})" if flags else ""]))
    return f"| `{field.name}` | {field.type} | {default} | {_cell(_allowed(field))} | {_cell(notes)} |"


def _slot_limits(slot: MediaSlot) -> str:
    parts = []
    if slot.formats:
        parts.append("/".join(f.upper() for f in slot.formats))
    if slot.max_bytes:
        parts.append(f"<= {slot.max_bytes / MB:g} MB")
    if slot.min_px or slot.max_px:
        parts.append(f"{slot.min_px or 1}-{slot.max_px or 'any'} px per side")
    if slot.min_seconds is not None or slot.max_seconds is not None:
        parts.append(f"{_number(slot.min_seconds) or '0'}-{_number(slot.max_seconds) or 'any'} s")
    if slot.min_fps:
        parts.append(f">= {slot.min_fps:g} fps")
    if slot.no_alpha:
        parts.append("no alpha")
    return ", ".join(parts)


def model_section(spec: ModelSpec) -> list[str]:
    mode = f"`{spec.mode.value}` ({MODE_LABELS[spec.mode]})"
    facts = [mode, f"Wan {spec.family}"]
    if spec.variant:
        facts.append(spec.variant)
    facts.append("synchronous" if spec.sync else "queued")
    facts.append(f"makes {spec.outputs}")
    prompt = "required" if spec.prompt_required else "optional"
    if spec.prompt_max_chars:
        prompt += f", up to {spec.prompt_max_chars} characters"
    lines = [
        f"### {spec.title}: `{spec.model_id}` ({spec.mode.value})",
        "",
        "- " + " · ".join(facts),
        f"- Prompt: {prompt}",
        f"- Price: {price_text(spec.price)}",
    ]
    if spec.reference_count:
        low, high = spec.reference_count
        lines.append(f"- References: {low}-{high} files over all media slots together")
    lines += [f"- {note}" for note in spec.notes]
    if spec.fields:
        lines += ["", "| parameter | type | default | allowed | notes |", "|---|---|---|---|---|"]
        lines += [_field_row(field) for field in spec.fields]
    if spec.media:
        lines += ["", "| media slot | kind | count | limits | notes |", "|---|---|---|---|---|"]
        for slot in spec.media:
            lines.append(
                f"| `{slot.name}` | {slot.kind} | {slot.min_count}-{slot.max_count} | "
                f"{_cell(_slot_limits(slot))} | {_cell(slot.label + (': ' + slot.help if slot.help else ''))} |"
            )
    if spec.unconfirmed:
        lines += ["", "Unconfirmed:"] + [f"- {note}" for note in spec.unconfirmed]
    lines.append("")
    return lines


def render() -> str:
    specs = all_models()
    lines = [
        "# Providers and models",
        "",
        "Generated from `providers/catalog.py` by `python -m providers.docs`; do not edit by hand.",
        "",
        "Parameters use the normalised names of shared/DESIGN.md (`size` is `WxH`, `resolution` `720p`,",
        "`duration` whole seconds, booleans true/false); each vendor client translates them. A `size`,",
        "`aspect_ratio` or `resolution` the model does not list is mapped to the nearest one it takes.",
        "Prices are USD defaults for the cost estimate and quota holds; admins can override them per",
        "model and unit (`providers.catalog.price_key`). Most are estimates: the vendor notes publish none.",
        "",
        "## Models by mode",
        "",
        "| provider | " + " | ".join(m.value for m in Mode) + " |",
        "|---|" + "---|" * len(Mode),
    ]
    for provider in PROVIDER_ORDER:
        cells = []
        for mode in Mode:
            ids = [f"`{s.model_id}`" for s in specs if s.provider == provider and s.mode == mode]
            cells.append("<br>".join(ids) or "–")
        lines.append(f"| {PROVIDER_LABELS.get(provider, provider)} | " + " | ".join(cells) + " |")
    lines.append("")
    for provider in PROVIDER_ORDER:
        lines += [f"## {PROVIDER_LABELS.get(provider, provider)} (`{provider}`)", ""]
        for spec in specs:
            if spec.provider == provider:
                lines += model_section(spec)
    lines.append(HOW_TO_ADD)
    return "\n".join(lines)


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
