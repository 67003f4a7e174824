"""Small constructors for the field sets and media slots the vendor tables repeat.

Each returns a fresh FieldSpec/MediaSlot; keyword arguments override any attribute
(`duration(choices=(5, 10), unconfirmed=True)`).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from providers.catalog import MB, FieldSpec, MediaSlot, PriceRule, SizeLimits

SEED_MAX = 2_147_483_647
IMAGE_FORMATS = ("jpeg", "png", "bmp", "webp")
AUDIO_FORMATS = ("wav", "mp3")
VIDEO_FORMATS = ("mp4", "mov")
ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4")
HD = ("720p", "1080p")

NO_PRICE_PUBLISHED = (
    "Estimate: the vendor notes publish no price; check the vendor's pricing page and override."
)


def _with(spec: Any, overrides: dict[str, Any]) -> Any:
    return dataclasses.replace(spec, **overrides) if overrides else spec


# ---- fields ---------------------------------------------------------------------------------


def negative_prompt(max_chars: int | None = 500, **kw: Any) -> FieldSpec:
    return _with(
        FieldSpec(
            "negative_prompt",
            "str",
            "Negative prompt",
            help="What the result should not contain.",
            max=max_chars,
        ),
        kw,
    )


def seed(**kw: Any) -> FieldSpec:
    return _with(
        FieldSpec(
            "seed",
            "int",
            "Seed",
            help="Same seed and inputs give the same result. Empty: random.",
            min=0,
            max=SEED_MAX,
        ),
        kw,
    )


def duration(choices: tuple[int, ...] = (), *, default: int = 5, **kw: Any) -> FieldSpec:
    """Output length in whole seconds: a fixed set (`choices`) or a range (`min=`, `max=`)."""
    return _with(
        FieldSpec(
            "duration",
            "int",
            "Duration",
            help="Length of the video.",
            default=default,
            choices=choices,
            unit="s",
        ),
        kw,
    )


def resolution(choices: tuple[str, ...] = HD, default: str | None = "1080p", **kw: Any) -> FieldSpec:
    return _with(FieldSpec("resolution", "enum", "Resolution", default=default, choices=choices), kw)


def aspect_ratio(choices: tuple[str, ...] = ASPECTS, default: str | None = "16:9", **kw: Any) -> FieldSpec:
    return _with(FieldSpec("aspect_ratio", "enum", "Aspect ratio", default=default, choices=choices), kw)


def size_list(choices: tuple[str, ...], default: str, **kw: Any) -> FieldSpec:
    """A size from a fixed list (`WxH`); a size not in it is mapped to the nearest listed one."""
    return _with(
        FieldSpec(
            "size", "enum", "Size", help="Output width x height in pixels.", default=default, choices=choices
        ),
        kw,
    )


def size_free(limits: SizeLimits, default: str | None = None, **kw: Any) -> FieldSpec:
    """Any `WxH` within the limits."""
    return _with(
        FieldSpec(
            "size",
            "str",
            "Size",
            help="Output width x height in pixels, e.g. 1280x720.",
            default=default,
            size_limits=limits,
        ),
        kw,
    )


def flag(name: str, label: str, default: bool | None, help: str = "", **kw: Any) -> FieldSpec:
    return _with(FieldSpec(name, "bool", label, help=help, default=default), kw)


def prompt_expansion(default: bool = True, **kw: Any) -> FieldSpec:
    help = "Let the vendor's language model rewrite the prompt (slower; the rewritten prompt is shown on the job)."
    return flag("prompt_expansion", "Prompt expansion", default, **({"help": help} | kw))


def multi_shot(default: bool = False, **kw: Any) -> FieldSpec:
    help = "Cut the video into several shots. Takes effect only with prompt expansion on."
    return flag("multi_shot", "Multi-shot", default, **({"help": help} | kw))


def generate_audio(default: bool = True, **kw: Any) -> FieldSpec:
    help = "Add generated sound; off gives a silent video."
    return flag("audio", "Generate audio", default, **({"help": help} | kw))


def safety_checker(default: bool = True, **kw: Any) -> FieldSpec:
    return flag(
        "safety_checker",
        "Safety checker",
        default,
        **({"help": "The vendor's content filter.", "advanced": True} | kw),
    )


def watermark(default: bool = False, **kw: Any) -> FieldSpec:
    help = 'Add the vendor\'s "AI generated" mark.'
    return flag("watermark", "Watermark", default, **({"help": help, "advanced": True} | kw))


def num_outputs(low: int, high: int, default: int = 1, **kw: Any) -> FieldSpec:
    return _with(
        FieldSpec("num_outputs", "int", "Number of images", default=default, min=low, max=high),
        kw,
    )


def loras(**kw: Any) -> FieldSpec:
    return _with(
        FieldSpec(
            "loras",
            "json",
            "LoRAs",
            help='JSON list like [{"path": "https://.../lora.safetensors", "scale": 1, "transformer": "high"}].',
            max=3,
            advanced=True,
        ),
        kw,
    )


def strength(default: float, **kw: Any) -> FieldSpec:
    return _with(
        FieldSpec(
            "strength",
            "float",
            "Strength",
            help="How far the result may move from the input (0 keeps it, 1 ignores it).",
            default=default,
            min=0,
            max=1,
        ),
        kw,
    )


def enum(
    name: str, label: str, choices: tuple[str, ...], default: str | None, help: str = "", **kw: Any
) -> FieldSpec:
    return _with(FieldSpec(name, "enum", label, help=help, default=default, choices=choices), kw)


def number(
    name: str,
    type: str,
    label: str,
    default: float | None,
    low: float | None,
    high: float | None,
    help: str = "",
    **kw: Any,
) -> FieldSpec:
    if type == "float" and default is not None:
        default = float(default)  # so a float field's default is a float, like the values it takes
    return _with(FieldSpec(name, type, label, help=help, default=default, min=low, max=high), kw)


# ---- media slots ----------------------------------------------------------------------------


def image(
    name: str = "image",
    *,
    label: str = "Image",
    min_count: int = 1,
    max_count: int = 1,
    max_mb: float = 10,
    min_px: int | None = 360,
    max_px: int | None = 2000,
    formats: tuple[str, ...] = IMAGE_FORMATS,
    no_alpha: bool = True,
    help: str = "",
) -> MediaSlot:
    return MediaSlot(
        name,
        "image",
        label,
        min_count=min_count,
        max_count=max_count,
        formats=formats,
        max_bytes=int(max_mb * MB),
        min_px=min_px,
        max_px=max_px,
        no_alpha=no_alpha,
        help=help,
    )


def first_frame(**kw: Any) -> MediaSlot:
    return image(
        **(
            {"label": "First frame", "help": "The video starts from this image; its aspect ratio is kept."}
            | kw
        )
    )


def video(
    name: str = "video",
    *,
    label: str = "Video",
    min_count: int = 1,
    max_count: int = 1,
    max_mb: float = 100,
    min_seconds: float | None = None,
    max_seconds: float | None = None,
    min_fps: float | None = None,
    formats: tuple[str, ...] = VIDEO_FORMATS,
    help: str = "",
) -> MediaSlot:
    return MediaSlot(
        name,
        "video",
        label,
        min_count=min_count,
        max_count=max_count,
        formats=formats,
        max_bytes=int(max_mb * MB),
        min_seconds=min_seconds,
        max_seconds=max_seconds,
        min_fps=min_fps,
        help=help,
    )


def audio(
    *,
    label: str = "Custom audio",
    min_count: int = 0,
    max_mb: float = 15,
    min_seconds: float | None = 3,
    max_seconds: float | None = 30,
    formats: tuple[str, ...] = AUDIO_FORMATS,
    help: str = "Sound for the video instead of generated audio; cut to the video's length.",
) -> MediaSlot:
    """The Wan 2.5/2.6 `audio_url` input: WAV/MP3, 3-30 s, <= 15 MB (fal.md §6, dashscope.md §4)."""
    return MediaSlot(
        "audio",
        "audio",
        label,
        min_count=min_count,
        max_count=1,
        formats=formats,
        max_bytes=int(max_mb * MB),
        min_seconds=min_seconds,
        max_seconds=max_seconds,
        help=help,
    )


# ---- prices ---------------------------------------------------------------------------------


def per_image(usd: str, note: str = NO_PRICE_PUBLISHED) -> PriceRule:
    return PriceRule(per_image=Decimal(usd), note=note)


def per_second(rates: dict[str, str], note: str = NO_PRICE_PUBLISHED, **kw: Any) -> PriceRule:
    return PriceRule(per_second=tuple((tier, Decimal(usd)) for tier, usd in rates.items()), note=note, **kw)


def per_video(rates: dict[str, str], note: str = NO_PRICE_PUBLISHED) -> PriceRule:
    return PriceRule(per_video=tuple((tier, Decimal(usd)) for tier, usd in rates.items()), note=note)
