"""Alibaba Cloud Model Studio / DashScope native Wan 2.6 models (shared/providers/dashscope.md).

Client translations: `size` `1280x720` -> `parameters.size` `"1280*720"`; `resolution` `720p` ->
`"720P"`; `prompt_expansion` -> `prompt_extend`; `multi_shot` -> `shot_type` `multi`/`single`;
`num_outputs` -> `n`; `negative_prompt` goes in `input` for video, in `parameters` for images;
media: `image` -> `input.img_url` (I2V) or content `{"image": ...}` items (wan2.6-image);
`audio` -> `input.audio_url`; R2V `video` + `image` -> `input.reference_urls` in request order
(the prompt calls them character1, character2, ...).
"""

from __future__ import annotations

from providers.base import Mode
from providers.catalog import ModelSpec, SizeLimits
from providers.catalog_data.common import (
    HD,
    audio,
    duration,
    first_frame,
    generate_audio,
    image,
    multi_shot,
    negative_prompt,
    num_outputs,
    per_image,
    per_second,
    prompt_expansion,
    resolution,
    seed,
    size_free,
    size_list,
    video,
    watermark,
)

P = "dashscope"

# dashscope.md §4: 720P tier, then 1080P tier. No 480P for wan2.6.
SIZES = (
    "1280x720",
    "720x1280",
    "960x960",
    "1088x832",
    "832x1088",
    "1920x1080",
    "1080x1920",
    "1440x1440",
    "1632x1248",
    "1248x1632",
)
_PRICE = per_second({"720p": "0.10", "1080p": "0.15"})
_FLASH_PRICE = per_second({"720p": "0.05", "1080p": "0.075"})
_PROMPT_LIMIT = "The 1500-character prompt limit comes from resellers' mirrors [3p]."
_AUDIO_DEFAULT = "The default of `audio` per model is not confirmed; we always send it."


def _size(**kw):
    return size_list(SIZES, "1280x720", help="Output width x height; the 720p and 1080p tiers.", **kw)


def _video_common():
    return (
        negative_prompt(500),
        prompt_expansion(True),
        multi_shot(False),
        generate_audio(True),
        watermark(False),
        seed(),
    )


_FRAME = first_frame(max_mb=10, min_px=360, max_px=2000)
_REFS = (
    video(
        label="Reference video",
        min_count=0,
        max_count=3,
        min_seconds=2,
        max_seconds=30,
        max_mb=100,
        help="One character per reference; a video also lends its voice.",
    ),
    image(label="Reference image", min_count=0, max_count=5, max_mb=10, min_px=240, max_px=5000),
)
_REF_NOTES = ("Refer to references as character1, character2, ... in the prompt, in upload order.",)
_REF_UNCONFIRMED = (
    _PROMPT_LIMIT,
    "Reference video limits (2-30 s, 100 MB) are from resellers [3p]; reference image limits are assumed.",
    "Whether seed is honoured for R2V is not confirmed.",
    "Billing also counts the seconds of reference videos; the estimate counts output seconds only.",
)

MODELS = (
    ModelSpec(
        P,
        "wan2.6-t2v",
        Mode.T2V,
        "Wan 2.6 text to video",
        "2.6",
        _PRICE,
        fields=(_size(unconfirmed=True), duration(min=2, max=15, unconfirmed=True), *_video_common()),
        media=(audio(),),
        prompt_max_chars=1500,
        unconfirmed=(
            _PROMPT_LIMIT,
            "Default size: sources disagree (1920*1080 vs 1280*720); we always send it.",
            "Duration: the docs say 2-15 s, some mirrors list only 5/10/15.",
            _AUDIO_DEFAULT,
        ),
        notes=("Multi-shot prompts like 'Shot 1 [0-3 s] ... Shot 2 [3-6 s] ...' work.",),
    ),
    ModelSpec(
        P,
        "wan2.6-i2v",
        Mode.I2V,
        "Wan 2.6 image to video",
        "2.6",
        _PRICE,
        fields=(resolution(HD, "1080p"), duration((5, 10, 15), unconfirmed=True), *_video_common()),
        media=(_FRAME, audio()),
        prompt_required=False,
        prompt_max_chars=1500,
        unconfirmed=(
            _PROMPT_LIMIT,
            "Duration: mirrors say 5/10/15, the official guide 2-15; we offer the safe 5/10/15.",
            "First frame byte cap: 10 MB (mirrors) vs 20 MB (a gateway for flash).",
            _AUDIO_DEFAULT,
        ),
        notes=("The output aspect ratio follows the first frame.",),
    ),
    ModelSpec(
        P,
        "wan2.6-i2v-flash",
        Mode.I2V,
        "Wan 2.6 image to video (flash)",
        "2.6",
        _FLASH_PRICE,
        variant="flash",
        fields=(resolution(HD, "1080p"), duration(min=2, max=15), *_video_common()),
        media=(_FRAME, audio()),
        prompt_required=False,
        prompt_max_chars=1500,
        unconfirmed=(_PROMPT_LIMIT, "First frame byte cap: 10 MB (mirrors) vs 20 MB (a gateway)."),
        notes=("The output aspect ratio follows the first frame. audio=false gives a silent video.",),
    ),
    ModelSpec(
        P,
        "wan2.6-r2v",
        Mode.R2V,
        "Wan 2.6 reference to video",
        "2.6",
        _PRICE,
        fields=(
            _size(),
            duration(min=2, max=10),
            negative_prompt(500),
            multi_shot(False),
            watermark(False),
            seed(unconfirmed=True),
        ),
        media=_REFS,
        reference_count=(1, 5),
        prompt_max_chars=1500,
        unconfirmed=_REF_UNCONFIRMED,
        notes=_REF_NOTES,
    ),
    ModelSpec(
        P,
        "wan2.6-r2v-flash",
        Mode.R2V,
        "Wan 2.6 reference to video (flash)",
        "2.6",
        _FLASH_PRICE,
        variant="flash",
        fields=(
            _size(),
            duration(min=2, max=10),
            negative_prompt(500),
            multi_shot(False),
            generate_audio(True),
            watermark(False),
            seed(unconfirmed=True),
        ),
        media=_REFS,
        reference_count=(1, 5),
        prompt_max_chars=1500,
        unconfirmed=_REF_UNCONFIRMED,
        notes=_REF_NOTES,
    ),
    ModelSpec(
        P,
        "wan2.6-t2i",
        Mode.T2I,
        "Wan 2.6 text to image",
        "2.6",
        per_image("0.03"),
        fields=(
            negative_prompt(500),
            size_free(
                SizeLimits(512, 2880, min_pixels=1280 * 1280, max_pixels=1440 * 1440, max_ratio=4),
                "1280x1280",
            ),
            # Resellers say the vendor's default n is 4: the client must always send n.
            num_outputs(1, 4),
            prompt_expansion(True),
            watermark(False),
            seed(),
        ),
        prompt_max_chars=2100,
        sync=False,  # async + polling: a timed-out sync call may bill with no task id to poll (dashscope.md)
    ),
    ModelSpec(
        P,
        "wan2.6-image",
        Mode.EDIT,
        "Wan 2.6 image edit",
        "2.6",
        per_image("0.03"),
        fields=(
            negative_prompt(500),
            size_free(SizeLimits(256, 2880, max_ratio=4), None, unconfirmed=True),
            num_outputs(1, 4),
            prompt_expansion(True),
            watermark(False),
            seed(),
        ),
        media=(
            image(
                label="Image",
                max_count=4,
                max_mb=10,
                min_px=240,
                max_px=8000,
                help='Refer to them as "image 1", "image 2", ... in the prompt.',
            ),
        ),
        prompt_max_chars=2000,
        sync=False,  # async + polling, as for wan2.6-t2i
        unconfirmed=(
            "size accepts '1K' or 'W*H'; its bounds are not published (default 1280*1280 per resellers).",
            "Interleaved text+image mode (enable_interleave) is not offered: its sync/SSE behaviour is unconfirmed.",
        ),
    ),
)
