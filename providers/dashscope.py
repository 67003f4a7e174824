"""Alibaba Cloud Model Studio / DashScope native API for Wan 2.6 (shared/providers/dashscope.md).

Video (t2v, i2v, r2v) is async only: submit with `X-DashScope-Async: enable`, then poll
`GET /api/v1/tasks/{task_id}`. Images (t2i, edit) use the async image endpoint too, by choice:
Alibaba says image tasks take 1-2 minutes and recommends async "to avoid request timeouts", and
a sync call that times out leaves a possibly billed image with no task id to poll, so a retry
would pay twice. `sync_images = True` switches to the documented sync endpoint (§6).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
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

DEFAULT_BASE_URL = "https://dashscope-intl.aliyuncs.com"
VIDEO_PATH = "/api/v1/services/aigc/video-generation/video-synthesis"
IMAGE_ASYNC_PATH = "/api/v1/services/aigc/image-generation/generation"
IMAGE_SYNC_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
TASK_PATH = "/api/v1/tasks/{task_id}"
CANCEL_PATH = "/api/v1/tasks/{task_id}/cancel"

# A sync image call holds the connection for the whole 1-2 minute generation (§2).
SYNC_IMAGE_TIMEOUT = httpx.Timeout(connect=5.0, read=180.0, write=30.0, pool=5.0)

# §5 `task_status` values (SUSPENDED is a constant in the SDK) and §8 mapping.
STATUSES: dict[str, Status] = {
    "PENDING": Status.QUEUED,
    "RUNNING": Status.RUNNING,
    "SUSPENDED": Status.RUNNING,
    "SUCCEEDED": Status.SUCCEEDED,
    "FAILED": Status.FAILED,
    "CANCELED": Status.CANCELED,
    "UNKNOWN": Status.FAILED,  # task id older than 24 h or never existed
}

# Vendor fields that live in `input` rather than `parameters` (§4 I2V: the SDK puts `template` there).
INPUT_FIELDS = frozenset({"template"})

# §4 T2V size tiers, used when the request names a resolution and aspect ratio instead of a size.
VIDEO_SIZES: dict[tuple[str, str], str] = {
    ("720P", "16:9"): "1280*720",
    ("720P", "9:16"): "720*1280",
    ("720P", "1:1"): "960*960",
    ("720P", "4:3"): "1088*832",
    ("720P", "3:4"): "832*1088",
    ("1080P", "16:9"): "1920*1080",
    ("1080P", "9:16"): "1080*1920",
    ("1080P", "1:1"): "1440*1440",
    ("1080P", "4:3"): "1632*1248",
    ("1080P", "3:4"): "1248*1632",
}
# §4: the default size is disputed (1920*1080 vs 1280*720), so we always send one; 720P is cheaper.
FALLBACK_VIDEO_SIZE = "1280*720"


class DashScopeClient(BearerClient):
    """Wan 2.6 on DashScope: video synthesis tasks and wan2.6-t2i / wan2.6-image."""

    name = "dashscope"
    sync_images = False

    default_base_url = DEFAULT_BASE_URL

    def submit(self, request: GenerationRequest) -> Submission:
        """Create the task (or, with sync_images, the images); raises ProviderError."""
        makes_video = request.mode.makes_video
        body = video_body(request) if makes_video else image_body(request)
        sync = not makes_video and self.sync_images
        path = IMAGE_SYNC_PATH if sync else (VIDEO_PATH if makes_video else IMAGE_ASYNC_PATH)
        response = self._call(
            "POST",
            path,
            json=body,
            async_task=not sync,
            oss=_uses_oss(body),
            timeout=SYNC_IMAGE_TIMEOUT if sync else None,
        )
        data = checked_json(response)
        state: dict[str, Any] = {
            "model": request.model,
            "mode": str(request.mode),
            "output_kind": "video" if makes_video else "image",
            "request_id": _str(data.get("request_id")),
        }
        if request.params.get("seed") is not None:
            state["seed"] = int(request.params["seed"])
        if sync:
            state["sync"] = True
            update = parse_task_response(data, output_kind="image", sent_seed=state.get("seed"))
            # No task id exists; the request id is unique, so it can stand in as the job's vendor id.
            job_id = state["request_id"] or f"sync-{request.idempotency_key or uuid.uuid4().hex}"
            return Submission(self.name, vendor_job_id=job_id, state=state, update=update)
        state["task_id"] = parse_submit_response(data)
        return Submission(self.name, vendor_job_id=state["task_id"], state=state)

    def poll(self, submission: Submission) -> Update:
        """The task's status and, once done, its outputs; raises ProviderError for call failures."""
        if submission.state.get("sync"):
            return _finished(submission)
        task_id = _task_id(submission)
        response = self._call("GET", TASK_PATH.format(task_id=task_id))
        return parse_task_response(
            checked_json(response),
            output_kind=submission.state.get("output_kind", "video"),
            sent_seed=submission.state.get("seed"),
        )

    def cancel(self, submission: Submission) -> bool:
        """Cancel a task; DashScope only cancels while PENDING (§2), so a 400 means "too late"."""
        if not submission.state.get("task_id"):
            return False  # a sync image call has nothing left to cancel
        response = self._call("POST", CANCEL_PATH.format(task_id=_task_id(submission)))
        if response.is_success:
            return True
        if response.status_code in (400, 404):
            # §5: a non-PENDING task answers 400 UnsupportedOperation.
            return False
        raise http_error(response)

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        async_task: bool = False,
        oss: bool = False,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        headers = {}
        if async_task:
            headers["X-DashScope-Async"] = "enable"  # §1: required on video and async image submits
        if oss:
            headers["X-DashScope-OssResourceResolve"] = "enable"  # §1: inputs are oss:// temp URLs
        return self._send(method, path, headers=headers, json=json, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# Request translation


def video_body(request: GenerationRequest) -> dict[str, Any]:
    """§4: `{model, input: {prompt, negative_prompt, img_url | reference_urls, audio_url}, parameters}`."""
    params = request.params
    inputs: dict[str, Any] = {}
    if request.prompt:
        inputs["prompt"] = request.prompt
    if params.get("negative_prompt"):
        inputs["negative_prompt"] = params["negative_prompt"]
    if request.mode == Mode.I2V:
        inputs["img_url"] = _first_frame(request)
    elif request.mode == Mode.R2V:
        inputs["reference_urls"] = _references(request)
    audio = request.inputs_for("audio")
    if audio:
        # §4 documents audio_url as a URL only (no data URI, unlike img_url).
        inputs["audio_url"] = media_ref(audio[0], field="input.audio_url", data_uri_ok=False)

    parameters: dict[str, Any] = {}
    if request.mode == Mode.I2V:
        if params.get("resolution"):
            parameters["resolution"] = str(params["resolution"]).upper()  # "720P" / "1080P"
    else:
        parameters["size"] = _video_size(params)
    if params.get("duration") is not None:
        parameters["duration"] = int(params["duration"])
    if params.get("multi_shot") is not None:
        # §4: only effective with prompt_extend=true; the catalog decides whether to allow it.
        parameters["shot_type"] = "multi" if as_bool(params["multi_shot"]) else "single"
    if params.get("audio") is not None:
        parameters["audio"] = as_bool(params["audio"])
    _common_parameters(params, parameters)
    _pass_through(params, inputs, parameters)
    return {"model": request.model, "input": inputs, "parameters": parameters}


def image_body(request: GenerationRequest) -> dict[str, Any]:
    """§6: one user message with one text item plus image items; negative_prompt sits in parameters."""
    params = request.params
    content: list[dict[str, str]] = [{"text": request.prompt}]
    for media in request.inputs:
        if media.slot in ("audio", "video"):
            continue
        # §6: image items take a URL or "data:{mime};base64,...".
        content.append({"image": media_ref(media, field="content[].image", data_uri_ok=True)})
    parameters: dict[str, Any] = {
        # §6: resellers say n defaults to 4 (billed per image), so always send it.
        "n": int(params.get("num_outputs") or 1),
    }
    if params.get("size"):
        parameters["size"] = _star_size(params["size"])
    elif params.get("resolution"):
        parameters["size"] = str(params["resolution"]).upper()  # wan2.6-image accepts "1K" (§6 example)
    if params.get("negative_prompt"):
        parameters["negative_prompt"] = params["negative_prompt"]
    _common_parameters(params, parameters)
    _pass_through(params, {}, parameters)
    return {
        "model": request.model,
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": parameters,
    }


def _common_parameters(params: Mapping[str, Any], parameters: dict[str, Any]) -> None:
    if params.get("prompt_expansion") is not None:
        parameters["prompt_extend"] = as_bool(params["prompt_expansion"])
    if params.get("watermark") is not None:
        parameters["watermark"] = as_bool(params["watermark"])
    if params.get("seed") is not None:
        parameters["seed"] = int(params["seed"])


def _pass_through(params: Mapping[str, Any], inputs: dict[str, Any], parameters: dict[str, Any]) -> None:
    # Normalised names DashScope has no field for (loras, fps, ...) are dropped: the catalog only
    # lets through what a model accepts, so they can only be defaults for other vendors.
    for key, value in params.items():
        if key in NORMALISED_PARAMS or value is None:
            continue
        (inputs if key in INPUT_FIELDS else parameters)[key] = value


def _first_frame(request: GenerationRequest) -> str:
    frames = request.inputs_for("image") or [m for m in request.inputs if m.slot not in ("audio", "video")]
    if not frames:
        raise ProviderError("image-to-video needs a first-frame image", code=ErrorCode.INVALID_REQUEST)
    # §4 I2V: img_url accepts a public URL or a base64 data URI.
    return media_ref(frames[0], field="input.img_url", data_uri_ok=True)


def _references(request: GenerationRequest) -> list[str]:
    # §4 R2V: the prompt names subjects character1, character2... in reference_urls order, so keep
    # the request's order; only URLs are documented for references.
    refs = [m for m in request.inputs if m.slot != "audio"]
    if not refs:
        raise ProviderError("reference-to-video needs at least one reference", code=ErrorCode.INVALID_REQUEST)
    return [media_ref(m, field="input.reference_urls", data_uri_ok=False) for m in refs]


def media_ref(media: MediaInput, *, field: str, data_uri_ok: bool) -> str:
    """The URL for an input, or a data URI where the field accepts one; INVALID_REQUEST otherwise."""
    if media.url:
        return media.url
    if data_uri_ok and media.data:
        encoded = base64.b64encode(media.data).decode("ascii")
        return f"data:{media.content_type or 'application/octet-stream'};base64,{encoded}"
    raise ProviderError(
        f"DashScope's {field} needs a public URL for the {media.slot!r} input; "
        "set PUBLIC_BASE_URL so uploaded files get one",
        code=ErrorCode.INVALID_REQUEST,
    )


def _video_size(params: Mapping[str, Any]) -> str:
    if params.get("size"):
        return _star_size(params["size"])
    resolution = str(params.get("resolution") or "720p").upper()
    aspect = str(params.get("aspect_ratio") or "16:9")
    return VIDEO_SIZES.get((resolution, aspect), FALLBACK_VIDEO_SIZE)


def _star_size(size: Any) -> str:
    """Our `WxH` as DashScope's `W*H` (§4, §6)."""
    return str(size).lower().replace("x", "*")


def _uses_oss(body: Any) -> bool:
    return "oss://" in repr(body)


# ---------------------------------------------------------------------------------------------
# Response parsing: every function below raises only ProviderError, whatever the JSON holds.


def checked_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer; ProviderError for error statuses, redirects and non-JSON."""
    if not response.is_success:
        raise http_error(response)
    return json_object(response, vendor="DashScope")


def http_error(response: httpx.Response) -> ProviderError:
    """§7: map an error answer `{request_id, code, message}` by HTTP status, refined by `code`."""
    body = error_json(response)
    vendor_code = _str(body.get("code")) if isinstance(body, dict) else ""
    message = _str(body.get("message")) if isinstance(body, dict) else ""
    text = f"DashScope HTTP {response.status_code}" + (f" {vendor_code}: {message}" if vendor_code else "")
    generic = error_for_status(response, vendor_code=vendor_code or None, message=text)
    refined = _code_for(vendor_code)
    if refined is None:
        return generic
    code, transient = refined
    return ProviderError(
        text,
        code=code,
        transient=transient,
        vendor_code=vendor_code,
        http_status=response.status_code,
        retry_after=generic.retry_after,
    )


def _code_for(vendor_code: str) -> tuple[ErrorCode, bool] | None:
    """Our (code, transient) for the DashScope codes §7 names; None to go by HTTP status."""
    if vendor_code == "DataInspectionFailed":  # content moderation [?: reported, not verified]
        return ErrorCode.CONTENT_POLICY, False
    if vendor_code.startswith("Throttling"):  # Throttling, Throttling.RateQuota, ... [?]
        return ErrorCode.RATE_LIMITED, True
    if vendor_code in ("InvalidApiKey", "Arrearage"):  # Arrearage: account overdue, an operator must act
        return ErrorCode.AUTH, False
    if vendor_code.startswith("InvalidParameter"):
        return ErrorCode.INVALID_REQUEST, False
    return None


def parse_submit_response(data: Any) -> str:
    """§5 create answer: `output.task_id`; BAD_RESPONSE when it is missing."""
    output = _output(data)
    task_id = output.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise ProviderError("DashScope accepted the task but sent no task_id", code=ErrorCode.BAD_RESPONSE)
    return task_id


def parse_task_response(data: Any, *, output_kind: str, sent_seed: int | None = None) -> Update:
    """§5 task answer (or §6 sync image answer) as an Update; UNKNOWN_STATUS for unlisted statuses."""
    output = _output(data)
    raw_status = output.get("task_status")
    if raw_status is None and "choices" in output:
        raw_status = "SUCCEEDED"  # §6/§8: a sync image answer with HTTP 200 is finished
    status = STATUSES.get(raw_status) if isinstance(raw_status, str) else None
    if status is None:
        raise ProviderError(
            f"DashScope sent task_status {raw_status!r}, which its docs do not list",
            code=ErrorCode.UNKNOWN_STATUS,
            vendor_code=str(raw_status)[:64],
        )
    update = Update(status=status, vendor_status=raw_status)
    if raw_status == "UNKNOWN":
        update.error = ProviderError(
            "DashScope no longer knows this task (task ids expire after 24 h)",
            code=ErrorCode.NOT_FOUND,
            transient=False,
            vendor_code="UNKNOWN",
        )
    elif status == Status.FAILED:
        update.error = task_error(output)
    elif status == Status.SUCCEEDED:
        update.outputs = _video_outputs(output) if output_kind == "video" else _image_outputs(output)
        update.actual_prompt = _actual_prompt(output)
        seed = output.get("seed")
        update.seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else sent_seed
    return update


def task_error(output: Mapping[str, Any]) -> ProviderError:
    """A FAILED task's `output.code` / `output.message`: the job ran and failed, so permanent."""
    vendor_code = _str(output.get("code"))
    message = _str(output.get("message")) or "the task failed"
    refined = _code_for(vendor_code)
    code = refined[0] if refined and refined[0] != ErrorCode.RATE_LIMITED else ErrorCode.VENDOR_FAILED
    return ProviderError(
        f"DashScope: {vendor_code + ': ' if vendor_code else ''}{message}",
        code=code,
        transient=False,
        vendor_code=vendor_code or None,
    )


def _output(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProviderError(
            "DashScope answered with something other than an object", code=ErrorCode.BAD_RESPONSE
        )
    output = data.get("output")
    if isinstance(output, dict):
        return output
    vendor_code = _str(data.get("code"))
    if vendor_code:
        # An error body with a 2xx status: trust the code over the status.
        refined = _code_for(vendor_code)
        code, transient = refined or (ErrorCode.VENDOR_FAILED, False)
        raise ProviderError(
            f"DashScope {vendor_code}: {_str(data.get('message'))}",
            code=code,
            transient=transient,
            vendor_code=vendor_code,
        )
    raise ProviderError("DashScope answer has no `output` object", code=ErrorCode.BAD_RESPONSE)


def _video_outputs(output: Mapping[str, Any]) -> list[Output]:
    url = output.get("video_url")
    if not isinstance(url, str) or not url:
        raise _missing("video_url")
    # §6b: MP4 (H.264); §5: the URL expires after 24 h.
    return [Output(kind="video", url=url, content_type="video/mp4", expires_at=url_expiry(url))]


def _image_outputs(output: Mapping[str, Any]) -> list[Output]:
    urls: list[str] = []
    # §6: output.choices[].message.content[].image. The async SUCCEEDED payload is unconfirmed [?];
    # the doc expects the same structure, and legacy image tasks used output.results[].url, so we
    # read both.
    for choice in _dicts(output.get("choices")):
        message = choice.get("message")
        if isinstance(message, dict):
            urls += [item["image"] for item in _dicts(message.get("content")) if _nonempty(item.get("image"))]
    urls += [item["url"] for item in _dicts(output.get("results")) if _nonempty(item.get("url"))]
    if not urls:
        raise _missing("output.choices[].message.content[].image")
    return [
        Output(kind="image", url=url, content_type="image/png", expires_at=url_expiry(url)) for url in urls
    ]


def _actual_prompt(output: Mapping[str, Any]) -> str | None:
    # §5: `actual_prompt` is the rewrite when prompt_extend is on; legacy image results carry it per result.
    candidates = [output.get("actual_prompt")] + [
        r.get("actual_prompt") for r in _dicts(output.get("results"))
    ]
    return next((c for c in candidates if _nonempty(c)), None)


def url_expiry(url: str) -> datetime | None:
    """The `Expires=` unix time of a signed OSS URL (§5: 24 h), when it has one."""
    try:
        value = parse_qs(urlsplit(url).query).get("Expires", [""])[0]
        return datetime.fromtimestamp(int(value), tz=UTC) if value.isdigit() else None
    except (ValueError, OverflowError, OSError):
        return None


def _missing(field: str) -> ProviderError:
    return ProviderError(
        f"DashScope says the task succeeded but sent no {field}",
        code=ErrorCode.RESULT_MISSING,
        transient=False,
    )


def _finished(submission: Submission) -> Update:
    if submission.update is None:
        raise ProviderError(
            "a synchronous DashScope image call has no task to poll",
            code=ErrorCode.NOT_FOUND,
            transient=False,
        )
    return submission.update


def _task_id(submission: Submission) -> str:
    task_id = submission.state.get("task_id") or submission.vendor_job_id
    if not task_id:
        raise ProviderError("this DashScope submission has no task id", code=ErrorCode.INVALID_REQUEST)
    return str(task_id)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _nonempty(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
