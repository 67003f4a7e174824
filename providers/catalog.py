"""The Wan model catalog: what each (provider, model id, mode) accepts, its media limits and its price.

Forms, request validation, the cost estimate and docs/PROVIDERS.md are all generated from these
entries, so adding a model is adding one `ModelSpec` to `providers/catalog_data/<vendor>.py`.
The entries follow shared/providers/<vendor>.md; what those files mark [?] is listed in
`ModelSpec.unconfirmed` (and `FieldSpec.unconfirmed` for a single field).

Parameters always use the normalised names of shared/DESIGN.md (`size` is `WxH`, `resolution` is
`720p`, `duration` is int seconds, ...). Vendor clients translate names and formats (`1280*720`,
`"5"`, `720P`) when they build the vendor's body.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from providers.base import GenerationRequest, MediaInput, Mode, RequestValidationError

FIELD_TYPES = ("str", "int", "float", "bool", "enum", "json")
MEDIA_KINDS = ("image", "video", "audio")
PROVIDER_ORDER = ("simulator", "fal", "dashscope", "aimlapi", "apimart", "lumenfall")
SIMULATOR = "simulator"
SIMULATOR_MODEL = "wan-sim"
MB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# The entries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeLimits:
    """Bounds for a free-form `size` (`WxH`) field; sizes from a fixed list use `FieldSpec.choices`."""

    min_side: int
    max_side: int
    min_pixels: int | None = None
    max_pixels: int | None = None
    max_ratio: float | None = None  # long side / short side, e.g. 4 for 1:4..4:1
    multiple_of: int | None = None


@dataclass(frozen=True)
class FieldSpec:
    """One parameter a model takes: the normalised name, or the vendor's own for vendor-only fields.

    A default of None means "not sent unless the user gives it": the vendor decides.
    `choices` restricts str/enum values and also int values (durations like 5/10/15).
    For `str` fields `min`/`max` bound the length; for `json` fields `max` bounds the list length.
    """

    name: str
    type: str  # one of FIELD_TYPES
    label: str
    help: str = ""
    default: Any = None
    choices: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    required: bool = False
    unconfirmed: bool = False
    advanced: bool = False
    unit: str = ""  # shown after numbers in messages and docs: "s", "px"
    multiple_of: int | None = None
    size_limits: SizeLimits | None = None


@dataclass(frozen=True)
class MediaSlot:
    """An input file slot (`image`, `end_image`, `video`, `audio`) and the limits a file in it must meet."""

    name: str
    kind: str  # "image" | "video" | "audio"
    label: str
    min_count: int = 0
    max_count: int = 1
    formats: tuple[str, ...] = ()  # MediaInfo.format values; empty means any
    max_bytes: int | None = None
    min_px: int | None = None  # per side
    max_px: int | None = None
    min_seconds: float | None = None
    max_seconds: float | None = None
    min_fps: float | None = None
    no_alpha: bool = False
    help: str = ""

    @property
    def required(self) -> bool:
        return self.min_count > 0


@dataclass(frozen=True)
class PriceRule:
    """How much one job costs in USD, from its parameters.

    Images: `per_image` x num_outputs. Video: `per_second[tier]` x output seconds, or a flat
    `per_video[tier]` when the vendor charges per clip; the tier is the resolution (`720p`) or `*`
    for any. Output seconds come from `duration`, else `num_frames / fps`, else `default_seconds`.
    """

    per_image: Decimal | None = None
    per_second: tuple[tuple[str, Decimal], ...] = ()
    per_video: tuple[tuple[str, Decimal], ...] = ()
    audio_per_second: Decimal | None = None  # surcharge while `audio` is on, where a vendor documents one
    default_seconds: int = 5
    note: str = ""
    estimate: bool = True  # True unless the vendor file publishes the price

    def rates(self) -> dict[str, Decimal]:
        """Unit -> USD: `image`, `second:<tier>`, `video:<tier>`, `audio-second`."""
        rates: dict[str, Decimal] = {}
        if self.per_image is not None:
            rates["image"] = self.per_image
        for tier, usd in self.per_second:
            rates[f"second:{tier}"] = usd
        for tier, usd in self.per_video:
            rates[f"video:{tier}"] = usd
        if self.audio_per_second is not None:
            rates["audio-second"] = self.audio_per_second
        return rates


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry, keyed by (provider, model_id, mode)."""

    provider: str
    model_id: str
    mode: Mode
    title: str
    family: str  # "2.6", "2.5", "2.2"
    price: PriceRule
    variant: str = ""  # speed/variant note: "flash", "turbo", "LoRA", "preview"
    fields: tuple[FieldSpec, ...] = ()
    media: tuple[MediaSlot, ...] = ()
    prompt_required: bool = True
    prompt_max_chars: int | None = None
    unconfirmed: tuple[str, ...] = ()
    sync: bool = False  # the vendor answers the submit with the finished result
    reference_count: tuple[int, int] | None = None  # (min, max) files over all media slots together
    notes: tuple[str, ...] = ()  # how to use it: prompt reference syntax, which field wins

    @property
    def key(self) -> tuple[str, str, Mode]:
        return (self.provider, self.model_id, self.mode)

    @property
    def outputs(self) -> str:
        return "video" if self.mode.makes_video else "image"

    @property
    def negative_prompt_max_chars(self) -> int | None:
        negative = self.field("negative_prompt")
        return None if negative is None or negative.max is None else int(negative.max)

    @property
    def price_note(self) -> str:
        return self.price.note

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def slot(self, name: str) -> MediaSlot | None:
        return next((s for s in self.media if s.name == name), None)

    def defaults(self) -> dict[str, Any]:
        """The parameters sent when the user gives none: every field with a default."""
        return {f.name: f.default for f in self.fields if f.default is not None}


# --------------------------------------------------------------------------------------------
# Lookups
# --------------------------------------------------------------------------------------------


@functools.cache
def _index() -> dict[tuple[str, str, Mode], ModelSpec]:
    # Imported here: the data modules import the dataclasses above.
    from providers.catalog_data import ALL_MODELS

    index: dict[tuple[str, str, Mode], ModelSpec] = {}
    for spec in ALL_MODELS:
        if spec.key in index:
            raise ValueError(f"duplicate catalog entry {spec.key}")
        index[spec.key] = spec
    return index


def all_models() -> list[ModelSpec]:
    """Every entry, providers in PROVIDER_ORDER, each vendor's preferred model first per mode."""
    return list(_index().values())


def models_for(provider: str, mode: Mode | str | None = None) -> list[ModelSpec]:
    """The entries of one provider, optionally of one mode; empty for an unknown provider."""
    wanted = _parse_mode(mode) if mode else None
    return [s for s in all_models() if s.provider == provider and (wanted is None or s.mode == wanted)]


def default_model(provider: str, mode: Mode | str) -> ModelSpec:
    """The provider's preferred model for a mode (the first listed); RequestValidationError if none."""
    wanted = _parse_mode(mode)
    _check_provider(provider)
    specs = models_for(provider, wanted)
    if not specs:
        raise RequestValidationError(
            {"mode": [f"{_provider_label(provider)} has no model for {wanted.value}."]}
        )
    return specs[0]


def get_model(provider: str, model_id: str | None, mode: Mode | str | None = None) -> ModelSpec:
    """The entry for (provider, model id, mode).

    `mode` is needed only where one model id serves several modes (Lumenfall's `wan-2.6`); when
    given for a single-mode model it must match. An empty model id picks `default_model` (the
    simulator's `--model` may be left out). Raises RequestValidationError naming what is unknown.
    """
    _check_provider(provider)
    wanted = _parse_mode(mode) if mode else None
    if not model_id:
        if wanted is None:
            raise RequestValidationError({"model": ["Choose a model (or a mode to get the default model)."]})
        return default_model(provider, wanted)
    specs = [s for s in models_for(provider) if s.model_id == model_id]
    if not specs:
        known = ", ".join(sorted({s.model_id for s in models_for(provider)}))
        raise RequestValidationError(
            {"model": [f"{_provider_label(provider)} has no model {model_id!r}. Known models: {known}."]}
        )
    served = ", ".join(s.mode.value for s in specs)
    if wanted is None:
        if len(specs) > 1:
            raise RequestValidationError(
                {"mode": [f"{model_id} serves several modes ({served}); choose one with mode."]}
            )
        return specs[0]
    for spec in specs:
        if spec.mode == wanted:
            return spec
    raise RequestValidationError({"mode": [f"{model_id} does not do {wanted.value}; it does {served}."]})


def _check_provider(provider: str) -> None:
    if provider not in {s.provider for s in all_models()}:
        raise RequestValidationError(
            {"provider": [f"Unknown provider {provider!r}. Known providers: {', '.join(PROVIDER_ORDER)}."]}
        )


def _parse_mode(mode: Mode | str) -> Mode:
    try:
        return Mode(str(mode).strip().lower())
    except ValueError:
        known = ", ".join(m.value for m in Mode)
        raise RequestValidationError({"mode": [f"Unknown mode {mode!r}. Modes: {known}."]}) from None


def _provider_label(provider: str) -> str:
    # registry.py is plain Python too; its labels keep messages consistent with the UI.
    from providers.registry import PROVIDER_LABELS

    return PROVIDER_LABELS.get(provider, provider)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


class _Errors:
    """Collects every problem so the user sees them all at once."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    def __contains__(self, name: str) -> bool:
        return name in self.by_field


def validate_request(request: GenerationRequest) -> GenerationRequest:
    """Check a request against its catalog entry before any network call; return a cleaned copy.

    The copy has the entry's model id and mode, and params coerced to their types (form and CLI
    strings like "true", "5", "16:9" are accepted), defaults filled in, and `size` /
    `aspect_ratio` / `resolution` mapped to the nearest value the model takes (see
    `_map_geometry`). Unknown params, bad values, a missing or too long prompt and media that
    break a slot's limits are all collected into one RequestValidationError({field: [messages]});
    media problems are keyed by slot name, a total-references problem by `__all__`.
    """
    spec = get_model(request.provider, request.model, request.mode or None)
    errors = _Errors()
    _check_prompt(spec, request.prompt, errors)
    params = _clean_params(spec, request.params or {}, errors)
    _check_media(spec, request.inputs or [], errors)
    if errors.by_field:
        raise RequestValidationError(errors.by_field)
    return dataclasses.replace(
        request, model=spec.model_id, mode=spec.mode, params=params, inputs=list(request.inputs or [])
    )


def clean_params(spec: ModelSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Only the parameter part of `validate_request`: coerce, fill defaults, map geometry.

    For a live cost estimate while a form is half filled (no prompt or media checks).
    """
    errors = _Errors()
    cleaned = _clean_params(spec, params, errors)
    if errors.by_field:
        raise RequestValidationError(errors.by_field)
    return cleaned


def _check_prompt(spec: ModelSpec, prompt: Any, errors: _Errors) -> None:
    text = prompt if isinstance(prompt, str) else ""
    if spec.prompt_required and not text.strip():
        errors.add("prompt", "A prompt is required for this model.")
    if spec.prompt_max_chars is not None and len(text) > spec.prompt_max_chars:
        errors.add(
            "prompt", f"Prompt is {len(text)} characters; this model takes at most {spec.prompt_max_chars}."
        )


def _is_blank(value: Any) -> bool:
    # Forms send "" for an optional field left empty: that means "not given", not an empty value.
    return value is None or (isinstance(value, str) and not value.strip())


def _clean_params(spec: ModelSpec, raw: Mapping[Any, Any], errors: _Errors) -> dict[str, Any]:
    given: dict[str, Any] = {}
    for name, value in raw.items():
        if not isinstance(name, str):
            errors.add("__all__", f"Parameter names must be text (got {name!r:.40}).")
        elif not _is_blank(value):
            given[name] = value
    given = _map_geometry(spec, given, errors)
    cleaned: dict[str, Any] = {}
    for name, value in given.items():
        fs = spec.field(name)
        if fs is None:
            errors.add(name, f"{spec.title} does not take {name!r}.")
            continue
        try:
            cleaned[name] = _coerce(fs, value)
        except ValueError as exc:
            errors.add(name, str(exc))
    for fs in spec.fields:
        if fs.name in cleaned or fs.name in errors:
            continue
        if fs.required:
            errors.add(fs.name, f"{fs.label} is required.")
        elif fs.default is not None:
            cleaned[fs.name] = fs.default
    return cleaned


# ---- value coercion -------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_INT_TEXT = re.compile(r"[+-]?\d{1,19}(\.0*)?")


def _coerce(fs: FieldSpec, value: Any) -> Any:
    """The value as the field's type, checked against its choices and ranges; ValueError says why."""
    converted = _CONVERTERS[fs.type](fs, value)
    _check_bounds(fs, converted)
    return converted


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _to_bool(fs: FieldSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{fs.label} must be true or false (got {_show(value)}).")


def _to_int(fs: FieldSpec, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip().split(".")[0])
    raise ValueError(f"{fs.label} must be a whole number (got {_show(value)}).")


def _to_float(fs: FieldSpec, value: Any) -> float:
    number: float | None = None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, OverflowError):
            number = None
    if number is None or not math.isfinite(number):
        raise ValueError(f"{fs.label} must be a number (got {_show(value)}).")
    return number


def _to_str(fs: FieldSpec, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{fs.label} must be text (got {_show(value)}).")


def _to_enum(fs: FieldSpec, value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        wanted = str(value).strip().lower()
        for choice in fs.choices:
            if str(choice).lower() == wanted:
                return choice
    raise ValueError(f"{fs.label} must be one of {_choices_text(fs)} (got {_show(value)}).")


def _to_json(fs: FieldSpec, value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise ValueError(f"{fs.label} must be JSON (a list), e.g. [].") from None
    if not isinstance(value, list | dict):
        raise ValueError(f"{fs.label} must be a JSON list (got {_show(value)}).")
    if fs.name == "loras":
        _check_loras(fs, value)
    return value


def _check_loras(fs: FieldSpec, value: Any) -> None:
    # fal's LoRAWeight: {path* (URL or HF repo), weight_name?, scale=1, transformer: high|low|both}.
    if not isinstance(value, list):
        raise ValueError(f'{fs.label} must be a JSON list of {{"path": ..., "scale": ...}} objects.')
    for number, item in enumerate(value, 1):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"].strip():
            raise ValueError(f'{fs.label} item {number} needs a "path" (a URL or Hugging Face repo).')
        scale = item.get("scale", 1)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale):
            raise ValueError(f'{fs.label} item {number} has a "scale" that is not a number.')
        if item.get("transformer", "high") not in ("high", "low", "both"):
            raise ValueError(f'{fs.label} item {number}: "transformer" must be high, low or both.')


_CONVERTERS = {
    "bool": _to_bool,
    "int": _to_int,
    "float": _to_float,
    "str": _to_str,
    "enum": _to_enum,
    "json": _to_json,
}


def _choices_text(fs: FieldSpec) -> str:
    return ", ".join(f"{c}{fs.unit}" for c in fs.choices)


def number_text(value: float, unit: str = "") -> str:
    """A number as people write it: 2147483647 (not 2.14748e+09), 3.5, 5."""
    if isinstance(value, int) or value.is_integer():
        text = str(int(value))
        return f"{text if len(text) <= 20 else text[:17] + '...'}{unit}"
    return f"{value:g}{unit}"


def _check_bounds(fs: FieldSpec, value: Any) -> None:
    if fs.type in ("int", "float"):
        if fs.choices and value not in fs.choices:
            raise ValueError(
                f"{fs.label} must be one of {_choices_text(fs)} (got {number_text(value, fs.unit)})."
            )
        if fs.min is not None and value < fs.min:
            raise ValueError(
                f"{fs.label} is {number_text(value, fs.unit)}; this model takes at least "
                f"{number_text(fs.min, fs.unit)}."
            )
        if fs.max is not None and value > fs.max:
            raise ValueError(
                f"{fs.label} is {number_text(value, fs.unit)}; this model takes at most "
                f"{number_text(fs.max, fs.unit)}."
            )
        if fs.multiple_of and value % fs.multiple_of:
            raise ValueError(f"{fs.label} must be a multiple of {fs.multiple_of} (got {number_text(value)}).")
    elif fs.type == "str":
        if fs.choices and value not in fs.choices:
            raise ValueError(f"{fs.label} must be one of {_choices_text(fs)} (got {_show(value)}).")
        if fs.max is not None and len(value) > fs.max:
            raise ValueError(
                f"{fs.label} is {len(value)} characters; this model takes at most {number_text(fs.max)}."
            )
        if fs.min is not None and len(value) < fs.min:
            raise ValueError(
                f"{fs.label} is {len(value)} characters; this model needs at least {number_text(fs.min)}."
            )
        if fs.size_limits is not None:
            _check_size(fs, value)
    elif fs.type == "json" and fs.max is not None and isinstance(value, list) and len(value) > fs.max:
        raise ValueError(
            f"{fs.label} has {len(value)} items; this model takes at most {number_text(fs.max)}."
        )


def _check_size(fs: FieldSpec, value: str) -> None:
    limits = fs.size_limits
    assert limits is not None
    parsed = _parse_size(value)
    if parsed is None:
        raise ValueError(f"{fs.label} must look like 1280x720 (got {_show(value)}).")
    width, height = parsed
    for side in (width, height):
        if side < limits.min_side or side > limits.max_side:
            raise ValueError(
                f"{fs.label} is {width}x{height}; each side must be {limits.min_side}-{limits.max_side} px."
            )
    pixels = width * height
    if limits.min_pixels is not None and pixels < limits.min_pixels:
        raise ValueError(
            f"{fs.label} is {width}x{height} ({pixels} pixels); this model needs at least {limits.min_pixels}."
        )
    if limits.max_pixels is not None and pixels > limits.max_pixels:
        raise ValueError(
            f"{fs.label} is {width}x{height} ({pixels} pixels); this model takes at most {limits.max_pixels}."
        )
    if limits.max_ratio is not None and max(width, height) / min(width, height) > limits.max_ratio:
        raise ValueError(
            f"{fs.label} is {width}x{height}; the long side may be at most {limits.max_ratio:g} times the short side."
        )
    if limits.multiple_of and (width % limits.multiple_of or height % limits.multiple_of):
        raise ValueError(
            f"{fs.label} is {width}x{height}; both sides must be multiples of {limits.multiple_of}."
        )


# ---- nearest mapping of size / aspect_ratio / resolution ---------------------------------------

_SIZE_TEXT = re.compile(r"\s*(\d{1,5})\s*[x*×]\s*(\d{1,5})\s*", re.IGNORECASE)
_RATIO_TEXT = re.compile(r"\s*(\d{1,5}(?:\.\d{1,4})?)\s*:\s*(\d{1,5}(?:\.\d{1,4})?)\s*")
_RESOLUTION_TEXT = re.compile(r"\s*(\d{1,5}(?:\.\d{1,3})?)\s*([pk]?)\s*", re.IGNORECASE)


def _parse_size(value: Any) -> tuple[int, int] | None:
    """(width, height) from `1280x720`, `1280*720` or `1280×720`; None otherwise."""
    match = _SIZE_TEXT.fullmatch(value) if isinstance(value, str) else None
    if not match or int(match[1]) == 0 or int(match[2]) == 0:
        return None
    return int(match[1]), int(match[2])


def _parse_ratio(value: Any) -> float | None:
    """Width / height from `16:9`; None for `auto` or anything else."""
    match = _RATIO_TEXT.fullmatch(value) if isinstance(value, str) else None
    if not match or float(match[1]) == 0 or float(match[2]) == 0:
        return None
    return float(match[1]) / float(match[2])


def _resolution_pixels(value: Any) -> float | None:
    """Pixels of a resolution tier: `720p` is a 16:9 frame 720 px high, `1K` is 1024x1024."""
    match = _RESOLUTION_TEXT.fullmatch(value) if isinstance(value, str) else None
    if not match or float(match[1]) == 0:
        return None
    number = float(match[1])
    if match[2].lower() == "k":
        return (number * 1024) ** 2
    return number * number * 16 / 9


def _nearest(choices: tuple[Any, ...], target: float, measure: Any) -> Any:
    """The choice whose measure is nearest to target on a log scale (ratios and areas compare by factor)."""
    scored = [(abs(math.log(m / target)), index, c) for index, c in enumerate(choices) if (m := measure(c))]
    return min(scored)[2] if scored else None


def _nearest_size(choices: tuple[str, ...], ratio: float, pixels: float) -> str | None:
    # Aspect first (rounded so near-equal ratios such as 1088x832 and 1632x1248 tie), then area.
    def score(choice: str) -> tuple[float, float]:
        width, height = _parse_size(choice) or (1, 1)
        return (round(abs(math.log(width / height / ratio)), 3), abs(math.log(width * height / pixels)))

    return min(choices, key=score) if choices else None


def _size_from(fs: FieldSpec, ratio: float, pixels: float) -> str:
    """The listed size nearest to (ratio, pixels), or for a free-form field one computed and clamped."""
    if fs.choices:
        return _nearest_size(fs.choices, ratio, pixels) or str(fs.choices[0])
    limits = fs.size_limits
    step = (limits.multiple_of if limits else None) or 16
    low, high = (limits.min_side, limits.max_side) if limits else (step, 100_000)
    width = round(math.sqrt(pixels * ratio) / step) * step
    height = round(math.sqrt(pixels / ratio) / step) * step
    return f"{min(max(width, low), high)}x{min(max(height, low), high)}"


def size_like(fs: FieldSpec, width: int, height: int) -> str | None:
    """A size for this field with the aspect of a width x height input, at about the field's
    default area (1 MP without one); None when no valid size has that shape."""
    if not width or not height:
        return None
    default = _parse_size(fs.default) if fs.default else None
    pixels = float(default[0] * default[1]) if default else 1024.0 * 1024.0
    limits = fs.size_limits
    if limits is not None:
        if limits.max_pixels:
            pixels = min(pixels, float(limits.max_pixels))
        if limits.min_pixels:
            pixels = max(pixels, float(limits.min_pixels))
    size = _size_from(fs, width / height, pixels)
    try:
        _check_bounds(fs, size)
    except ValueError:
        return None
    return size


def _map_geometry(spec: ModelSpec, params: dict[str, Any], errors: _Errors) -> dict[str, Any]:
    """Map `size`, `aspect_ratio` and `resolution` onto what the model takes, like Lumenfall's gateway.

    - A value the model lists (any case: `720P`) is kept in the model's spelling.
    - `aspect_ratio` not listed -> the listed ratio nearest by factor (`21:9` -> `16:9`).
    - `resolution` not listed -> the listed tier nearest in pixels (`1080p` -> `720p` when 720p is the top).
    - `size` (`WxH`, also `W*H`) for a model with a fixed size list -> the listed size nearest in
      aspect, then in area (a DashScope size not in its list).
    - `size` for a model without a size field -> its `aspect_ratio` and `resolution`
      (`1280x720` -> `16:9` + `720p`), where the model takes them and they were not given.
      A `W:H` value in `size` is read as an aspect ratio.
    - `aspect_ratio`/`resolution` for a model that only takes `size` -> the nearest size; both are
      ignored when a size is given too (the size says it exactly).
    - A model that takes `size` and `aspect_ratio` (Lumenfall images) keeps an exact `WxH` size as
      given; a `W:H` size becomes its `aspect_ratio`.
    Values that cannot be read are left alone for the type check to report.
    """
    params = dict(params)
    size_f, ratio_f, res_f = spec.field("size"), spec.field("aspect_ratio"), spec.field("resolution")

    if "size" in params and size_f is None:
        size = params["size"]
        parsed = _parse_size(size)
        ratio = (parsed[0] / parsed[1]) if parsed else _parse_ratio(size)
        if ratio is not None and (ratio_f or res_f):
            del params["size"]
            if ratio_f is not None and "aspect_ratio" not in params:
                params["aspect_ratio"] = f"{_round_ratio(ratio)}"
            if parsed and res_f is not None and "resolution" not in params:
                params["resolution"] = _tier_for_pixels(parsed[0] * parsed[1])

    size_text = params.get("size")
    if (
        size_f is not None
        and ratio_f is not None
        and isinstance(size_text, str)
        and _parse_size(size_text) is None
        and _parse_ratio(size_text) is not None
    ):
        # A `W:H` size is an aspect ratio (Lumenfall reads it so); the ratio field says it exactly.
        params.setdefault("aspect_ratio", params.pop("size").strip())

    if size_f is not None and ratio_f is None and res_f is None:
        if _parse_size(params.get("size")) is None and _parse_ratio(params.get("size")) is not None:
            # Lumenfall reads a `W:H` size as an aspect ratio; so do we.
            ratio_text = params.pop("size")
            params.setdefault("aspect_ratio", ratio_text)
        ratio_given, res_given = params.pop("aspect_ratio", None), params.pop("resolution", None)
        if "size" not in params and (ratio_given is not None or res_given is not None):
            current = _parse_size(size_f.default) or _parse_size(
                size_f.choices[0] if size_f.choices else None
            )
            ratio = _parse_ratio(ratio_given) or (current[0] / current[1] if current else 1.0)
            pixels = _resolution_pixels(res_given) or (current[0] * current[1] if current else 1024 * 1024)
            if _parse_ratio(ratio_given) is None and ratio_given is not None:
                errors.add("aspect_ratio", f"Aspect ratio must look like 16:9 (got {_show(ratio_given)}).")
            elif _resolution_pixels(res_given) is None and res_given is not None:
                errors.add("resolution", f"Resolution must look like 720p or 1K (got {_show(res_given)}).")
            else:
                params["size"] = _size_from(size_f, ratio, pixels)

    if size_f is not None and "size" in params:
        parsed = _parse_size(params["size"])
        if parsed is not None:
            text = f"{parsed[0]}x{parsed[1]}"
            if size_f.choices and text not in size_f.choices:
                text = _nearest_size(size_f.choices, parsed[0] / parsed[1], parsed[0] * parsed[1]) or text
            params["size"] = text

    if ratio_f is not None and ratio_f.choices and isinstance(params.get("aspect_ratio"), str):
        value = params["aspect_ratio"].strip()
        listed = next((c for c in ratio_f.choices if str(c).lower() == value.lower()), None)
        ratio = _parse_ratio(value)
        if listed is None and ratio is not None:
            listed = _nearest(ratio_f.choices, ratio, _parse_ratio)
        if listed is not None:
            params["aspect_ratio"] = listed

    if res_f is not None and res_f.choices and isinstance(params.get("resolution"), str):
        value = params["resolution"].strip()
        listed = next((c for c in res_f.choices if str(c).lower() == value.lower()), None)
        pixels = _resolution_pixels(value)
        if listed is None and pixels is not None:
            listed = _nearest(res_f.choices, pixels, _resolution_pixels)
        if listed is not None:
            params["resolution"] = listed
    return params


def _round_ratio(ratio: float) -> str:
    """`W:H` text for a ratio, in small whole numbers (1280x720 -> 16:9)."""
    best = min(
        ((w, h) for h in range(1, 22) for w in range(1, 22)),
        key=lambda wh: (abs(math.log(wh[0] / wh[1] / ratio)), wh[1]),
    )
    return f"{best[0]}:{best[1]}"


def _tier_for_pixels(pixels: float) -> str:
    """The `<n>p` tier a frame of this many pixels is (921600 -> 720p)."""
    return f"{round(math.sqrt(pixels * 9 / 16))}p"


# ---- media ----------------------------------------------------------------------------------

_FORMAT_ALIASES = {"jpg": "jpeg", "quicktime": "mov", "mpeg": "mp3", "wave": "wav", "x-wav": "wav"}
_CONTENT_TYPE_FORMATS = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/png": "png",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/x-ms-bmp": "bmp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
}


def _format_of(media: MediaInput) -> tuple[str, str]:
    """(kind, format) from the probe, else from the content type; empty strings when unknown."""
    if media.info is not None:
        fmt = media.info.format.lower()
        return media.info.kind, _FORMAT_ALIASES.get(fmt, fmt)
    content_type = (media.content_type or "").split(";")[0].strip().lower()
    kind = content_type.split("/")[0] if content_type.split("/")[0] in MEDIA_KINDS else ""
    return kind, _CONTENT_TYPE_FORMATS.get(content_type, "")


def _size_text(size_bytes: float) -> str:
    return f"{size_bytes / MB:.1f}".removesuffix(".0") + " MB"


def _media_problems(slot: MediaSlot, media: MediaInput, label: str) -> list[str]:
    problems: list[str] = []
    kind, fmt = _format_of(media)
    if kind and kind != slot.kind:
        article = "an" if kind[0] in "aeiou" else "a"
        return [f"{label} is {article} {kind} file; this slot takes {slot.kind} files."]
    if fmt and slot.formats and fmt not in slot.formats:
        problems.append(
            f"{label} is {fmt.upper()}; this model takes {', '.join(f.upper() for f in slot.formats)}."
        )
    info = media.info
    size_bytes = (
        info.size_bytes if info is not None else (len(media.data) if media.data is not None else None)
    )
    if slot.max_bytes is not None and size_bytes is not None and size_bytes > slot.max_bytes:
        problems.append(
            f"{label} is {_size_text(size_bytes)}; this model takes at most {_size_text(slot.max_bytes)}."
        )
    if info is None:
        return problems
    if info.width and info.height:
        dims = f"{info.width}x{info.height} px"
        if slot.min_px is not None and min(info.width, info.height) < slot.min_px:
            problems.append(f"{label} is {dims}; each side must be at least {slot.min_px} px.")
        if slot.max_px is not None and max(info.width, info.height) > slot.max_px:
            problems.append(f"{label} is {dims}; each side must be at most {slot.max_px} px.")
    if info.duration is not None:
        if slot.min_seconds is not None and info.duration < slot.min_seconds:
            problems.append(
                f"{label} is {info.duration:.1f} s long; this model needs at least {slot.min_seconds:g} s."
            )
        if slot.max_seconds is not None and info.duration > slot.max_seconds:
            problems.append(
                f"{label} is {info.duration:.1f} s long; this model takes at most {slot.max_seconds:g} s."
            )
    if slot.min_fps is not None and info.fps is not None and info.fps < slot.min_fps:
        problems.append(f"{label} is {info.fps:g} fps; this model needs at least {slot.min_fps:g} fps.")
    if slot.no_alpha and info.has_alpha:
        problems.append(f"{label} has transparency (an alpha channel); this model takes only opaque images.")
    return problems


def _check_media(spec: ModelSpec, inputs: list[MediaInput], errors: _Errors) -> None:
    by_slot: dict[str, list[MediaInput]] = {}
    for media in inputs:
        by_slot.setdefault(media.slot, []).append(media)
    for name in by_slot:
        if spec.slot(name) is None:
            takes = ", ".join(s.name for s in spec.media) or "no input files"
            errors.add(name, f"{spec.title} takes no {name!r} input (it takes: {takes}).")
    for slot in spec.media:
        items = by_slot.get(slot.name, [])
        if len(items) < slot.min_count:
            errors.add(
                slot.name, f"{slot.label}: this model needs at least {slot.min_count} (got {len(items)})."
            )
        if len(items) > slot.max_count:
            errors.add(
                slot.name, f"{slot.label}: this model takes at most {slot.max_count} (got {len(items)})."
            )
        for number, media in enumerate(items, 1):
            label = slot.label if slot.max_count == 1 else f"{slot.label} {number}"
            for problem in _media_problems(slot, media, label):
                errors.add(slot.name, problem)
    if spec.reference_count is not None:
        low, high = spec.reference_count
        total = sum(len(by_slot.get(s.name, [])) for s in spec.media)
        names = " and ".join(s.name for s in spec.media)
        if total < low:
            errors.add(
                "__all__", f"This model needs at least {low} reference file(s) ({names}); got {total}."
            )
        if total > high:
            errors.add(
                "__all__", f"This model takes at most {high} reference files ({names} together); got {total}."
            )


# --------------------------------------------------------------------------------------------
# Pricing
# --------------------------------------------------------------------------------------------

_CENT_FRACTION = Decimal("0.0001")


def _values(spec: ModelSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    return spec.defaults() | {k: v for k, v in params.items() if not _is_blank(v)}


def price_tier(spec: ModelSpec, params: Mapping[str, Any]) -> str:
    """The resolution tier a video is priced at: its `resolution`, else the tier of its `size`."""
    values = _values(spec, params)
    if isinstance(values.get("resolution"), str):
        return values["resolution"].lower()
    parsed = _parse_size(values.get("size"))
    if parsed is not None:
        pixels = parsed[0] * parsed[1]
        # DashScope's tiers: 720P sizes hold ~0.9 MP, 1080P sizes ~2 MP.
        return "1080p" if pixels >= 1_500_000 else "720p" if pixels >= 600_000 else "480p"
    return "*"


def price_unit(spec: ModelSpec, params: Mapping[str, Any]) -> str:
    """What is charged for this job: `image`, `second:<tier>` or `video:<tier>` (a key of PriceRule.rates)."""
    if not spec.mode.makes_video:
        return "image"
    tier = price_tier(spec, params)
    kind = "video" if spec.price.per_video else "second"
    rates = spec.price.rates()
    return f"{kind}:{tier}" if f"{kind}:{tier}" in rates else f"{kind}:*"


def price_key(spec: ModelSpec, params: Mapping[str, Any]) -> str:
    """The key an admin override for this job's unit price is stored under: `provider:model:mode:unit`."""
    return f"{spec.provider}:{spec.model_id}:{spec.mode.value}:{price_unit(spec, params)}"


def default_prices() -> dict[str, Decimal]:
    """Every overridable unit price in the catalog, keyed like `price_key`, with its USD default."""
    return {
        f"{spec.provider}:{spec.model_id}:{spec.mode.value}:{unit}": usd
        for spec in all_models()
        for unit, usd in spec.price.rates().items()
    }


def output_seconds(spec: ModelSpec, params: Mapping[str, Any]) -> float:
    """Seconds of video the job makes: `duration`, else `num_frames / fps`, else the rule's default."""
    values = _values(spec, params)
    try:
        if values.get("duration") is not None:
            return float(values["duration"])
        if values.get("num_frames") is not None:
            return float(values["num_frames"]) / float(values.get("fps") or 16)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        pass
    return float(spec.price.default_seconds)


def estimate_cost(
    spec: ModelSpec, params: Mapping[str, Any], overrides: Mapping[str, Decimal] | None = None
) -> Decimal:
    """USD for one job with these (validated) params, quantised to 0.0001.

    `overrides` maps `price_key` values to unit prices that replace the catalog defaults.
    A unit with no rate costs nothing (the simulator's fake prices cover every unit).
    """
    overrides = overrides or {}
    base = f"{spec.provider}:{spec.model_id}:{spec.mode.value}"
    rates = spec.price.rates()
    unit = price_unit(spec, params)
    rate = Decimal(overrides.get(f"{base}:{unit}", rates.get(unit, Decimal(0))))
    values = _values(spec, params)
    if unit == "image":
        try:
            count = max(1, int(values.get("num_outputs") or 1))
        except (TypeError, ValueError):
            count = 1
        cost = rate * count
    elif unit.startswith("video:"):
        cost = rate
    else:
        seconds = Decimal(str(output_seconds(spec, params)))
        cost = rate * seconds
        audio_rate = overrides.get(f"{base}:audio-second", rates.get("audio-second"))
        if audio_rate is not None and values.get("audio") is True:
            cost += Decimal(audio_rate) * seconds
    return cost.quantize(_CENT_FRACTION, rounding=ROUND_HALF_UP)
