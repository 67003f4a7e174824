"""APIMart Wan video models (shared/providers/apimart.md §3-§4).

APIMart picks T2V or I2V from the body (I2V when `image_urls` is present), so `wan2.6` and
`wan2.5-preview` are each listed under both modes. Several field names on the `wan2.6` page were
stripped by the doc renderer and are inferred (marked unconfirmed).

Client translations: `prompt_expansion` -> `prompt_extend`, `multi_shot` -> `shot_type`
`multi`/`single`, `audio` stays `audio`; media `image` -> `image_urls[0]`, `audio` -> `audio_url`;
for `wan2.5-preview` the aspect ratio travels in `size` (`"size": "16:9"`).
"""

from __future__ import annotations

from providers.base import Mode
from providers.catalog import ModelSpec
from providers.catalog_data.common import (
    HD,
    aspect_ratio,
    audio,
    duration,
    first_frame,
    generate_audio,
    multi_shot,
    negative_prompt,
    per_second,
    prompt_expansion,
    resolution,
    seed,
    watermark,
)

P = "apimart"

_PRICE = per_second({"720p": "0.08", "1080p": "0.12"})
_FLASH_PRICE = per_second({"720p": "0.04", "1080p": "0.06"})
_INFERRED = (
    "Field names prompt_extend, audio, audio_url, shot_type and watermark on the wan2.6 page are inferred."
)
_PROMPT = "Prompt length is not published; Alibaba's 1500 characters assumed."
# apimart.md §4 flash: JPEG/JPG/PNG (no alpha)/BMP/WEBP, 240-8000 px, <= 10 MB, exactly 1 image.
_FRAME = first_frame(max_mb=10, min_px=240, max_px=8000)


def _wan26_fields(*, with_aspect: bool):
    fields = [negative_prompt(500), duration((5, 10, 15)), resolution(HD, "720p")]
    if with_aspect:
        # apimart.md: aspect_ratio is "not supported in I2V".
        fields.append(aspect_ratio())
    fields += [
        seed(),
        prompt_expansion(True, unconfirmed=True),
        generate_audio(True, unconfirmed=True),
        multi_shot(False, unconfirmed=True),
        watermark(False, unconfirmed=True),
    ]
    return tuple(fields)


def _wan25_fields(*, with_aspect: bool):
    fields = [duration((5, 10)), resolution(("480p", "720p", "1080p"), "720p", unconfirmed=True)]
    if with_aspect:
        fields.append(aspect_ratio(("16:9", "9:16", "1:1"), unconfirmed=True))
    return tuple(fields)


_WAN25_UNCONFIRMED = ("Only size (aspect ratio), resolution, duration and image_urls were captured.", _PROMPT)

MODELS = (
    ModelSpec(
        P,
        "wan2.6",
        Mode.T2V,
        "Wan 2.6 text to video",
        "2.6",
        _PRICE,
        fields=_wan26_fields(with_aspect=True),
        media=(audio(),),
        prompt_max_chars=1500,
        unconfirmed=(_INFERRED, _PROMPT, "Audio precedence: this page says audio_url wins over audio=false."),
    ),
    ModelSpec(
        P,
        "wan2.6",
        Mode.I2V,
        "Wan 2.6 image to video",
        "2.6",
        _PRICE,
        fields=_wan26_fields(with_aspect=False),
        media=(_FRAME, audio()),
        prompt_required=False,
        prompt_max_chars=1500,
        unconfirmed=(_INFERRED, _PROMPT, "First-frame limits are taken from the flash page."),
    ),
    ModelSpec(
        P,
        "wan2.6-i2v-flash",
        Mode.I2V,
        "Wan 2.6 image to video (flash)",
        "2.6",
        _FLASH_PRICE,
        variant="flash",
        fields=(
            negative_prompt(500),
            duration(min=2, max=15),
            resolution(HD, "1080p"),
            generate_audio(
                True, help="Add generated sound; off gives a silent video even with custom audio."
            ),
            prompt_expansion(True),
            multi_shot(False),
            seed(unconfirmed=True),
            watermark(False, unconfirmed=True),
        ),
        media=(_FRAME, audio()),
        prompt_required=False,
        prompt_max_chars=1500,
        unconfirmed=("Field names seed and watermark are inferred.", _PROMPT),
        notes=("audio=false wins over custom audio (silent video).",),
    ),
    ModelSpec(
        P,
        "wan2.5-preview",
        Mode.T2V,
        "Wan 2.5 preview text to video",
        "2.5",
        per_second({"480p": "0.04", "720p": "0.08", "1080p": "0.12"}),
        variant="preview",
        fields=_wan25_fields(with_aspect=True),
        prompt_max_chars=1500,
        unconfirmed=_WAN25_UNCONFIRMED,
    ),
    ModelSpec(
        P,
        "wan2.5-preview",
        Mode.I2V,
        "Wan 2.5 preview image to video",
        "2.5",
        per_second({"480p": "0.04", "720p": "0.08", "1080p": "0.12"}),
        variant="preview",
        fields=_wan25_fields(with_aspect=False),
        media=(_FRAME,),
        prompt_required=False,
        prompt_max_chars=1500,
        unconfirmed=(*_WAN25_UNCONFIRMED, "First-frame limits are taken from the wan2.6 flash page."),
    ),
)
