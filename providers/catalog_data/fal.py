"""fal.ai Wan endpoints (shared/providers/fal.md §6). Model ids are fal endpoint ids.

Client translations: duration is sent as a string ("5"); `prompt_expansion` -> `enable_prompt_expansion`,
`safety_checker` -> `enable_safety_checker`, `multi_shot` -> `multi_shots`, `audio` -> `enable_audio`
(R2V flash), `num_outputs` -> `max_images` (2.6 T2I) or `num_images`, `size` -> `image_size`
`{"width", "height"}`, `fps` -> `frames_per_second`; media slots `image` -> `image_url` (edit:
`image_urls`, R2V flash: `image_urls`), `end_image` -> `end_image_url`, `video` -> `video_url`
(R2V: `video_urls`), `audio` -> `audio_url`.
"""

from __future__ import annotations

from providers.base import Mode
from providers.catalog import ModelSpec, SizeLimits
from providers.catalog_data.common import (
    ASPECTS,
    HD,
    aspect_ratio,
    audio,
    duration,
    enum,
    first_frame,
    flag,
    generate_audio,
    image,
    loras,
    multi_shot,
    negative_prompt,
    num_outputs,
    number,
    per_image,
    per_second,
    per_video,
    prompt_expansion,
    resolution,
    safety_checker,
    seed,
    size_free,
    strength,
    video,
)

P = "fal"

# ---- Wan 2.6 --------------------------------------------------------------------------------

_V26_UNCONFIRMED_DEFAULTS = "Default resolution and duration are not in fal's types; we always send them."
_V26_PRICE = per_second({"720p": "0.10", "1080p": "0.15"})
_V26_FLASH_PRICE = per_second({"720p": "0.05", "1080p": "0.075"})


def _v26_video_fields(
    durations: tuple[int, ...] = (5, 10, 15), *, with_aspect: bool = True, multi: bool = False
):
    fields = [
        negative_prompt(500),
        duration(durations),
        resolution(HD, "1080p"),
    ]
    if with_aspect:
        fields.append(aspect_ratio(ASPECTS))
    fields += [prompt_expansion(True), multi_shot(multi), seed(), safety_checker(True)]
    return tuple(fields)


# fal.md §6: "pixel range stated both as 360-2000 and 240-7680 on the same page (use 360-2000 to be safe)".
_V26_FIRST_FRAME = first_frame(max_mb=25, min_px=360, max_px=2000)
_V26_I2V_UNCONFIRMED = (
    "First-frame pixel range: fal's page says both 360-2000 and 240-7680 px; we use 360-2000.",
)

_WAN26 = (
    ModelSpec(
        P,
        "wan/v2.6/text-to-video",
        Mode.T2V,
        "Wan 2.6 text to video",
        "2.6",
        _V26_PRICE,
        fields=_v26_video_fields(multi=True),
        media=(audio(),),
        prompt_max_chars=800,
        unconfirmed=(_V26_UNCONFIRMED_DEFAULTS,),
        notes=("multi_shot (fal default on) only works with prompt expansion on.",),
    ),
    ModelSpec(
        P,
        "wan/v2.6/image-to-video",
        Mode.I2V,
        "Wan 2.6 image to video",
        "2.6",
        _V26_PRICE,
        fields=_v26_video_fields(with_aspect=False),
        media=(_V26_FIRST_FRAME, audio()),
        prompt_max_chars=800,
        unconfirmed=_V26_I2V_UNCONFIRMED,
    ),
    ModelSpec(
        P,
        "wan/v2.6/image-to-video/flash",
        Mode.I2V,
        "Wan 2.6 image to video (flash)",
        "2.6",
        _V26_FLASH_PRICE,
        variant="flash",
        fields=_v26_video_fields(with_aspect=False),
        media=(_V26_FIRST_FRAME, audio()),
        prompt_max_chars=800,
        unconfirmed=_V26_I2V_UNCONFIRMED,
    ),
    ModelSpec(
        P,
        "wan/v2.6/reference-to-video",
        Mode.R2V,
        "Wan 2.6 reference to video",
        "2.6",
        _V26_PRICE,
        fields=_v26_video_fields((5, 10)),
        media=(
            video(
                label="Reference video",
                max_count=3,
                min_fps=16,
                formats=("mp4", "mov", "webm"),
                help="One character per video; refer to them as @Video1..@Video3 in the prompt.",
            ),
        ),
        prompt_max_chars=800,
        unconfirmed=(_V26_UNCONFIRMED_DEFAULTS, "Reference video formats and size cap are not published."),
        notes=("Refer to the reference videos as @Video1, @Video2, @Video3 in the prompt, in upload order.",),
    ),
    ModelSpec(
        P,
        "wan/v2.6/reference-to-video/flash",
        Mode.R2V,
        "Wan 2.6 reference to video (flash)",
        "2.6",
        _V26_FLASH_PRICE,
        variant="flash",
        fields=(*_v26_video_fields((5, 10)), generate_audio(True)),
        media=(
            video(
                label="Reference video", min_count=0, max_count=3, min_fps=16, formats=("mp4", "mov", "webm")
            ),
            image(label="Reference image", min_count=0, max_count=5, max_mb=10, min_px=240, max_px=5000),
        ),
        reference_count=(1, 5),
        prompt_max_chars=1500,
        unconfirmed=(
            _V26_UNCONFIRMED_DEFAULTS,
            "At least one reference is assumed to be needed (fal lists both lists as optional).",
        ),
        notes=("Refer to references as Character1, Character2, ... in the prompt, in upload order.",),
    ),
    ModelSpec(
        P,
        "wan/v2.6/text-to-image",
        Mode.T2I,
        "Wan 2.6 text to image",
        "2.6",
        per_image("0.03"),
        fields=(
            negative_prompt(500),
            # Size limits are not in fal.md for this endpoint; these are DashScope's wan2.6-t2i limits.
            size_free(
                SizeLimits(512, 2880, min_pixels=1280 * 1280, max_pixels=1440 * 1440, max_ratio=4),
                "1280x1280",
                unconfirmed=True,
            ),
            num_outputs(1, 5),
            seed(),
            safety_checker(True),
        ),
        media=(
            image(
                label="Style reference",
                min_count=0,
                max_count=1,
                max_mb=10,
                min_px=384,
                max_px=5000,
                help="Optional image to take style or content from.",
            ),
        ),
        prompt_max_chars=2000,
        unconfirmed=(
            "Output size limits are taken from DashScope's wan2.6-t2i (1280x1280 to 1440x1440 pixels).",
        ),
        notes=("No prompt expansion in this mode. The response may carry generated_text.",),
    ),
    ModelSpec(
        P,
        "wan/v2.6/image-to-image",
        Mode.EDIT,
        "Wan 2.6 image edit",
        "2.6",
        per_image("0.03"),
        fields=(
            negative_prompt(500),
            size_free(SizeLimits(384, 1280, min_pixels=768 * 768, max_pixels=1280 * 1280), None),
            num_outputs(1, 4),
            prompt_expansion(True),
            seed(),
            safety_checker(True),
        ),
        media=(
            image(
                label="Image",
                max_count=3,
                max_mb=10,
                min_px=384,
                max_px=5000,
                help='Refer to them as "image 1", "image 2", "image 3" in the prompt.',
            ),
        ),
        prompt_max_chars=2000,
    ),
)

# ---- Wan 2.5 preview ------------------------------------------------------------------------

_V25_PRICE = per_second({"480p": "0.05", "720p": "0.10", "1080p": "0.15"})
_V25_LIMITS = "fal.md gives no prompt/negative-prompt limit here; 800/500 assumed as for Wan 2.6."

_WAN25 = (
    ModelSpec(
        P,
        "fal-ai/wan-25-preview/text-to-video",
        Mode.T2V,
        "Wan 2.5 preview text to video",
        "2.5",
        _V25_PRICE,
        variant="preview",
        fields=(
            negative_prompt(500),
            duration((5, 10)),
            resolution(("480p", "720p", "1080p"), "1080p"),
            aspect_ratio(("16:9", "9:16", "1:1")),
            prompt_expansion(True),
            seed(),
            safety_checker(True),
        ),
        media=(audio(),),
        prompt_max_chars=800,
        unconfirmed=(_V25_LIMITS,),
    ),
    ModelSpec(
        P,
        "fal-ai/wan-25-preview/image-to-video",
        Mode.I2V,
        "Wan 2.5 preview image to video",
        "2.5",
        _V25_PRICE,
        variant="preview",
        fields=(
            negative_prompt(500),
            duration((5, 10)),
            resolution(("480p", "720p", "1080p"), "1080p"),
            prompt_expansion(True),
            seed(),
        ),
        media=(first_frame(max_mb=25, min_px=360, max_px=2000), audio()),
        prompt_max_chars=800,
        unconfirmed=(_V25_LIMITS,),
    ),
    ModelSpec(
        P,
        "fal-ai/wan-25-preview/text-to-image",
        Mode.T2I,
        "Wan 2.5 preview text to image",
        "2.5",
        per_image("0.05"),
        variant="preview",
        fields=(
            negative_prompt(500),
            size_free(
                SizeLimits(384, 2880, min_pixels=768 * 768, max_pixels=1440 * 1440, max_ratio=4), "1024x1024"
            ),
            num_outputs(1, 4),
            prompt_expansion(True),
            seed(),
        ),
        unconfirmed=("Prompt length limit not published.",),
    ),
    ModelSpec(
        P,
        "fal-ai/wan-25-preview/image-to-image",
        Mode.EDIT,
        "Wan 2.5 preview image edit",
        "2.5",
        per_image("0.05"),
        variant="preview",
        fields=(size_free(SizeLimits(384, 1440), None), num_outputs(1, 4)),
        media=(
            image(
                label="Image",
                max_count=2,
                max_mb=10,
                min_px=384,
                max_px=1440,
                help="fal uses only the first two images.",
            ),
        ),
        unconfirmed=(
            "Only prompt, images, num_images and image_size were captured; other fields may exist.",
            "Input image byte cap not published; 10 MB assumed.",
        ),
    ),
)

# ---- Wan 2.2 A14B ---------------------------------------------------------------------------

_V22_RES = ("480p", "580p", "720p")
_V22_PRICE = per_second({"480p": "0.04", "580p": "0.06", "720p": "0.08"})
_V22_TURBO_PRICE = per_video({"480p": "0.05", "580p": "0.075", "720p": "0.10"})
_V22_NOTE = "Output length is num_frames / fps (81 frames at 16 fps is about 5 s)."
_V22_RANGES = "guidance_scale ranges are not in fal.md; 1-10 assumed."


def _v22_tuning(*, guidance_2: float = 4.0) -> tuple:
    """The fal 2.2 A14B knobs (fal.md §6 "Common video fields"); vendor names, folded in the UI."""
    return (
        number("num_inference_steps", "int", "Inference steps", 27, 2, 40, advanced=True),
        enum("acceleration", "Acceleration", ("none", "regular"), "regular", advanced=True),
        number("guidance_scale", "float", "Guidance scale", 3.5, 1, 10, advanced=True, unconfirmed=True),
        number(
            "guidance_scale_2",
            "float",
            "Guidance scale (low noise)",
            guidance_2,
            1,
            10,
            advanced=True,
            unconfirmed=True,
        ),
        number("shift", "float", "Shift", 5, 1, 10, advanced=True),
        enum("interpolator_model", "Frame interpolator", ("none", "film", "rife"), "film", advanced=True),
        number("num_interpolated_frames", "int", "Interpolated frames", 1, 0, 4, advanced=True),
        flag("adjust_fps_for_interpolation", "Adjust fps for interpolation", True, advanced=True),
        *_v22_output(),
    )


def _v22_output() -> tuple:
    return (
        enum("video_quality", "Video quality", ("low", "medium", "high", "maximum"), "high", advanced=True),
        enum(
            "video_write_mode", "Video write mode", ("fast", "balanced", "small"), "balanced", advanced=True
        ),
    )


def _v22_video(*, aspects: tuple[str, ...], aspect_default: str, guidance_2: float = 4.0, extra: tuple = ()):
    return (
        negative_prompt(None),
        number("num_frames", "int", "Frames", 81, 17, 121, help="Output length in frames."),
        number("fps", "int", "Frames per second", 16, 4, 60),
        resolution(_V22_RES, "720p"),
        aspect_ratio(aspects, aspect_default),
        prompt_expansion(False),
        seed(),
        safety_checker(True),
        *extra,
        *_v22_tuning(guidance_2=guidance_2),
    )


def _v22_turbo(*, aspects: tuple[str, ...], aspect_default: str):
    # fal.md: turbo takes "only prompt, seed, resolution, aspect_ratio, acceleration, safety/expansion,
    # video_quality/write_mode".
    return (
        resolution(_V22_RES, "720p"),
        aspect_ratio(aspects, aspect_default),
        prompt_expansion(False),
        seed(),
        safety_checker(True),
        enum("acceleration", "Acceleration", ("none", "regular"), "regular", advanced=True),
        *_v22_output(),
    )


_V22_T2V_ASPECTS = ("16:9", "9:16", "1:1")
_V22_I2V_ASPECTS = ("auto", "16:9", "9:16", "1:1")
_V22_FRAME = first_frame(max_mb=25, min_px=None, max_px=None, no_alpha=False)
_V22_END = image(
    "end_image",
    label="Last frame",
    min_count=0,
    max_mb=25,
    min_px=None,
    max_px=None,
    no_alpha=False,
    help="Optional image the video ends on.",
)
_V22_IMAGE_LIMITS = "Input image formats, pixel range and byte cap are not in fal.md; 25 MB assumed."
_REVERSE = flag("reverse_video", "Reverse video", False, advanced=True)
_V22_IMAGE_SIZE = SizeLimits(256, 2048, multiple_of=8)
_V22_SIZE_NOTE = "image_size bounds are not in fal.md; 256-2048 px per side, multiples of 8 assumed."

_WAN22 = (
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-a14b/text-to-video",
        Mode.T2V,
        "Wan 2.2 A14B text to video",
        "2.2",
        _V22_PRICE,
        fields=_v22_video(aspects=_V22_T2V_ASPECTS, aspect_default="16:9"),
        unconfirmed=(_V22_RANGES,),
        notes=(_V22_NOTE,),
    ),
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-a14b/text-to-video/lora",
        Mode.T2V,
        "Wan 2.2 A14B text to video with LoRAs",
        "2.2",
        _V22_PRICE,
        variant="LoRA",
        fields=_v22_video(aspects=_V22_T2V_ASPECTS, aspect_default="16:9", extra=(loras(), _REVERSE)),
        unconfirmed=(_V22_RANGES,),
        notes=(_V22_NOTE,),
    ),
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-a14b/text-to-video/turbo",
        Mode.T2V,
        "Wan 2.2 A14B text to video (turbo)",
        "2.2",
        _V22_TURBO_PRICE,
        variant="turbo",
        fields=_v22_turbo(aspects=_V22_T2V_ASPECTS, aspect_default="16:9"),
    ),
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-a14b/image-to-video",
        Mode.I2V,
        "Wan 2.2 A14B image to video",
        "2.2",
        _V22_PRICE,
        fields=_v22_video(aspects=_V22_I2V_ASPECTS, aspect_default="auto", guidance_2=3.5),
        media=(_V22_FRAME, _V22_END),
        unconfirmed=(_V22_RANGES, _V22_IMAGE_LIMITS, "The id is also seen spelled v2.2-a14B."),
        notes=(_V22_NOTE, "The first frame is resized and center-cropped to the aspect ratio."),
    ),
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-a14b/image-to-video/lora",
        Mode.I2V,
        "Wan 2.2 A14B image to video with LoRAs",
        "2.2",
        _V22_PRICE,
        variant="LoRA",
        fields=_v22_video(
            aspects=_V22_I2V_ASPECTS, aspect_default="auto", guidance_2=3.5, extra=(loras(), _REVERSE)
        ),
        media=(_V22_FRAME, _V22_END),
        unconfirmed=(_V22_RANGES, _V22_IMAGE_LIMITS),
        notes=(_V22_NOTE,),
    ),
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-a14b/image-to-video/turbo",
        Mode.I2V,
        "Wan 2.2 A14B image to video (turbo)",
        "2.2",
        _V22_TURBO_PRICE,
        variant="turbo",
        fields=_v22_turbo(aspects=_V22_I2V_ASPECTS, aspect_default="auto"),
        media=(_V22_FRAME, _V22_END),
        unconfirmed=(_V22_IMAGE_LIMITS,),
    ),
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-a14b/video-to-video",
        Mode.V2V,
        "Wan 2.2 A14B video to video",
        "2.2",
        _V22_PRICE,
        fields=_v22_video(
            aspects=_V22_I2V_ASPECTS,
            aspect_default="auto",
            extra=(
                strength(0.9),
                flag("resample_fps", "Resample fps", False, advanced=True, unconfirmed=True),
            ),
        ),
        media=(video(label="Source video", formats=("mp4", "mov", "webm")),),
        unconfirmed=(_V22_RANGES, "Source video limits are not in fal.md; 100 MB assumed."),
        notes=(_V22_NOTE,),
    ),
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-a14b/text-to-image",
        Mode.T2I,
        "Wan 2.2 A14B text to image",
        "2.2",
        per_image("0.025"),
        fields=(
            negative_prompt(None),
            size_free(_V22_IMAGE_SIZE, "1024x1024", help="Default square_hd (1024x1024)."),
            prompt_expansion(False),
            seed(),
            safety_checker(True),
            number("num_inference_steps", "int", "Inference steps", 27, 2, 40, advanced=True),
            number("guidance_scale", "float", "Guidance scale", 3.5, 1, 10, advanced=True, unconfirmed=True),
            number("shift", "float", "Shift", 2, 1, 10, advanced=True),
            enum("acceleration", "Acceleration", ("none", "regular"), "regular", advanced=True),
        ),
        unconfirmed=(_V22_SIZE_NOTE, _V22_RANGES),
    ),
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-a14b/text-to-image/lora",
        Mode.T2I,
        "Wan 2.2 A14B text to image with LoRAs",
        "2.2",
        per_image("0.025"),
        variant="LoRA",
        fields=(
            negative_prompt(None),
            size_free(_V22_IMAGE_SIZE, "1024x1024"),
            loras(),
            enum("image_format", "Image format", ("png", "jpeg"), "jpeg", advanced=True),
            prompt_expansion(False),
            seed(),
            safety_checker(True),
            number("num_inference_steps", "int", "Inference steps", 27, 2, 40, advanced=True),
            number("guidance_scale", "float", "Guidance scale", 3.5, 1, 10, advanced=True, unconfirmed=True),
            number("shift", "float", "Shift", 2, 1, 10, advanced=True),
        ),
        unconfirmed=(_V22_SIZE_NOTE, _V22_RANGES, "fal's schema also lists reverse_video here; not offered."),
    ),
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-a14b/image-to-image",
        Mode.EDIT,
        "Wan 2.2 A14B image to image",
        "2.2",
        per_image("0.025"),
        fields=(
            strength(0.5),
            aspect_ratio(_V22_I2V_ASPECTS, "auto"),
            size_free(_V22_IMAGE_SIZE, None),
            negative_prompt(None),
            prompt_expansion(False),
            seed(),
            safety_checker(True),
        ),
        media=(image(label="Image", max_mb=25, min_px=None, max_px=None, no_alpha=False),),
        unconfirmed=(_V22_SIZE_NOTE, _V22_IMAGE_LIMITS),
    ),
    ModelSpec(
        P,
        "fal-ai/wan/v2.2-14b/speech-to-video",
        Mode.S2V,
        "Wan 2.2 14B speech to video",
        "2.2",
        per_second({"480p": "0.10", "580p": "0.15", "720p": "0.20"}),
        fields=(
            number(
                "num_frames", "int", "Frames", 80, 40, 120, help="Output length in frames.", multiple_of=4
            ),
            number("fps", "int", "Frames per second", 16, 4, 60),
            resolution(_V22_RES, "480p"),
            negative_prompt(None, unconfirmed=True),
            seed(unconfirmed=True),
        ),
        media=(
            first_frame(max_mb=25, min_px=None, max_px=None, no_alpha=False, help="The person who speaks."),
            audio(
                label="Speech",
                min_count=1,
                min_seconds=None,
                max_seconds=None,
                max_mb=15,
                formats=("wav", "mp3", "m4a"),
                help="The voice track the video is lip-synced to.",
            ),
        ),
        unconfirmed=(
            "Audio and image limits are not in fal.md; 15 MB / 25 MB assumed.",
            "negative_prompt and seed are assumed from the other 2.2 endpoints.",
        ),
        notes=(_V22_NOTE,),
    ),
)

MODELS = (*_WAN26, *_WAN25, *_WAN22)
