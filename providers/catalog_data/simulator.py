"""The offline simulator: model `wan-sim`, every mode, no key, no network (shared/DESIGN.md "Simulator").

It takes the normalised parameters that matter for each mode plus its own `sim_*` knobs that
choose how long it takes and which fault from shared/RELIABILITY.md it acts out. Its media limits
are generous but real, so the app's upload checks are exercised offline too. Prices are fake
(one cent per image or per second) so quota holds and the spend ledger move in the demo.
"""

from __future__ import annotations

from decimal import Decimal

from providers.base import MODE_LABELS, Mode
from providers.catalog import SIMULATOR, SIMULATOR_MODEL, FieldSpec, ModelSpec, PriceRule, SizeLimits
from providers.catalog_data.common import (
    ASPECTS,
    aspect_ratio,
    audio,
    duration,
    enum,
    generate_audio,
    image,
    multi_shot,
    negative_prompt,
    num_outputs,
    number,
    prompt_expansion,
    resolution,
    safety_checker,
    seed,
    size_free,
    strength,
    video,
    watermark,
)

SIM_FAULTS = (
    "none",
    "timeout",
    "rate_limited",
    "server_error",
    "html_body",
    "malformed_json",
    "missing_result",
    "truncated_body",
    "slow_body",
    "redirect_loop",
    "unknown_status",
    "content_policy",
    "vendor_failed",
    "result_expired",
)

_SIM_FIELDS: tuple[FieldSpec, ...] = (
    number(
        "sim_delay",
        "float",
        "Simulated time",
        5,
        0,
        300,
        help="Seconds the fake job takes.",
        unit="s",
        advanced=True,
    ),
    enum(
        "sim_fault",
        "Simulated fault",
        SIM_FAULTS,
        "none",
        help="Fail in this way (RELIABILITY.md).",
        advanced=True,
    ),
    number(
        "sim_fault_count",
        "int",
        "Fault repeats",
        1,
        0,
        10,
        help="How many calls a transient fault fails before it clears.",
        advanced=True,
    ),
)
_PRICE = PriceRule(
    per_image=Decimal("0.01"),
    per_second=(("*", Decimal("0.01")),),
    note="Fake price (no vendor is paid) so quotas and the spend ledger are exercised.",
    estimate=False,
)
_IMAGE_FIELDS = (
    negative_prompt(500),
    size_free(SizeLimits(64, 4096), "1024x1024"),
    num_outputs(1, 4),
    prompt_expansion(False),
    watermark(False),
    seed(),
)
_RESOLUTIONS = ("480p", "720p", "1080p")
_IMAGE = {"max_mb": 25, "min_px": 64, "max_px": 8000, "no_alpha": False}
_VIDEO = {"max_mb": 100, "max_seconds": 60, "formats": ("mp4", "mov", "webm")}
_AUDIO = {"max_mb": 25, "min_seconds": 1, "max_seconds": 60, "formats": ("wav", "mp3", "m4a")}


def _video_fields(
    *extra: FieldSpec, with_aspect: bool = True, with_audio: bool = True
) -> tuple[FieldSpec, ...]:
    fields = [negative_prompt(500), duration(min=1, max=15), resolution(_RESOLUTIONS, "720p")]
    if with_aspect:
        fields.append(aspect_ratio(ASPECTS))
    fields += [
        *extra,
        number("fps", "int", "Frames per second", 16, 8, 30, advanced=True),
        *([generate_audio(False)] if with_audio else []),
        prompt_expansion(False),
        seed(),
        watermark(False),
    ]
    return tuple(fields)


def _sim(mode: Mode, fields: tuple[FieldSpec, ...], media: tuple = (), **kw) -> ModelSpec:
    return ModelSpec(
        SIMULATOR,
        SIMULATOR_MODEL,
        mode,
        f"Simulator {MODE_LABELS[mode].lower()}",
        "2.6",
        _PRICE,
        variant="simulator",
        fields=(*fields, safety_checker(True), *_SIM_FIELDS),
        media=media,
        prompt_max_chars=2000,
        **kw,
    )


MODELS = (
    _sim(Mode.T2I, _IMAGE_FIELDS),
    _sim(Mode.EDIT, _IMAGE_FIELDS, (image(label="Image", max_count=3, **_IMAGE),)),
    _sim(Mode.T2V, _video_fields(multi_shot(False)), (audio(**_AUDIO),)),
    _sim(
        Mode.I2V,
        _video_fields(multi_shot(False), with_aspect=False),
        (
            image(label="First frame", **_IMAGE),
            image("end_image", label="Last frame", min_count=0, **_IMAGE),
            audio(**_AUDIO),
        ),
    ),
    _sim(Mode.V2V, _video_fields(strength(0.9), with_aspect=False), (video(label="Source video", **_VIDEO),)),
    _sim(
        Mode.R2V,
        _video_fields(multi_shot(False)),
        (
            video(label="Reference video", min_count=0, max_count=3, **_VIDEO),
            image(label="Reference image", min_count=0, max_count=5, **_IMAGE),
        ),
        reference_count=(1, 5),
        notes=("Refer to references as character1, character2, ... in upload order.",),
    ),
    _sim(
        Mode.S2V,
        # The speech is the sound track: a "generate audio" switch whose off means "a silent
        # video" would contradict it, so speech to video has none.
        _video_fields(with_aspect=False, with_audio=False),
        (
            image(label="Speaker", **_IMAGE),
            audio(label="Speech", min_count=1, help="The voice track the video is lip-synced to.", **_AUDIO),
        ),
    ),
)
