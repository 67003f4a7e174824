"""APIMart (api.apimart.ai): Wan 2.6 / 2.5 video through one async task API.

Everything here follows shared/providers/apimart.md ("apimart.md §N" below). APIMart offers video only
(`wan2.6` T2V/I2V, `wan2.6-i2v-flash`, `wan2.5-preview`), no webhooks and no cancel endpoint, so jobs
are driven by polling `GET /v1/tasks/{task_id}`.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from providers import http
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
from providers.http import BearerClient

DEFAULT_BASE_URL = "https://api.apimart.ai"
GENERATIONS_PATH = "/v1/videos/generations"
TASK_PATH = "/v1/tasks/{task_id}"

# apimart.md §7 (status mapping); `submitted` only appears in the submit answer (§5).
STATUSES: dict[str, Status] = {
    "submitted": Status.QUEUED,
    "pending": Status.QUEUED,
    "processing": Status.RUNNING,
    "completed": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "cancelled": Status.CANCELED,
}

# Normalised names (providers.base.NORMALISED_PARAMS) APIMart has no field for (apimart.md §4) are
# refused below rather than silently dropped. Names not in DESIGN.md's list (e.g. `template`) pass through.
_UNSUPPORTED = {"size", "safety_checker", "loras", "strength", "num_frames", "fps"}

# APIMart publishes no error code list (apimart.md §6, §8): content moderation is recognised by words
# in the vendor's message/type, including the upstream Alibaba codes it forwards.
_POLICY_WORDS = (
    "content policy",
    "content_policy",
    "moderation",
    "sensitive",
    "inappropriate",
    "nsfw",
    "datainspectionfailed",
    "ipinfringementsuspect",
    "safety",
)
_CREDIT_WORDS = ("balance", "credit", "quota")
# base.py has no "insufficient credit" code; an empty account is an account problem like a bad key.
NO_CREDIT_CODE = ErrorCode.AUTH


MODELS_PATH = "/v1/models"  # lists models: the cheapest authenticated call (apimart.md §2 [sk])


class ApimartClient(BearerClient):
    name = "apimart"

    default_base_url = DEFAULT_BASE_URL

    # -- Client interface -------------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> Submission:
        """Create a video task (apimart.md §2); returns its task id. Raises ProviderError."""
        body = build_body(request)
        headers = self._headers()
        if request.idempotency_key:
            # apimart.md §1 [sk]: a retried POST with the same key is reported as a replay, not a new job.
            headers["Idempotency-Key"] = request.idempotency_key
        response = self._call("POST", GENERATIONS_PATH, json=body, headers=headers)
        task_id = parse_submit(http.json_body(response))
        return Submission(
            provider=self.name, vendor_job_id=task_id, state={"task_id": task_id, "model": request.model}
        )

    def poll(self, submission: Submission) -> Update:
        """Ask for the task's status (apimart.md §2 "Query task"). Raises ProviderError."""
        task_id = str(submission.state.get("task_id") or submission.vendor_job_id)
        response = self._call("GET", TASK_PATH.format(task_id=task_id), headers=self._headers())
        return parse_task(http.json_body(response))

    def cancel(self, submission: Submission) -> bool:
        """APIMart documents no cancel endpoint (apimart.md §2, §8), so nothing can be asked."""
        return False

    def verify_key(self) -> None:
        """One cheap authenticated call to check the key: `GET /v1/models` (apimart.md §2 [sk]).

        Raises ProviderError (AUTH for a refused key); nothing is generated or charged.
        """
        self._call("GET", MODELS_PATH, headers=self._headers())

    # -- HTTP --------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}  # the key is added by BearerClient._send

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._send(method, path, **kwargs)
        if not 200 <= response.status_code < 300:
            raise error_from_response(response)
        return response


# -- Request translation ---------------------------------------------------------------------------


def build_body(request: GenerationRequest) -> dict[str, Any]:
    """The JSON body for POST /v1/videos/generations from a normalised request (apimart.md §4)."""
    params = dict(request.params)
    _refuse_unsupported(params)
    is_i2v = request.mode == Mode.I2V or request.model == "wan2.6-i2v-flash"
    body: dict[str, Any] = {"model": request.model}
    if request.prompt:
        body["prompt"] = request.prompt
    if is_i2v:
        # apimart.md §3: `wan2.6` and `wan2.5-preview` switch to I2V when `image_urls` is present.
        body["image_urls"] = [_image_reference(_first_input(request, "image"))]
    for name in ("negative_prompt", "seed", "watermark"):
        if params.get(name) is not None:
            body[name] = params[name]  # `seed`/`watermark` names are inferred on the flash page (§4).
    if params.get("resolution"):
        body["resolution"] = str(params["resolution"]).lower()  # only `720p`/`1080p` exist (§4)
    if params.get("duration") is not None:
        body["duration"] = int(params["duration"])
    _add_aspect_ratio(body, request, params.get("aspect_ratio"), is_i2v)
    _add_audio(body, request, params.get("audio"))
    _add_prompt_options(body, params.get("prompt_expansion"), params.get("multi_shot"))
    # Vendor-only fields (e.g. `template`, §4) keep APIMart's own name.
    body.update({k: v for k, v in params.items() if k not in NORMALISED_PARAMS and v is not None})
    return body


def _refuse_unsupported(params: Mapping[str, Any]) -> None:
    for name in sorted(_UNSUPPORTED):
        if params.get(name) is not None:
            raise ProviderError(
                f"APIMart has no `{name}` option for Wan video", code=ErrorCode.INVALID_REQUEST
            )
    if params.get("num_outputs") not in (None, 1):
        raise ProviderError("APIMart makes one video per task", code=ErrorCode.INVALID_REQUEST)


def _add_aspect_ratio(body: dict[str, Any], request: GenerationRequest, ratio: Any, is_i2v: bool) -> None:
    if not ratio or is_i2v:
        return  # §4: aspect ratio follows the first frame in I2V (`aspect_ratio` "not supported in I2V")
    # §4 `wan2.5-preview`: the example carries the ratio in `size` ("size": "16:9").
    body["size" if request.model == "wan2.5-preview" else "aspect_ratio"] = ratio


def _add_audio(body: dict[str, Any], request: GenerationRequest, audio: Any) -> None:
    if audio is not None:
        body["audio"] = bool(audio)
    tracks = request.inputs_for("audio")
    if tracks:
        # §4: `audio_url` is a URL (wav/mp3); no data-URI form is documented for audio.
        body["audio_url"] = _public_url(tracks[0], "audio_url")


def _add_prompt_options(body: dict[str, Any], expansion: Any, multi_shot: Any) -> None:
    if expansion is not None:
        body["prompt_extend"] = bool(expansion)
    if multi_shot is None:
        return
    if multi_shot and expansion is False:
        # §4 flash: `shot_type` "needs prompt_extend=true"; the form says multi-shot only takes effect with
        # expansion on, so it is left out rather than sent in a combination the vendor may refuse.
        return
    body["shot_type"] = "multi" if multi_shot else "single"


def _first_input(request: GenerationRequest, slot: str) -> MediaInput:
    media = request.inputs_for(slot)
    if not media:
        raise ProviderError(f"image-to-video needs an `{slot}` input", code=ErrorCode.INVALID_REQUEST)
    return media[0]


def _image_reference(media: MediaInput) -> str:
    """A public URL when there is one, else a data URI (§4: "public URL or data:image/png;base64,...")."""
    if media.url:
        return media.url
    if not media.data:
        raise ProviderError(
            f"input `{media.slot}` has neither bytes nor a URL", code=ErrorCode.INVALID_REQUEST
        )
    content_type = media.content_type or "image/png"
    return f"data:{content_type};base64,{base64.b64encode(media.data).decode('ascii')}"


def _public_url(media: MediaInput, field: str) -> str:
    if not media.url:
        raise ProviderError(
            f"APIMart's `{field}` needs a public URL for the {media.slot} input; none is configured",
            code=ErrorCode.INVALID_REQUEST,
        )
    return media.url


# -- Response parsing (raise only ProviderError) ---------------------------------------------------


def parse_submit(body: Any) -> str:
    """The task id from a submit answer: `{"code": 200, "data": [{"status", "task_id"}]}` (§5)."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(body, dict) and data is None and body.get("error") is not None:
        raise _error_from_body(body)
    # §5: `data` is an array; accept a bare object too rather than fail a job APIMart accepted.
    item = data[0] if isinstance(data, list) and data else data
    task_id = (item.get("task_id") or item.get("id")) if isinstance(item, dict) else None
    if not isinstance(task_id, str) or not task_id:
        raise ProviderError("APIMart accepted the task but returned no task_id", code=ErrorCode.BAD_RESPONSE)
    return task_id


def parse_task(body: Any) -> Update:
    """An Update from `GET /v1/tasks/{id}` (§5); unknown status values are transient errors."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(body, dict) and data is None and body.get("error") is not None:
        raise _error_from_body(body)
    if not isinstance(data, dict):
        raise ProviderError("APIMart task answer has no `data` object", code=ErrorCode.BAD_RESPONSE)
    vendor_status = data.get("status")
    status = STATUSES.get(vendor_status) if isinstance(vendor_status, str) else None
    if status is None:
        raise ProviderError(
            f"APIMart returned an unknown task status {vendor_status!r}",
            code=ErrorCode.UNKNOWN_STATUS,
            vendor_code=str(vendor_status)[:64],
        )
    update = Update(status=status, progress=_progress(data.get("progress")), vendor_status=vendor_status)
    if status == Status.SUCCEEDED:
        update.progress = 100
        update.outputs = _outputs(data.get("result"))
    elif status == Status.FAILED:
        update.error = _task_error(data.get("error"))
    return update


def _progress(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return max(0, min(100, int(value)))


def _outputs(result: Any) -> list[Output]:
    """`result.videos[].url` (an array, sometimes a string) plus `expires_at` (§5, "Query — completed")."""
    outputs: list[Output] = []
    if isinstance(result, dict):
        for key, kind in (("videos", "video"), ("images", "image")):
            items = result.get(key)
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, dict):
                    continue
                urls = item.get("url")
                urls = [urls] if isinstance(urls, str) else urls if isinstance(urls, list) else []
                expires = _timestamp(item.get("expires_at"))
                outputs += [
                    Output(kind=kind, url=u, expires_at=expires) for u in urls if isinstance(u, str) and u
                ]
    if not outputs:
        raise ProviderError(
            "APIMart says the task completed but gave no result URL", code=ErrorCode.RESULT_MISSING
        )
    return outputs


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _task_error(error: Any) -> ProviderError:
    """The failure carried in `data.error`: an object `{code, message, type}` or a bare string (§5)."""
    if isinstance(error, dict):
        message, vendor_code = _error_fields(error)
    else:
        message, vendor_code = (str(error) if error else "APIMart reported the task as failed"), None
    code = (
        ErrorCode.CONTENT_POLICY
        if _mentions(message, vendor_code, _POLICY_WORDS)
        else ErrorCode.VENDOR_FAILED
    )
    return ProviderError(message, code=code, vendor_code=vendor_code)


def _error_fields(error: Mapping[str, Any]) -> tuple[str, str | None]:
    message = error.get("message")
    message = message if isinstance(message, str) and message else "APIMart reported an error"
    kind, number = error.get("type"), error.get("code")
    vendor_code = kind if isinstance(kind, str) and kind else (str(number) if number is not None else None)
    return message[:500], vendor_code


def _mentions(message: str, vendor_code: str | None, words: tuple[str, ...]) -> bool:
    text = f"{message} {vendor_code or ''}".lower()
    return any(word in text for word in words)


def error_from_response(response: httpx.Response) -> ProviderError:
    """A ProviderError for a non-2xx answer, refined by the `{"error": {...}}` envelope (§6)."""
    body = http.error_json(response)
    if not (isinstance(body, dict) and isinstance(body.get("error"), dict | str)):
        return http.error_for_status(response)
    message, vendor_code, _ = _envelope(body)
    refined = _refine(message, vendor_code, response.status_code)
    return refined or http.error_for_status(response, vendor_code=vendor_code, message=message)


def _error_from_body(body: Mapping[str, Any]) -> ProviderError:
    """An error envelope inside a 2xx answer: its `code` carries the real HTTP-like status (§5, §6)."""
    message, vendor_code, status = _envelope(body)
    refined = _refine(message, vendor_code, status)
    if refined:
        return refined
    return ProviderError(message, code=_code_for_status(status), vendor_code=vendor_code, http_status=status)


def _envelope(body: Mapping[str, Any]) -> tuple[str, str | None, int | None]:
    error = body.get("error")
    if isinstance(error, dict):
        message, vendor_code = _error_fields(error)
        number = error.get("code", body.get("code"))
    else:
        message, vendor_code, number = str(error)[:500], None, body.get("code")
    status = number if isinstance(number, int) and not isinstance(number, bool) else None
    return f"APIMart: {message}", vendor_code, status


def _refine(message: str, vendor_code: str | None, status: int | None) -> ProviderError | None:
    """What the body says beyond the HTTP status: an empty account, or a moderation refusal."""
    if status == 402 or (status in (None, 400, 403) and _is_no_credit(message, vendor_code)):
        # Permanent with its own vendor_code, so the app can tell "top up" from "bad key".
        return ProviderError(
            message,
            code=NO_CREDIT_CODE,
            transient=False,
            vendor_code=vendor_code or "insufficient_credit",
            http_status=status,
        )
    if (
        (status is None or 400 <= status < 500)
        and status != 429
        and _mentions(message, vendor_code, _POLICY_WORDS)
    ):
        return ProviderError(
            message, code=ErrorCode.CONTENT_POLICY, vendor_code=vendor_code, http_status=status
        )
    return None


def _is_no_credit(message: str, vendor_code: str | None) -> bool:
    text = f"{message} {vendor_code or ''}".lower()
    return "insufficient" in text and any(word in text for word in _CREDIT_WORDS)


def _code_for_status(status: int | None) -> ErrorCode:
    if status == 429:
        return ErrorCode.RATE_LIMITED
    if status in (401, 403):
        return ErrorCode.AUTH
    if status == 404:
        return ErrorCode.NOT_FOUND
    if status is not None and status >= 500:
        return ErrorCode.SERVER_ERROR
    if status is not None and 400 <= status < 500:
        return ErrorCode.INVALID_REQUEST
    return ErrorCode.VENDOR_FAILED
