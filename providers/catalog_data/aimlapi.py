"""AI/ML API Wan 2.6 models (shared/providers/aimlapi.md §3-§7).

aimlapi publishes no limits for its video models (§7b); the media limits below are Alibaba's
upstream ones (dashscope.md), which aimlapi.md names as the safe client-side bounds.

Client translations: `prompt_expansion` -> `enhance_prompt`, `multi_shot` -> `shot_type`
`multi`/`single`, `audio` -> `generate_audio`, duration is an integer; media `image` -> `image_url`
(video) or `image_urls` (image model), `video` -> `video_urls`, `audio` -> `audio_url`;
`size` -> `image_size` `{"width", "height"}`.
"""

from __future__ import annotations

from providers.base import Mode
from providers.catalog import ModelSpec, SizeLimits
from providers.catalog_data.common import (
    HD,
    aspect_ratio,
    audio,
    duration,
    first_frame,
    generate_audio,
    image,
    multi_shot,
    negative_prompt,
    per_image,
    per_second,
    prompt_expansion,
    resolution,
    seed,
    size_free,
    video,
    watermark,
)

P = "aimlapi"

_PRICE = per_second({"720p": "0.105", "1080p": "0.158"})
_FLASH_PRICE = per_second({"720p": "0.053", "1080p": "0.079"})
_UPSTREAM = "aimlapi publishes no prompt or media limits; Alibaba's upstream limits (1500 characters, 360-2000 px, 10 MB) are used."
_IMAGE_SIZE = SizeLimits(512, 1440, multiple_of=32)


def _video_fields(*, res_default: str = "1080p", with_aspect: bool = True, with_audio: bool = True):
    fields = [negative_prompt(500), duration((5, 10, 15), default=10), resolution(HD, res_default)]
    if with_aspect:
        fields.append(aspect_ratio())
    fields += [prompt_expansion(True), multi_shot(False), seed()]
    if with_audio:
        fields.append(generate_audio(True, help="Add generated sound; ignored when custom audio is given."))
    return tuple(fields)


def _image_fields():
    return (
        negative_prompt(500),
        size_free(
            _IMAGE_SIZE, None, help="Width x height, 512-1440 px, multiples of 32. Default landscape 4:3."
        ),
        prompt_expansion(True),
        watermark(False),
        seed(),
    )


_FRAME = first_frame(max_mb=10, min_px=360, max_px=2000)

MODELS = (
    ModelSpec(
        P,
        "alibaba/wan-2-6-t2v",
        Mode.T2V,
        "Wan 2.6 text to video",
        "2.6",
        _PRICE,
        fields=_video_fields(),
        media=(audio(),),
        prompt_max_chars=1500,
        unconfirmed=(
            _UPSTREAM,
            'Whether duration must be an integer or a string (the docs\' sample sends "5").',
        ),
    ),
    ModelSpec(
        P,
        "alibaba/wan-2-6-i2v",
        Mode.I2V,
        "Wan 2.6 image to video",
        "2.6",
        _PRICE,
        fields=_video_fields(with_aspect=False),
        media=(_FRAME, audio()),
        prompt_max_chars=1500,
        unconfirmed=(_UPSTREAM,),
    ),
    ModelSpec(
        P,
        "alibaba/wan-2-6-image-to-video-flash",
        Mode.I2V,
        "Wan 2.6 image to video (flash)",
        "2.6",
        _FLASH_PRICE,
        variant="flash",
        fields=_video_fields(res_default="720p", with_aspect=False),
        media=(_FRAME, audio()),
        prompt_max_chars=1500,
        unconfirmed=(_UPSTREAM,),
    ),
    ModelSpec(
        P,
        "alibaba/wan-2-6-r2v",
        Mode.R2V,
        "Wan 2.6 reference to video",
        "2.6",
        _PRICE,
        fields=_video_fields(with_audio=False),
        media=(
            video(
                label="Reference video",
                max_count=3,
                max_seconds=30,
                help="One character per video; call them character1, character2, ... in the prompt.",
            ),
        ),
        prompt_max_chars=1500,
        unconfirmed=(_UPSTREAM, "Reference video limits are not published; 100 MB / 30 s assumed."),
        notes=("Refer to the videos as character1, character2, ... in the prompt, in upload order.",),
    ),
    ModelSpec(
        P,
        "alibaba/wan-2-6-image",
        Mode.T2I,
        "Wan 2.6 text to image",
        "2.6",
        per_image("0.032"),
        fields=_image_fields(),
        prompt_max_chars=2000,
        sync=True,
        notes=("One image per request: this model has no num_images.",),
    ),
    ModelSpec(
        P,
        "alibaba/wan-2-6-image",
        Mode.EDIT,
        "Wan 2.6 image edit",
        "2.6",
        per_image("0.032"),
        fields=_image_fields(),
        media=(image(label="Image", max_count=3, max_mb=10, min_px=240, max_px=8000),),
        prompt_max_chars=2000,
        sync=True,
        unconfirmed=("Input image limits are not published; Alibaba's wan2.6-image limits are used.",),
    ),
)
