"""Lumenfall's OpenAI-compatible gateway: one model id, `wan-2.6`, for five modes (shared/providers/lumenfall.md).

Lumenfall itself maps `size`, `aspect_ratio` and `resolution` to the nearest value the upstream
supports; it does not publish Wan's enums, so the video values below are fal's Wan 2.6 ones
(lumenfall.md §4, §8) and are marked unconfirmed.

Client translations: `num_outputs` -> `n`; `duration` -> `seconds`; `prompt_expansion` ->
`enable_prompt_expansion`, `safety_checker` -> `enable_safety_checker`; media `image` ->
multipart `image` parts (edit) or `input_reference` (I2V), `video` -> `input_video` (V2V).
"""

from __future__ import annotations

from providers.base import Mode
from providers.catalog import ModelSpec, SizeLimits
from providers.catalog_data.common import (
    ASPECTS,
    HD,
    aspect_ratio,
    duration,
    enum,
    first_frame,
    image,
    negative_prompt,
    num_outputs,
    per_image,
    per_second,
    prompt_expansion,
    resolution,
    safety_checker,
    seed,
    size_free,
    video,
)

P = "lumenfall"
MODEL = "wan-2.6"

_IMAGE_FORMATS = ("png", "jpeg", "webp")
_PRICE = per_second({"720p": "0.10", "1080p": "0.15"})
_ROUTED = (
    "Lumenfall does not publish Wan's limits; fal's Wan 2.6 limits are applied (routing to fal assumed)."
)


def _image_fields():
    # No defaults for the shape: what the user did not choose is not sent, so Lumenfall (and its
    # upstream) decide, and an edit keeps its input's shape instead of coming back square.
    # An exact `size` is sent as given; Lumenfall documents that it wins over ratio and tier (§3.1).
    return (
        negative_prompt(500),
        size_free(
            SizeLimits(256, 5000),
            None,
            help="Exact output width x height, e.g. 1280x720; wins over aspect ratio and resolution.",
        ),
        aspect_ratio(("1:1", "4:3", "3:4", "16:9", "9:16"), None),
        resolution(
            ("0.5K", "1K", "2K", "4K"), None, help="Scale tier; Lumenfall maps it to the nearest supported."
        ),
        num_outputs(
            1,
            10,
            help="More than the upstream makes per call are emulated with parallel calls (each billed).",
        ),
        enum("output_format", "Output format", ("png", "jpeg", "webp"), None, advanced=True),
        prompt_expansion(True, unconfirmed=True),
        safety_checker(True, unconfirmed=True),
        seed(),
    )


def _video_fields(*, with_aspect: bool):
    fields = [
        negative_prompt(500),
        duration((5, 10, 15), unconfirmed=True),
        resolution(HD, "720p", unconfirmed=True),
    ]
    if with_aspect:
        fields.append(aspect_ratio(ASPECTS, unconfirmed=True))
    fields += [prompt_expansion(True, unconfirmed=True), safety_checker(True, unconfirmed=True), seed()]
    return tuple(fields)


MODELS = (
    ModelSpec(
        P,
        MODEL,
        Mode.T2I,
        "Wan 2.6 text to image",
        "2.6",
        per_image("0.03"),
        fields=_image_fields(),
        prompt_max_chars=2000,
        sync=True,
        unconfirmed=(_ROUTED,),
    ),
    ModelSpec(
        P,
        MODEL,
        Mode.EDIT,
        "Wan 2.6 image edit",
        "2.6",
        per_image("0.03"),
        fields=_image_fields(),
        media=(
            image(label="Image", max_count=3, max_mb=10, min_px=384, max_px=5000, formats=_IMAGE_FORMATS),
        ),
        prompt_max_chars=2000,
        sync=True,
        unconfirmed=(_ROUTED, "How several images are named in the multipart body is not documented."),
    ),
    ModelSpec(
        P,
        MODEL,
        Mode.T2V,
        "Wan 2.6 text to video",
        "2.6",
        _PRICE,
        fields=_video_fields(with_aspect=True),
        prompt_max_chars=800,
        unconfirmed=(_ROUTED,),
    ),
    ModelSpec(
        P,
        MODEL,
        Mode.I2V,
        "Wan 2.6 image to video",
        "2.6",
        _PRICE,
        fields=_video_fields(with_aspect=False),
        media=(first_frame(max_mb=25, min_px=360, max_px=2000, formats=_IMAGE_FORMATS),),
        prompt_max_chars=800,
        unconfirmed=(_ROUTED,),
    ),
    ModelSpec(
        P,
        MODEL,
        Mode.V2V,
        "Wan 2.6 video to video",
        "2.6",
        _PRICE,
        fields=_video_fields(with_aspect=False),
        media=(video(label="Source video", formats=("mp4", "mov", "webm")),),
        prompt_max_chars=800,
        unconfirmed=(_ROUTED, "Source video limits are not published; 100 MB assumed."),
    ),
)
