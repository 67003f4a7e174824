"""How a job reads to a person: parameter labels, error labels. Pure functions over one row."""

from __future__ import annotations

import json
from typing import Any

from providers import catalog
from providers.base import ErrorCode, RequestValidationError

# What each typed error code (providers/base.py) means to the person who asked for the job.
ERROR_LABELS: dict[str, str] = {
    ErrorCode.TIMEOUT: "The vendor did not answer in time",
    ErrorCode.CONNECTION: "Could not reach the vendor",
    ErrorCode.RATE_LIMITED: "The vendor was too busy",
    ErrorCode.SERVER_ERROR: "The vendor had an internal error",
    ErrorCode.BAD_RESPONSE: "The vendor sent an unreadable answer",
    ErrorCode.UNKNOWN_STATUS: "The vendor reported a status we do not know",
    ErrorCode.AUTH: "The vendor refused our API key",
    ErrorCode.INVALID_REQUEST: "The vendor rejected the settings",
    ErrorCode.CONTENT_POLICY: "Blocked by the content filter",
    ErrorCode.NOT_FOUND: "The vendor lost the job",
    ErrorCode.VENDOR_FAILED: "The vendor could not make it",
    ErrorCode.RESULT_MISSING: "Finished without a result",
    ErrorCode.RESULT_EXPIRED: "The result expired before it was saved",
    ErrorCode.DOWNLOAD_REFUSED: "The result could not be downloaded safely",
    ErrorCode.TOO_LARGE: "The result was too large to store",
    ErrorCode.CANCELED: "Canceled",
    ErrorCode.NOT_CONFIGURED: "This vendor is not set up here",
}

# Labels for the normalised names (shared/DESIGN.md) when the job's model left the catalog.
PARAM_LABELS: dict[str, str] = {
    "negative_prompt": "Negative prompt",
    "seed": "Seed",
    "size": "Size",
    "aspect_ratio": "Aspect ratio",
    "resolution": "Resolution",
    "duration": "Duration",
    "audio": "Audio",
    "multi_shot": "Multi-shot",
    "prompt_expansion": "Prompt expansion",
    "safety_checker": "Safety checker",
    "watermark": "Watermark",
    "num_outputs": "Number of outputs",
    "loras": "LoRAs",
    "strength": "Strength",
    "num_frames": "Frames",
    "fps": "Frames per second",
}
UNITS = {"duration": "s"}
SIMULATOR_ONLY_PREFIX = "sim_"


def error_label(code: str) -> str:
    return ERROR_LABELS.get(code, "Failed")


def _spec(job) -> catalog.ModelSpec | None:
    try:
        spec = catalog.get_model(job.provider, job.model, job.mode)
    except (RequestValidationError, ValueError, KeyError):
        return None
    return spec if spec.model_id == job.model else None


def _value_text(name: str, value: Any, unit: str) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "On" if value else "Off"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": ")) if value else "—"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if name == "size" and isinstance(value, str):
        value = value.replace("x", "×").replace("*", "×")
    return f"{value} {unit}" if unit else str(value)


def param_rows(job) -> list[tuple[str, str]]:
    """(label, value) for each stored parameter, in the catalog's field order; simulator knobs only on simulator jobs."""
    spec = _spec(job)
    params = {
        name: value
        for name, value in (job.params or {}).items()
        if job.provider == catalog.SIMULATOR or not name.startswith(SIMULATOR_ONLY_PREFIX)
    }
    order = [f.name for f in spec.fields] if spec else []
    names = [n for n in order if n in params] + [n for n in params if n not in order]
    rows = []
    for name in names:
        field = spec.field(name) if spec else None
        label = field.label if field else PARAM_LABELS.get(name, name.replace("_", " ").capitalize())
        unit = (field.unit if field else "") or UNITS.get(name, "")
        rows.append((label, _value_text(name, params[name], unit)))
    return rows


def card_facts(job) -> list[tuple[str, str]]:
    """(label, value) of the few parameters a card has room for: length, resolution or size, aspect, count."""
    params = job.params or {}
    spec = _spec(job)
    facts = []
    for name in ("duration", "resolution", "size", "aspect_ratio", "num_outputs"):
        value = params.get(name)
        if value in (None, "") or (name == "num_outputs" and value == 1):
            continue
        if name == "duration" and not job.makes_video:
            continue
        field = spec.field(name) if spec else None
        label = field.label if field else PARAM_LABELS[name]
        unit = (field.unit if field else "") or UNITS.get(name, "")
        facts.append((label, _value_text(name, value, unit)))
    return facts
