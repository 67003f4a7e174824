"""AI/ML API (api.aimlapi.com) for Wan 2.6 (shared/providers/aimlapi.md).

Images (t2i and edit, one model) are synchronous: `POST /v1/images/generations` answers with the
images. Video is a queue: `POST /v2/video/generations`, then poll
`GET /v2/video/generations?generation_id=`. No webhooks and no cancel are documented (§2, §9).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from providers.base import (
    NORMALISED_PARAMS,
    ErrorCode,
    GenerationRequest,
    MediaInput,
    Mode,
    Output,
    ProviderError,
    Status,
    Submission,
    Update,
)
from providers.http import BearerClient, as_bool, error_for_status, error_json, json_object

DEFAULT_BASE_URL = "https://api.aimlapi.com"
# §1: the t2v spec also lists /v1/video/generations, but every Wan page and sample uses /v2.
VIDEO_PATH = "/v2/video/generations"
IMAGE_PATH = "/v1/images/generations"

# The image endpoint holds the connection while the image is made (upstream: 1-2 minutes).
SYNC_IMAGE_TIMEOUT = httpx.Timeout(connect=5.0, read=180.0, write=30.0, pool=5.0)

# §8 status mapping; there is no canceled state.
STATUSES: dict[str, Status] = {
    "queued": Status.QUEUED,
    "generating": Status.RUNNING,
    "completed": Status.SUCCEEDED,
    "error": Status.FAILED,
}

# https://docs.aimlapi.com/faq/how-can-i-track-my-funds: "$1 USD = 2,000,000 credits"; responses
# report `meta.usage.credits_used` (§5, §6). Not in the vendor file: check if aimlapi reprices.
CREDITS_PER_USD = Decimal(2_000_000)

# §6: `alibaba/wan-2-6-image` has no `num_images` (one image per call); older image models do.
SINGLE_IMAGE_MODELS = frozenset({"alibaba/wan-2-6-image"})

# §6 `image_size` presets for our aspect ratios.
IMAGE_SIZE_PRESETS = {
    "1:1": "square_hd",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
}


class AimlapiClient(BearerClient):
    """Wan 2.6 on AI/ML API: sync images, queued video."""

    name = "aimlapi"

    default_base_url = DEFAULT_BASE_URL

    def submit(self, request: GenerationRequest) -> Submission:
        """Queue a video, or make the images and return them finished; raises ProviderError."""
        state: dict[str, Any] = {"model": request.model, "mode": str(request.mode)}
        if request.params.get("seed") is not None:
            state["seed"] = int(request.params["seed"])
        if not request.mode.makes_video:
            state["output_kind"] = "image"
            response = self._send("POST", IMAGE_PATH, json=image_body(request), timeout=SYNC_IMAGE_TIMEOUT)
            update = parse_image_response(checked_json(response), sent_seed=state.get("seed"))
            # §6: the answer carries no id; make one so the job's vendor id stays unique.
            job_id = f"sync-{request.idempotency_key or uuid.uuid4().hex}"
            return Submission(self.name, vendor_job_id=job_id, state=state, update=update)

        state["output_kind"] = "video"
        response = self._send("POST", VIDEO_PATH, json=video_body(request))
        data = checked_json(response)
        # §5: the create answer has the poll schema (id, status, meta.usage.credits_used).
        generation_id = data.get("id")
        if not isinstance(generation_id, str) or not generation_id:
            raise ProviderError("AI/ML API accepted the video but sent no id", code=ErrorCode.BAD_RESPONSE)
        state["generation_id"] = generation_id
        credits = _credits_used(data)
        if credits is not None:
            state["credits_used"] = str(credits)
        update = None
        if data.get("status") in ("completed", "error"):
            # Only a finished answer is worth parsing here: the job exists now, so an odd status
            # must not raise (a retried submit would pay twice); the next poll will judge it.
            update = parse_video_response(data, sent_seed=state.get("seed"), credits_used=credits)
        return Submission(self.name, vendor_job_id=generation_id, state=state, update=update)

    def poll(self, submission: Submission) -> Update:
        """The generation's status and, once completed, the video URL; raises ProviderError."""
        if submission.state.get("output_kind") == "image":
            if submission.update is None:
                raise ProviderError(
                    "a synchronous AI/ML API image call has nothing to poll",
                    code=ErrorCode.NOT_FOUND,
                    transient=False,
                )
            return submission.update
        generation_id = submission.state.get("generation_id") or submission.vendor_job_id
        if not generation_id:
            raise ProviderError(
                "this AI/ML API submission has no generation id", code=ErrorCode.INVALID_REQUEST
            )
        response = self._send("GET", VIDEO_PATH, params={"generation_id": generation_id})
        credits = submission.state.get("credits_used")
        return parse_video_response(
            checked_json(response),
            sent_seed=submission.state.get("seed"),
            credits_used=Decimal(credits) if credits else None,
        )

    def cancel(self, submission: Submission) -> bool:
        """AI/ML API documents no cancel endpoint (§2, §9): nothing to ask."""
        return False


# ---------------------------------------------------------------------------------------------
# Request translation


def video_body(request: GenerationRequest) -> dict[str, Any]:
    """§4: a flat body; i2v adds `image_url`, r2v `video_urls`, t2v/i2v may add `audio_url`."""
    params = request.params
    body: dict[str, Any] = {"model": request.model, "prompt": request.prompt}
    if request.mode == Mode.I2V:
        frames = request.inputs_for("image") or [
            m for m in request.inputs if m.slot not in ("audio", "video")
        ]
        if not frames:
            raise ProviderError("image-to-video needs a first-frame image", code=ErrorCode.INVALID_REQUEST)
        # §4: "public URL or base64"; the base64 form is not shown, we send a data URI [?].
        body["image_url"] = media_ref(frames[0], field="image_url", data_uri_ok=True)
    elif request.mode == Mode.R2V:
        # §4: 1-3 URIs, one character each, named character1.. in this order; only URLs documented.
        refs = [m for m in request.inputs if m.slot != "audio"]
        if not refs:
            raise ProviderError("reference-to-video needs reference videos", code=ErrorCode.INVALID_REQUEST)
        body["video_urls"] = [media_ref(m, field="video_urls", data_uri_ok=False) for m in refs]
    audio = request.inputs_for("audio")
    if audio:
        body["audio_url"] = media_ref(audio[0], field="audio_url", data_uri_ok=False)

    if params.get("aspect_ratio") and request.mode != Mode.I2V:  # i2v follows the image (§4 table)
        body["aspect_ratio"] = str(params["aspect_ratio"])
    if params.get("resolution"):
        # Wan 2.6 wants "720p"/"1080p"; Wan 2.2 plus wants "1080P" (§4 notes), so keep 2.2's case.
        resolution = str(params["resolution"])
        body["resolution"] = resolution.upper() if "wan2.2" in request.model else resolution.lower()
    if params.get("duration") is not None:
        body["duration"] = int(params["duration"])  # §4: integer per schema, despite the "5" sample [?]
    if params.get("negative_prompt"):
        body["negative_prompt"] = params["negative_prompt"]
    if params.get("multi_shot") is not None:
        body["shot_type"] = "multi" if as_bool(params["multi_shot"]) else "single"
    if params.get("audio") is not None:
        body["generate_audio"] = as_bool(params["audio"])  # §4: ignored when audio_url is given
    _common_fields(params, body)
    _pass_through(params, body)
    return body


def image_body(request: GenerationRequest) -> dict[str, Any]:
    """§6: `prompt`, `image_urls` (edit), `image_size`, `num_images` (not on wan-2-6-image)."""
    params = request.params
    body: dict[str, Any] = {"model": request.model, "prompt": request.prompt}
    images = [m for m in request.inputs if m.slot not in ("audio", "video")]
    if images:
        # §6: "1-3 URLs or base64 images"; as for image_url we send a data URI [?].
        body["image_urls"] = [media_ref(m, field="image_urls", data_uri_ok=True) for m in images]
    if params.get("size"):
        width, height = _size(params["size"])
        body["image_size"] = {"width": width, "height": height}
    elif params.get("aspect_ratio") in IMAGE_SIZE_PRESETS:
        body["image_size"] = IMAGE_SIZE_PRESETS[params["aspect_ratio"]]
    count = int(params.get("num_outputs") or 1)
    if request.model not in SINGLE_IMAGE_MODELS:
        body["num_images"] = count
    elif count != 1:
        raise ProviderError(f"{request.model} makes one image per request", code=ErrorCode.INVALID_REQUEST)
    if params.get("negative_prompt"):
        body["negative_prompt"] = params["negative_prompt"]
    _common_fields(params, body)
    _pass_through(params, body)
    return body


def _common_fields(params: Mapping[str, Any], body: dict[str, Any]) -> None:
    if params.get("prompt_expansion") is not None:
        # §4 notes: the text says prompt_extend (copied from Alibaba) but the schema field is enhance_prompt.
        body["enhance_prompt"] = as_bool(params["prompt_expansion"])
    if params.get("seed") is not None:
        body["seed"] = int(params["seed"])
    if params.get("watermark") is not None:
        body["watermark"] = as_bool(params["watermark"])  # images and Wan 2.2 video (§4, §6)


def _pass_through(params: Mapping[str, Any], body: dict[str, Any]) -> None:
    # Normalised names aimlapi has no field for (loras, fps, ...) are dropped: the catalog lets
    # through only what a model accepts. Vendor fields (`image_size` preset, ...) keep their name.
    for key, value in params.items():
        if key not in NORMALISED_PARAMS and value is not None and key not in body:
            body[key] = value


def media_ref(media: MediaInput, *, field: str, data_uri_ok: bool) -> str:
    """The URL for an input, or a data URI where the field accepts base64; INVALID_REQUEST otherwise."""
    if media.url:
        return media.url
    if data_uri_ok and media.data:
        encoded = base64.b64encode(media.data).decode("ascii")
        return f"data:{media.content_type or 'application/octet-stream'};base64,{encoded}"
    raise ProviderError(
        f"AI/ML API's {field} needs a public URL for the {media.slot!r} input; "
        "set PUBLIC_BASE_URL so uploaded files get one",
        code=ErrorCode.INVALID_REQUEST,
    )


def _size(size: Any) -> tuple[int, int]:
    try:
        width, height = str(size).lower().replace("*", "x").split("x")
        return int(width), int(height)
    except ValueError:
        raise ProviderError(f"size {size!r} is not WxH", code=ErrorCode.INVALID_REQUEST) from None


# ---------------------------------------------------------------------------------------------
# Response parsing: every function below raises only ProviderError, whatever the JSON holds.


def checked_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer; ProviderError for error statuses, redirects and non-JSON."""
    if not response.is_success:
        raise http_error(response)
    return json_object(response, vendor="AI/ML API")


def http_error(response: httpx.Response) -> ProviderError:
    """§7: `{message, path, requestId, statusCode, timestamp}`, mapped by HTTP status."""
    body = error_json(response)
    message, name = _error_text(body)
    text = f"AI/ML API HTTP {response.status_code}" + (f": {message}" if message else "")
    error = error_for_status(response, vendor_code=name or None, message=text)
    if _is_content_policy(name, message):
        error.code, error.transient = str(ErrorCode.CONTENT_POLICY), False
    return error


def _error_text(body: Any) -> tuple[str, str]:
    """(message, name) from §7's error body or §5's `error: {name, message}`."""
    if not isinstance(body, dict):
        return "", ""
    source = body.get("error") if isinstance(body.get("error"), dict) else body
    message = source.get("message")
    if isinstance(message, list):  # validation errors may list several messages
        message = "; ".join(m for m in message if isinstance(m, str))
    name = source.get("name")
    return (message if isinstance(message, str) else ""), (name if isinstance(name, str) else "")


def _is_content_policy(name: str, message: str) -> bool:
    # Not documented by aimlapi [?]: results are Alibaba's, so look for DashScope's moderation code.
    return "DataInspectionFailed" in name or "DataInspectionFailed" in message


def parse_video_response(
    data: Any, *, sent_seed: int | None = None, credits_used: Decimal | None = None
) -> Update:
    """§5 poll (and create) answer as an Update; UNKNOWN_STATUS for unlisted statuses."""
    if not isinstance(data, dict):
        raise ProviderError(
            "AI/ML API answered with something other than an object", code=ErrorCode.BAD_RESPONSE
        )
    raw_status = data.get("status")
    status = STATUSES.get(raw_status) if isinstance(raw_status, str) else None
    if status is None:
        raise ProviderError(
            f"AI/ML API sent status {raw_status!r}, which its docs do not list",
            code=ErrorCode.UNKNOWN_STATUS,
            vendor_code=str(raw_status)[:64],
        )
    credits = _credits_used(data)
    credits = credits if credits is not None else credits_used
    update = Update(status=status, vendor_status=raw_status, cost_usd=_usd(credits))
    if status == Status.FAILED:
        message, name = _error_text(data)
        code = ErrorCode.CONTENT_POLICY if _is_content_policy(name, message) else ErrorCode.VENDOR_FAILED
        update.error = ProviderError(
            f"AI/ML API: {message or name or 'the generation failed'}",
            code=code,
            transient=False,
            vendor_code=name or None,
        )
    elif status == Status.SUCCEEDED:
        video = data.get("video")
        url = video.get("url") if isinstance(video, dict) else None
        if not isinstance(url, str) or not url:
            raise _missing("video.url")
        update.outputs = [Output(kind="video", url=url, content_type="video/mp4", expires_at=url_expiry(url))]
        update.seed = sent_seed
    return update


def parse_image_response(data: Any, *, sent_seed: int | None = None) -> Update:
    """§6 sync answer `{created, data: [{url, b64_json}], meta}` as a finished Update."""
    if not isinstance(data, dict):
        raise ProviderError(
            "AI/ML API answered with something other than an object", code=ErrorCode.BAD_RESPONSE
        )
    outputs: list[Output] = []
    items = data.get("data")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        url, b64 = item.get("url"), item.get("b64_json")
        if isinstance(url, str) and url:
            outputs.append(Output(kind="image", url=url, expires_at=url_expiry(url)))
        elif isinstance(b64, str) and b64:
            outputs.append(Output(kind="image", data=_b64decode(b64)))
    if not outputs:
        raise _missing("data[].url")
    return Update(
        status=Status.SUCCEEDED,
        outputs=outputs,
        seed=sent_seed,
        cost_usd=_usd(_credits_used(data)),
        vendor_status="completed",
    )


def _credits_used(data: Mapping[str, Any]) -> Decimal | None:
    meta = data.get("meta")
    usage = meta.get("usage") if isinstance(meta, dict) else None
    value = usage.get("credits_used") if isinstance(usage, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        credits = Decimal(str(value))
    except InvalidOperation:
        return None
    return credits if credits.is_finite() and credits >= 0 else None


def _usd(credits: Decimal | None) -> Decimal | None:
    if credits is None:
        return None
    try:
        return (credits / CREDITS_PER_USD).quantize(Decimal("0.000001"))
    except ArithmeticError:  # absurd magnitudes overflow the decimal context
        return None


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProviderError(
            "AI/ML API sent an unreadable b64_json image", code=ErrorCode.BAD_RESPONSE
        ) from exc


def url_expiry(url: str) -> datetime | None:
    """The `Expires=` unix time of a signed result URL (§5), when it has one."""
    try:
        value = parse_qs(urlsplit(url).query).get("Expires", [""])[0]
        return datetime.fromtimestamp(int(value), tz=UTC) if value.isdigit() else None
    except (ValueError, OverflowError, OSError):
        return None


def _missing(field: str) -> ProviderError:
    return ProviderError(
        f"AI/ML API says the generation completed but sent no {field}",
        code=ErrorCode.RESULT_MISSING,
        transient=False,
    )
