from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.base import GenerationRequest, MediaInfo, MediaInput, Mode, RequestValidationError
from providers.catalog import (
    FIELD_TYPES,
    MEDIA_KINDS,
    PROVIDER_ORDER,
    ModelSpec,
    _parse_size,
    all_models,
    default_model,
    default_prices,
    estimate_cost,
    get_model,
    models_for,
    price_key,
    validate_request,
)
from providers.docs import render
from providers.registry import PROVIDERS

# The ids the vendor notes list (shared/providers/*.md); a typo here means a vendor 404 at submit.
EXPECTED_IDS = {
    "fal": {
        ("wan/v2.6/text-to-video", Mode.T2V),
        ("wan/v2.6/image-to-video", Mode.I2V),
        ("wan/v2.6/image-to-video/flash", Mode.I2V),
        ("wan/v2.6/reference-to-video", Mode.R2V),
        ("wan/v2.6/reference-to-video/flash", Mode.R2V),
        ("wan/v2.6/text-to-image", Mode.T2I),
        ("wan/v2.6/image-to-image", Mode.EDIT),
        ("fal-ai/wan-25-preview/text-to-video", Mode.T2V),
        ("fal-ai/wan-25-preview/image-to-video", Mode.I2V),
        ("fal-ai/wan-25-preview/text-to-image", Mode.T2I),
        ("fal-ai/wan-25-preview/image-to-image", Mode.EDIT),
        ("fal-ai/wan/v2.2-a14b/text-to-video", Mode.T2V),
        ("fal-ai/wan/v2.2-a14b/text-to-video/lora", Mode.T2V),
        ("fal-ai/wan/v2.2-a14b/text-to-video/turbo", Mode.T2V),
        ("fal-ai/wan/v2.2-a14b/image-to-video", Mode.I2V),
        ("fal-ai/wan/v2.2-a14b/image-to-video/lora", Mode.I2V),
        ("fal-ai/wan/v2.2-a14b/image-to-video/turbo", Mode.I2V),
        ("fal-ai/wan/v2.2-a14b/video-to-video", Mode.V2V),
        ("fal-ai/wan/v2.2-a14b/text-to-image", Mode.T2I),
        ("fal-ai/wan/v2.2-a14b/text-to-image/lora", Mode.T2I),
        ("fal-ai/wan/v2.2-a14b/image-to-image", Mode.EDIT),
        ("fal-ai/wan/v2.2-14b/speech-to-video", Mode.S2V),
    },
    "dashscope": {
        ("wan2.6-t2v", Mode.T2V),
        ("wan2.6-i2v", Mode.I2V),
        ("wan2.6-i2v-flash", Mode.I2V),
        ("wan2.6-r2v", Mode.R2V),
        ("wan2.6-r2v-flash", Mode.R2V),
        ("wan2.6-t2i", Mode.T2I),
        ("wan2.6-image", Mode.EDIT),
    },
    "aimlapi": {
        ("alibaba/wan-2-6-t2v", Mode.T2V),
        ("alibaba/wan-2-6-i2v", Mode.I2V),
        ("alibaba/wan-2-6-image-to-video-flash", Mode.I2V),
        ("alibaba/wan-2-6-r2v", Mode.R2V),
        ("alibaba/wan-2-6-image", Mode.T2I),
        ("alibaba/wan-2-6-image", Mode.EDIT),
    },
    "apimart": {
        ("wan2.6", Mode.T2V),
        ("wan2.6", Mode.I2V),
        ("wan2.6-i2v-flash", Mode.I2V),
        ("wan2.5-preview", Mode.T2V),
        ("wan2.5-preview", Mode.I2V),
    },
    "lumenfall": {
        ("wan-2.6", Mode.T2I),
        ("wan-2.6", Mode.EDIT),
        ("wan-2.6", Mode.T2V),
        ("wan-2.6", Mode.I2V),
        ("wan-2.6", Mode.V2V),
    },
    "simulator": {("wan-sim", mode) for mode in Mode},
}
NORMALISED = {
    "negative_prompt",
    "seed",
    "size",
    "aspect_ratio",
    "resolution",
    "duration",
    "audio",
    "multi_shot",
    "prompt_expansion",
    "safety_checker",
    "watermark",
    "num_outputs",
    "loras",
    "strength",
    "num_frames",
    "fps",
}
# Vendor spellings of normalised concepts must never appear as catalog field names.
VENDOR_SPELLINGS = {
    "enable_prompt_expansion",
    "prompt_extend",
    "enhance_prompt",
    "enable_safety_checker",
    "multi_shots",
    "shot_type",
    "generate_audio",
    "enable_audio",
    "num_images",
    "max_images",
    "n",
    "image_size",
    "seconds",
    "frames_per_second",
}

ALL = all_models()


def spec_id(spec: ModelSpec) -> str:
    return f"{spec.provider}:{spec.model_id}:{spec.mode.value}"


def request(provider: str, model: str, mode: Mode | None = None, prompt: str = "a red fox", **kw: Any):
    inputs = kw.pop("inputs", [])
    return GenerationRequest(
        provider=provider, model=model, mode=mode, prompt=prompt, params=kw, inputs=inputs
    )


def errors_of(req: GenerationRequest) -> dict[str, list[str]]:
    with pytest.raises(RequestValidationError) as exc:
        validate_request(req)
    return exc.value.errors


def png(
    slot: str = "image", *, width: int = 1024, height: int = 1024, size: int = 500_000, alpha: bool = False
):
    info = MediaInfo("image", "png", "image/png", size, width=width, height=height, has_alpha=alpha)
    return MediaInput(slot=slot, content_type="image/png", data=b"x", info=info)


def mp4(slot: str = "video", *, seconds: float = 5, fps: float = 24, size: int = 5_000_000):
    info = MediaInfo("video", "mp4", "video/mp4", size, width=1280, height=720, duration=seconds, fps=fps)
    return MediaInput(slot=slot, content_type="video/mp4", info=info)


def wav(slot: str = "audio", *, seconds: float = 5, size: int = 500_000):
    return MediaInput(
        slot=slot,
        content_type="audio/wav",
        info=MediaInfo("audio", "wav", "audio/wav", size, duration=seconds),
    )


# ---- every entry is internally consistent -------------------------------------------------------


def test_it_lists_exactly_the_model_ids_of_the_vendor_files():
    for provider, expected in EXPECTED_IDS.items():
        assert {(s.model_id, s.mode) for s in models_for(provider)} == expected, provider


def test_every_mode_has_a_simulator_entry_and_every_provider_is_in_the_registry():
    assert {s.mode for s in models_for("simulator")} == set(Mode)
    assert set(PROVIDER_ORDER) == set(PROVIDERS) == {s.provider for s in ALL}


@pytest.mark.parametrize("spec", ALL, ids=spec_id)
def test_every_field_is_well_formed_and_its_default_passes_its_own_checks(spec: ModelSpec):
    names = [f.name for f in spec.fields]
    assert len(names) == len(set(names)), "duplicate field"
    assert not VENDOR_SPELLINGS & set(names)
    for field in spec.fields:
        assert field.type in FIELD_TYPES
        assert field.label
        if field.type == "enum":
            assert field.choices, field.name
        if field.min is not None and field.max is not None:
            assert field.min <= field.max
        if field.default is not None:
            # The default must survive validation unchanged, as if the user had typed it.
            cleaned = validate_request(minimal_request(spec, {field.name: field.default})).params
            assert cleaned[field.name] == field.default, field.name
            assert type(cleaned[field.name]) is type(field.default)


@pytest.mark.parametrize("spec", ALL, ids=spec_id)
def test_every_media_slot_is_well_formed(spec: ModelSpec):
    names = [s.name for s in spec.media]
    assert len(names) == len(set(names))
    for slot in spec.media:
        assert slot.kind in MEDIA_KINDS
        assert slot.name in ("image", "end_image", "video", "audio")
        assert 0 <= slot.min_count <= slot.max_count
        assert all(f == f.lower() for f in slot.formats)
        if slot.min_px and slot.max_px:
            assert slot.min_px <= slot.max_px
    if spec.reference_count:
        low, high = spec.reference_count
        assert 0 < low <= high <= sum(s.max_count for s in spec.media)


@pytest.mark.parametrize("spec", ALL, ids=spec_id)
def test_every_entry_describes_its_mode(spec: ModelSpec):
    assert spec.outputs == ("video" if spec.mode.makes_video else "image")
    assert spec.family in ("2.6", "2.5", "2.2")
    required = {s.name for s in spec.media if s.min_count}
    if spec.mode in (Mode.I2V, Mode.EDIT, Mode.S2V):
        assert "image" in required
    if spec.mode == Mode.V2V:
        assert "video" in required
    if spec.mode == Mode.S2V:
        assert "audio" in required
    if spec.mode in (Mode.T2I, Mode.T2V):
        assert not required
    if spec.mode == Mode.R2V:
        assert required or spec.reference_count
    if spec.sync:
        assert not spec.mode.makes_video, "only image endpoints answer synchronously"


@pytest.mark.parametrize("spec", ALL, ids=spec_id)
def test_every_entry_prices_every_resolution_it_offers(spec: ModelSpec):
    rates = spec.price.rates()
    assert spec.price.note
    if not spec.mode.makes_video:
        assert "image" in rates
        return
    resolution = spec.field("resolution")
    for tier in resolution.choices if resolution else ():
        key = "video" if spec.price.per_video else "second"
        assert f"{key}:{tier.lower()}" in rates or f"{key}:*" in rates, tier
    assert estimate_cost(spec, spec.defaults()) > 0


@pytest.mark.parametrize("spec", ALL, ids=spec_id)
def test_every_entry_accepts_a_minimal_valid_request(spec: ModelSpec):
    cleaned = validate_request(minimal_request(spec, {}))
    assert cleaned.mode == spec.mode
    assert cleaned.params == spec.defaults()


def minimal_request(spec: ModelSpec, params: dict[str, Any]) -> GenerationRequest:
    inputs: list[MediaInput] = []
    for slot in spec.media:
        need = slot.min_count
        if spec.reference_count and not inputs and slot is spec.media[0]:
            need = max(need, spec.reference_count[0])
        for _ in range(need):
            make = {"image": png, "video": mp4, "audio": wav}[slot.kind]
            inputs.append(make(slot.name))
    return GenerationRequest(
        provider=spec.provider,
        model=spec.model_id,
        mode=spec.mode,
        prompt="a red fox",
        params=params,
        inputs=inputs,
    )


def test_the_simulator_offers_its_own_knobs_in_every_mode():
    for spec in models_for("simulator"):
        assert spec.field("sim_delay").default == 5.0 and spec.field("sim_delay").max == 300
        assert spec.field("sim_fault").default == "none"
        assert "result_expired" in spec.field("sim_fault").choices
        assert spec.field("sim_fault_count").default == 1 and spec.field("sim_fault_count").max == 10


# ---- lookups ---------------------------------------------------------------------------------


def test_it_finds_a_single_mode_model_without_a_mode():
    assert get_model("dashscope", "wan2.6-i2v-flash").mode == Mode.I2V


def test_it_needs_a_mode_where_one_model_id_serves_several():
    with pytest.raises(RequestValidationError) as exc:
        get_model("lumenfall", "wan-2.6")
    assert "several modes" in exc.value.errors["mode"][0]
    assert get_model("lumenfall", "wan-2.6", "v2v").mode == Mode.V2V


@pytest.mark.parametrize(
    ("provider", "model", "mode", "key", "words"),
    [
        ("nope", "x", None, "provider", "Unknown provider 'nope'"),
        ("fal", "wan/v9/magic", None, "model", "has no model 'wan/v9/magic'"),
        ("dashscope", "wan2.6-t2v", "i2v", "mode", "does not do i2v"),
        ("lumenfall", "wan-2.6", "s2v", "mode", "does not do s2v"),
        ("simulator", "wan-sim", "dance", "mode", "Unknown mode 'dance'"),
    ],
)
def test_it_names_what_is_unknown(provider, model, mode, key, words):
    with pytest.raises(RequestValidationError) as exc:
        get_model(provider, model, mode)
    assert words in exc.value.errors[key][0]


def test_the_simulator_model_may_be_left_out():
    assert get_model("simulator", "", "s2v").key == ("simulator", "wan-sim", Mode.S2V)
    assert default_model("simulator", Mode.R2V).model_id == "wan-sim"


def test_default_models_prefer_the_newest_standard_model():
    assert default_model("fal", "i2v").model_id == "wan/v2.6/image-to-video"
    assert default_model("fal", "v2v").model_id == "fal-ai/wan/v2.2-a14b/video-to-video"
    with pytest.raises(RequestValidationError):
        default_model("apimart", "t2i")


# ---- coercion --------------------------------------------------------------------------------


def test_it_coerces_form_strings_to_the_field_types():
    cleaned = validate_request(
        request(
            "simulator",
            "wan-sim",
            Mode.T2V,
            duration="10",
            audio="true",
            multi_shot="off",
            seed=" 42 ",
            aspect_ratio="16:9",
            sim_delay="0.5",
            sim_fault="TIMEOUT",
            fps=24.0,
        )
    ).params
    assert cleaned["duration"] == 10 and cleaned["seed"] == 42 and cleaned["fps"] == 24
    assert cleaned["audio"] is True and cleaned["multi_shot"] is False
    assert cleaned["sim_delay"] == 0.5 and cleaned["sim_fault"] == "timeout"


def test_it_fills_defaults_and_treats_empty_form_values_as_not_given():
    cleaned = validate_request(request("fal", "wan/v2.6/image-to-video", seed="", inputs=[png()])).params
    assert "seed" not in cleaned
    assert cleaned["resolution"] == "1080p" and cleaned["duration"] == 5 and cleaned["multi_shot"] is False


def test_it_parses_loras_from_json_text():
    loras = '[{"path": "https://example.com/a.safetensors", "scale": 0.8}]'
    cleaned = validate_request(request("fal", "fal-ai/wan/v2.2-a14b/text-to-video/lora", loras=loras)).params
    assert cleaned["loras"] == [{"path": "https://example.com/a.safetensors", "scale": 0.8}]


def test_it_returns_the_catalog_model_id_and_leaves_the_callers_request_alone():
    original = request("simulator", "", Mode.T2I, num_outputs="2")
    cleaned = validate_request(original)
    assert cleaned.model == "wan-sim" and cleaned.params["num_outputs"] == 2
    assert original.params == {"num_outputs": "2"}


# ---- each kind of error --------------------------------------------------------------------------


def test_it_refuses_a_prompt_over_the_model_limit():
    errors = errors_of(request("fal", "wan/v2.6/text-to-video", prompt="x" * 912))
    assert errors == {"prompt": ["Prompt is 912 characters; this model takes at most 800."]}


def test_it_refuses_a_missing_prompt_only_where_the_model_needs_one():
    assert "prompt" in errors_of(request("fal", "wan/v2.6/text-to-video", prompt="  "))
    validate_request(request("dashscope", "wan2.6-i2v-flash", prompt="", inputs=[png()]))


def test_it_refuses_a_negative_prompt_over_the_model_limit():
    errors = errors_of(request("dashscope", "wan2.6-t2v", negative_prompt="n" * 501))
    assert errors["negative_prompt"] == ["Negative prompt is 501 characters; this model takes at most 500."]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"duration": 7}, "duration", "Duration must be one of 5s, 10s, 15s (got 7s)."),
        ({"duration": "five"}, "duration", "Duration must be a whole number (got 'five')."),
        ({"seed": 2**31}, "seed", "Seed is 2147483648; this model takes at most 2147483647."),
        ({"resolution": "ultra"}, "resolution", "Resolution must be one of 720p, 1080p (got 'ultra')."),
        ({"multi_shot": "maybe"}, "multi_shot", "Multi-shot must be true or false (got 'maybe')."),
        ({"steps": 3}, "steps", "Wan 2.6 text to video does not take 'steps'."),
    ],
)
def test_it_refuses_bad_values_naming_the_limit(params, field, message):
    assert errors_of(request("fal", "wan/v2.6/text-to-video", **params)) == {field: [message]}


def test_it_refuses_a_float_out_of_range_and_a_frame_count_off_its_step():
    errors = errors_of(
        request("fal", "fal-ai/wan/v2.2-14b/speech-to-video", num_frames=42, inputs=[png(), wav()])
    )
    assert errors["num_frames"] == ["Frames must be a multiple of 4 (got 42)."]
    errors = errors_of(request("simulator", "wan-sim", Mode.T2V, sim_delay="301"))
    assert errors["sim_delay"] == ["Simulated time is 301s; this model takes at most 300s."]


def test_it_refuses_a_free_size_outside_the_pixel_range():
    errors = errors_of(request("dashscope", "wan2.6-t2i", size="1024x1024"))
    assert "this model needs at least 1638400" in errors["size"][0]


def test_it_refuses_malformed_loras():
    errors = errors_of(request("fal", "fal-ai/wan/v2.2-a14b/text-to-image/lora", loras='[{"scale": 1}]'))
    assert errors["loras"] == ['LoRAs item 1 needs a "path" (a URL or Hugging Face repo).']
    errors = errors_of(request("fal", "fal-ai/wan/v2.2-a14b/text-to-image/lora", loras="{not json"))
    assert "must be JSON" in errors["loras"][0]


def test_it_refuses_too_few_and_too_many_media_files():
    assert errors_of(request("fal", "wan/v2.6/image-to-video")) == {
        "image": ["First frame: this model needs at least 1 (got 0)."]
    }
    errors = errors_of(request("fal", "wan/v2.6/image-to-image", inputs=[png() for _ in range(4)]))
    assert errors == {"image": ["Image: this model takes at most 3 (got 4)."]}


def test_it_refuses_media_in_a_slot_the_model_does_not_have():
    errors = errors_of(request("fal", "wan/v2.6/text-to-video", inputs=[png()]))
    assert errors["image"] == ["Wan 2.6 text to video takes no 'image' input (it takes: audio)."]


def test_it_checks_each_file_against_the_slot_limits():
    big_alpha = png(width=200, height=2400, size=30 * 1024 * 1024, alpha=True)
    errors = errors_of(request("fal", "wan/v2.6/image-to-video", inputs=[big_alpha, wav(seconds=31)]))
    assert errors["image"] == [
        "First frame is 30 MB; this model takes at most 25 MB.",
        "First frame is 200x2400 px; each side must be at least 360 px.",
        "First frame is 200x2400 px; each side must be at most 2000 px.",
        "First frame has transparency (an alpha channel); this model takes only opaque images.",
    ]
    assert errors["audio"] == ["Custom audio is 31.0 s long; this model takes at most 30 s."]


def test_it_checks_format_and_fps_and_numbers_files_in_a_multi_file_slot():
    gif = MediaInput(
        slot="video", content_type="video/webm", info=MediaInfo("video", "webm", "video/webm", 10)
    )
    errors = errors_of(request("dashscope", "wan2.6-r2v", inputs=[mp4(), gif]))
    assert errors["video"] == ["Reference video 2 is WEBM; this model takes MP4, MOV."]
    errors = errors_of(request("fal", "wan/v2.6/reference-to-video", inputs=[mp4(fps=12)]))
    assert errors["video"] == ["Reference video 1 is 12 fps; this model needs at least 16 fps."]


def test_it_checks_only_count_and_content_type_when_the_file_was_not_probed():
    unprobed = MediaInput(slot="image", content_type="image/gif", data=b"GIF89a")
    errors = errors_of(request("fal", "wan/v2.6/image-to-video", inputs=[unprobed]))
    assert errors["image"] == ["First frame is GIF; this model takes JPEG, PNG, BMP, WEBP."]
    wrong_kind = MediaInput(slot="image", content_type="audio/mpeg")
    errors = errors_of(request("fal", "wan/v2.6/image-to-video", inputs=[wrong_kind]))
    assert errors["image"] == ["First frame is an audio file; this slot takes image files."]
    validate_request(
        request("fal", "wan/v2.6/image-to-video", inputs=[MediaInput(slot="image", content_type="")])
    )


def test_it_applies_the_total_reference_rule_across_slots():
    too_many = [mp4(), mp4(), png(), png(), png(), png()]
    errors = errors_of(request("fal", "wan/v2.6/reference-to-video/flash", inputs=too_many))
    assert errors == {
        "__all__": ["This model takes at most 5 reference files (video and image together); got 6."]
    }
    assert "__all__" in errors_of(request("fal", "wan/v2.6/reference-to-video/flash"))


def test_it_collects_every_error_at_once():
    errors = errors_of(
        request(
            "fal",
            "wan/v2.6/image-to-video",
            prompt="x" * 801,
            negative_prompt="n" * 501,
            duration=3,
            bogus=True,
            inputs=[png(alpha=True), wav(), wav()],
        )
    )
    assert set(errors) == {"prompt", "negative_prompt", "duration", "bogus", "image", "audio"}


# ---- nearest mapping ------------------------------------------------------------------------------


def test_it_maps_a_size_to_aspect_ratio_and_resolution():
    cleaned = validate_request(request("fal", "wan/v2.6/text-to-video", size="1280x720")).params
    assert (cleaned["aspect_ratio"], cleaned["resolution"]) == ("16:9", "720p")
    assert "size" not in cleaned


def test_it_maps_an_aspect_ratio_to_the_nearest_listed_one():
    assert (
        validate_request(request("fal", "wan/v2.6/text-to-video", aspect_ratio="21:9")).params["aspect_ratio"]
        == "16:9"
    )
    assert (
        validate_request(request("fal", "wan/v2.6/text-to-video", aspect_ratio="2:3")).params["aspect_ratio"]
        == "3:4"
    )


def test_it_maps_a_resolution_to_the_nearest_listed_one_in_the_models_spelling():
    cleaned = validate_request(
        request("fal", "fal-ai/wan/v2.2-a14b/text-to-video", resolution="1080p")
    ).params
    assert cleaned["resolution"] == "720p"
    assert (
        validate_request(request("fal", "wan/v2.6/text-to-video", resolution="720P")).params["resolution"]
        == "720p"
    )
    assert (
        validate_request(request("fal", "wan/v2.6/text-to-video", resolution="4K")).params["resolution"]
        == "1080p"
    )


def test_it_maps_a_dashscope_size_to_the_nearest_listed_size_by_aspect_then_area():
    def size(**params: Any) -> str:
        return validate_request(request("dashscope", "wan2.6-t2v", **params)).params["size"]

    assert size(size="1920*1080") == "1920x1080"
    assert size(size="1300x700") == "1280x720"
    assert size(size="2560x1440") == "1920x1080"
    assert size(size="1000x1000") == "960x960"
    assert size(aspect_ratio="9:16", resolution="1080p") == "1080x1920"
    assert size(aspect_ratio="4:3") == "1088x832"  # tier of the default size, 720p
    assert size(size="1920x1080", aspect_ratio="1:1") == "1920x1080"  # an explicit size wins


def test_it_maps_a_size_to_resolution_only_where_the_image_sets_the_aspect():
    cleaned = validate_request(request("dashscope", "wan2.6-i2v", size="1280x720", inputs=[png()])).params
    assert cleaned["resolution"] == "720p" and "aspect_ratio" not in cleaned


def test_it_builds_a_free_size_from_an_aspect_ratio_and_a_tier():
    cleaned = validate_request(
        request("simulator", "wan-sim", Mode.T2I, aspect_ratio="16:9", resolution="1K")
    ).params
    width, height = _parse_size(cleaned["size"])
    assert abs(width / height - 16 / 9) < 0.02 and abs(width * height - 1024 * 1024) < 40_000


def test_it_reads_a_ratio_given_as_size_as_an_aspect_ratio():
    cleaned = validate_request(request("simulator", "wan-sim", Mode.T2I, size="1:1")).params
    assert cleaned["size"] == "1024x1024"
    cleaned = validate_request(request("fal", "wan/v2.6/text-to-video", size="9:16")).params
    assert cleaned["aspect_ratio"] == "9:16"


def test_it_keeps_an_exact_lumenfall_image_size_and_adds_no_unchosen_ratio_or_tier():
    # lumenfall.md §3.1: a WxH size is the most specific and wins; nothing the user did not choose is added.
    cleaned = validate_request(request("lumenfall", "wan-2.6", Mode.T2I, size="1280x720")).params
    assert cleaned["size"] == "1280x720"
    assert "aspect_ratio" not in cleaned and "resolution" not in cleaned


# ---- pricing ---------------------------------------------------------------------------------------


def test_it_prices_video_per_second_by_resolution():
    spec = get_model("fal", "wan/v2.6/text-to-video")
    assert estimate_cost(spec, {"duration": 10, "resolution": "720p"}) == Decimal("1.0000")
    assert estimate_cost(spec, {"duration": 5, "resolution": "1080p"}) == Decimal("0.7500")


def test_it_prices_dashscope_video_by_the_tier_of_its_size():
    spec = get_model("dashscope", "wan2.6-t2v")
    assert estimate_cost(spec, {"size": "1080x1920", "duration": 10}) == Decimal("1.5000")
    assert estimate_cost(spec, {"size": "960x960", "duration": 10}) == Decimal("1.0000")


def test_it_prices_frames_as_seconds_and_turbo_per_video():
    spec = get_model("fal", "fal-ai/wan/v2.2-a14b/text-to-video")
    assert estimate_cost(spec, {"num_frames": 81, "fps": 16, "resolution": "480p"}) == Decimal("0.2025")
    assert estimate_cost(get_model("fal", "fal-ai/wan/v2.2-a14b/text-to-video/turbo"), {}) == Decimal(
        "0.1000"
    )


def test_it_prices_images_per_output():
    spec = get_model("dashscope", "wan2.6-t2i")
    assert estimate_cost(spec, {"num_outputs": 3}) == Decimal("0.0900")


def test_admin_overrides_replace_the_unit_price():
    spec = get_model("fal", "wan/v2.6/text-to-video")
    params = {"duration": 5, "resolution": "720p"}
    key = price_key(spec, params)
    assert key == "fal:wan/v2.6/text-to-video:t2v:second:720p"
    assert key in default_prices()
    assert estimate_cost(spec, params, overrides={key: Decimal("0.2")}) == Decimal("1.0000")


def test_the_simulator_has_a_small_fake_price():
    assert estimate_cost(get_model("simulator", "wan-sim", Mode.T2V), {"duration": 3}) == Decimal("0.0300")


# ---- docs ----------------------------------------------------------------------------------------------


def test_the_docs_page_lists_every_model_and_the_how_to():
    page = render()
    for spec in ALL:
        assert f"`{spec.model_id}` ({spec.mode.value})" in page
    assert "## How to add a model" in page


def test_the_committed_docs_page_is_up_to_date():
    # Regenerate with: .venv/bin/python -m providers.docs > docs/PROVIDERS.md
    committed = Path(__file__).resolve().parents[2] / "docs" / "PROVIDERS.md"
    assert committed.read_text() == render()


# ---- anything goes in, only RequestValidationError comes out ----------------------------------------

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["true", "16:9", "1280x720", "720P", "1e400", "nan", "5.0", "[]", '[{"path": 1}]', "0:0", "0x0"]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
_names = st.one_of(
    st.sampled_from(
        sorted(NORMALISED | {"sim_delay", "sim_fault", "sim_fault_count", "shift", "acceleration"})
    ),
    st.text(max_size=10),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.sampled_from(ALL), data=st.data(), prompt=st.text(max_size=50))
def test_validation_of_arbitrary_params_raises_only_request_validation_errors(spec, data, prompt):
    # Mostly the entry's own field names, so values reach every converter and range check.
    names = st.one_of(st.sampled_from([f.name for f in spec.fields] or ["seed"]), _names)
    params = data.draw(st.dictionaries(names, _values, max_size=6))
    req = minimal_request(spec, params)
    req.prompt = prompt
    try:
        cleaned = validate_request(req)
    except RequestValidationError as exc:
        assert exc.errors and all(isinstance(m, str) for ms in exc.errors.values() for m in ms)
    else:
        assert estimate_cost(spec, cleaned.params) >= 0
