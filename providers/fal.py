"""fal.ai queue API client for the Wan endpoints: the only module that knows fal's URLs and payloads.

Protocol notes and sources: shared/providers/fal.md (section numbers below refer to it).
Submit goes to `POST {FAL_QUEUE_URL}/{model id}`; status, result and cancel use the URLs fal returns
from submit, which we keep in `Submission.state`; webhooks are ED25519-signed and verified against
fal's JWKS. Nothing here imports Django.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from providers import http
from providers.base import (
    ErrorCode,
    GenerationRequest,
    MediaInput,
    Mode,
    Output,
    ProviderError,
    Status,
    Submission,
    Update,
    WebhookError,
)

DEFAULT_QUEUE_URL = "https://queue.fal.run"
DEFAULT_REST_URL = "https://rest.fal.ai"
DEFAULT_JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"

# Inputs up to this size go inline as data URIs; fal accepts them but says big ones slow the request (§5).
DATA_URI_MAX_BYTES = 1024 * 1024
WEBHOOK_TOLERANCE_SECONDS = 300  # §4: reject |now - timestamp| > 300 s
JWKS_TTL_SECONDS = 24 * 3600  # §4: cache JWKS at most 24 h
# After this the cached keys are still used, but a refresh starts in the background
# (stale-while-revalidate): a delivery never waits for a key fetch while we hold usable keys.
JWKS_REFRESH_AFTER_SECONDS = 3600
# A delivery that fails verification triggers one JWKS refetch (a key fal rotated in), but forged
# deliveries must not turn us into a JWKS hammer: at most one forced refetch per minute.
JWKS_MIN_REFRESH_SECONDS = 60
JWKS_RETRY_SECONDS = 5  # after a failed fetch, deliveries get 503 at once for this long
# A delivery waits at most this long for a fetch in flight, so a slow key endpoint cannot hold a
# web worker; the fetch itself (one per process at a time, in a background thread) has its own
# short timeouts.
JWKS_WAIT_SECONDS = 1.0
JWKS_TIMEOUT = httpx.Timeout(3.0, connect=2.0)
MAX_MESSAGE_CHARS = 1000

# The queue answers these status values (§3). FAILED/CANCELED appear only in a third-party schema; handled
# defensively, as is the British spelling.
QUEUED, IN_PROGRESS, COMPLETED = "IN_QUEUE", "IN_PROGRESS", "COMPLETED"
FAILED_STATUSES = frozenset({"FAILED"})
CANCELED_STATUSES = frozenset({"CANCELED", "CANCELLED"})
KNOWN_STATUSES = frozenset({QUEUED, IN_PROGRESS, COMPLETED}) | FAILED_STATUSES | CANCELED_STATUSES

# Cancel outcomes (§3 "Cancel", §7): accepted ones mean canceled; the others mean the poll will tell.
CANCEL_ACCEPTED = frozenset({"CANCELLATION_REQUESTED", "OK"})
CANCEL_REFUSED = frozenset({"ALREADY_COMPLETED", "NOT_FOUND"})

# fal's request-error types (§3 "Request/infrastructure errors") -> our codes. Transience follows the code
# (timeouts and 5xx-class runner failures are transient) unless X-Fal-Retryable says otherwise.
ERROR_TYPES: dict[str, ErrorCode] = {
    "request_timeout": ErrorCode.TIMEOUT,
    "startup_timeout": ErrorCode.TIMEOUT,
    "runner_scheduling_failure": ErrorCode.SERVER_ERROR,
    "runner_connection_timeout": ErrorCode.SERVER_ERROR,
    "runner_disconnected": ErrorCode.SERVER_ERROR,
    "runner_connection_refused": ErrorCode.SERVER_ERROR,
    "runner_connection_error": ErrorCode.SERVER_ERROR,
    "runner_incomplete_response": ErrorCode.SERVER_ERROR,
    "runner_server_error": ErrorCode.SERVER_ERROR,
    "internal_error": ErrorCode.SERVER_ERROR,
    "client_disconnected": ErrorCode.CONNECTION,
    "client_cancelled": ErrorCode.CANCELED,
    "bad_request": ErrorCode.INVALID_REQUEST,
    "content_policy_violation": ErrorCode.CONTENT_POLICY,
}
_CONTENT_POLICY = re.compile(r"content[ _-]?polic|content checker", re.IGNORECASE)
_WEBHOOK_HTTP_STATUS = re.compile(r"status code:?\s*(\d{3})", re.IGNORECASE)
_MODEL_ID = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+$")
# Hosts we send our key to when a submit response names them (§2: use fal's URLs, do not build them).
_FAL_HOST_SUFFIXES = (".fal.run", ".fal.ai", ".falrun.com")

# Normalised parameter names fal merely renames (shared/providers/README.md cheat sheet, §6).
_RENAMES = {
    "prompt_expansion": "enable_prompt_expansion",
    "multi_shot": "multi_shots",
    "safety_checker": "enable_safety_checker",
    "audio": "enable_audio",  # the bool "generate audio"; only R2V flash has it (§6)
}
_BOOL_PARAMS = frozenset(_RENAMES)
_INT_PARAMS = frozenset({"seed", "num_frames"})
# Normalised parameters no fal Wan endpoint has a field for: dropped rather than sent as unknown fields.
_DROPPED = frozenset({"watermark"})


# --- request translation -------------------------------------------------------------------------


def translate_params(model: str, mode: Mode, params: Mapping[str, Any]) -> dict[str, Any]:
    """fal's body fields for normalised params; vendor-only fields pass through unchanged."""
    body: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or name in _DROPPED:
            continue
        field_name, converted = _translate_param(model, mode, name, value)
        body[field_name] = converted
    return body


def _translate_param(model: str, mode: Mode, name: str, value: Any) -> tuple[str, Any]:
    if name == "duration":
        # fal's durations are enum strings ("5", "10", "15"), not integers (§6, §8).
        return "duration", str(_as_int(name, value))
    if name == "num_outputs":
        # Wan 2.6 text-to-image calls it max_images; edit and 2.5 endpoints num_images (§6).
        field_name = "max_images" if _is_v26(model) and mode == Mode.T2I else "num_images"
        return field_name, _as_int(name, value)
    if name == "size":
        return "image_size", _image_size(value)
    if name == "fps":
        # Wan 2.2 video endpoints say frames_per_second; speech-to-video says fps (§6).
        return ("fps" if mode == Mode.S2V else "frames_per_second"), _as_int(name, value)
    if name == "loras":
        return "loras", _loras(value)
    if name == "strength":
        return "strength", _as_float(name, value)
    if name in _INT_PARAMS:
        return name, _as_int(name, value)
    if name in _BOOL_PARAMS:
        return _RENAMES[name], _as_bool(name, value)
    return name, value


def _is_v26(model: str) -> bool:
    return model.startswith("wan/v2.6/")


def _is_v22(model: str) -> bool:
    return model.startswith("fal-ai/wan/v2.2")


def _image_size(value: Any) -> Any:
    """`WxH` -> fal's `{width, height}` object; anything else (2.2's `square_hd` presets) as given."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX*×]\s*(\d+)\s*", value)
        if match:
            return {"width": int(match[1]), "height": int(match[2])}
    return value


def _loras(value: Any) -> list[dict[str, Any]]:
    """Our JSON list of LoRAs -> fal `LoRAWeight` objects `{path, weight_name?, scale, transformer?}` (§6)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]  # a single URL or HF repo
    if not isinstance(value, list):
        raise _invalid("loras must be a list")
    loras = []
    for item in value:
        if isinstance(item, str):
            loras.append({"path": item})
        elif isinstance(item, dict):
            lora = dict(item)
            if "path" not in lora and "url" in lora:
                lora["path"] = lora.pop("url")
            if "scale" not in lora and "weight" in lora:
                lora["scale"] = lora.pop("weight")
            if not isinstance(lora.get("path"), str):
                raise _invalid("each LoRA needs a path (URL or Hugging Face repo)")
            loras.append(lora)
        else:
            raise _invalid("each LoRA must be a path or an object with a path")
    return loras


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise _invalid(f"{name} must be a whole number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _invalid(f"{name} must be a whole number") from None
    if not number.is_integer():
        raise _invalid(f"{name} must be a whole number")
    return int(number)


def _as_float(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _invalid(f"{name} must be a number") from None


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _invalid(f"{name} must be true or false")


def media_field(model: str, mode: Mode, slot: str) -> tuple[str, bool]:
    """The fal field for a media slot and whether it takes a list (§6 endpoint tables)."""
    if slot == "image":
        # Edit (2.6 and 2.5) and R2V flash take lists; 2.2 image-to-image, I2V, S2V and the T2I
        # style reference take one image.
        if mode == Mode.R2V or (mode == Mode.EDIT and not _is_v22(model)):
            return "image_urls", True
        return "image_url", False
    if slot == "end_image":
        return "end_image_url", False
    if slot == "video":
        return ("video_urls", True) if mode == Mode.R2V else ("video_url", False)
    if slot == "audio":
        return "audio_url", False
    raise _invalid(f"fal has no input for media slot {slot!r}")


def media_fields(model: str, mode: Mode, urls: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """fal's body fields for (slot, url) pairs, in order (the order names refs like @Video1)."""
    body: dict[str, Any] = {}
    for slot, url in urls:
        field_name, many = media_field(model, mode, slot)
        if many:
            body.setdefault(field_name, []).append(url)
        elif field_name in body:
            raise _invalid(f"{model} takes one {slot} input")
        else:
            body[field_name] = url
    return body


def data_uri(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def _upload_file_name(media: MediaInput) -> str:
    if media.filename:
        return media.filename.rsplit("/", 1)[-1]
    extension = mimetypes.guess_extension(media.content_type or "") or ""
    return f"{media.slot}{extension}"


# --- response parsing (pure; raise only ProviderError) -------------------------------------------


def parse_submit(body: Any, *, base_url: str, model: str) -> Submission:
    """A Submission from fal's submit answer, keeping the status/response/cancel URLs it gives (§2, §3)."""
    if not isinstance(body, dict):
        raise _bad_response("fal submit answer is not a JSON object")
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id.strip():
        raise _bad_response("fal submit answer has no request_id")
    derived = derived_urls(base_url, model, request_id)
    state: dict[str, Any] = {"request_id": request_id}
    for key in ("status_url", "response_url", "cancel_url"):
        given = body.get(key)
        # fal says use its URLs, never build them (§2). Only if one is missing, or names a host that is
        # not fal's (we would send our key there), fall back to the documented owner/app layout.
        state[key] = given if _is_queue_url(given, base_url) else derived[key]
    return Submission(provider="fal", vendor_job_id=request_id, state=state)


def derived_urls(base_url: str, model: str, request_id: str) -> dict[str, str]:
    """Status/result/cancel URLs from the model id: only `owner/app` is kept (§2)."""
    owner_app = "/".join(model.strip("/").split("/")[:2])
    requests = f"{base_url.rstrip('/')}/{owner_app}/requests/{request_id}"
    return {"status_url": f"{requests}/status", "response_url": requests, "cancel_url": f"{requests}/cancel"}


def _is_queue_url(value: Any, base_url: str) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts, base = urlsplit(value), urlsplit(base_url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme not in ("https", "http") or not host:
        return False
    same_origin = parts.scheme == base.scheme and parts.netloc.lower() == base.netloc.lower()
    return same_origin or (parts.scheme == "https" and host.endswith(_FAL_HOST_SUFFIXES))


def parse_status(body: Any) -> str:
    """The status value of a status answer (§3); anything fal does not document is UNKNOWN_STATUS."""
    if not isinstance(body, dict):
        raise _bad_response("fal status answer is not a JSON object")
    status = body.get("status")
    if not isinstance(status, str) or status not in KNOWN_STATUSES:
        raise ProviderError(
            f"fal reported an unknown status {status!r}"[:MAX_MESSAGE_CHARS], code=ErrorCode.UNKNOWN_STATUS
        )
    return status


def update_for_status(status: str, body: Mapping[str, Any]) -> Update:
    """The Update for every status except COMPLETED, which needs the result fetched (§3, §7)."""
    if status == QUEUED:
        # §3: `queue_position` only while IN_QUEUE; the poll schedule waits longer when it is large.
        position = body.get("queue_position")
        position = (
            position
            if isinstance(position, int) and not isinstance(position, bool) and position >= 0
            else None
        )
        return Update(status=Status.QUEUED, vendor_status=status, queue_position=position)
    if status == IN_PROGRESS:
        return Update(status=Status.RUNNING, vendor_status=status)
    if status in CANCELED_STATUSES:
        return Update(status=Status.CANCELED, vendor_status=status)
    if status in FAILED_STATUSES:
        error = parse_error(None, {}, body, fallback=f"fal reported the request {status}")
        return Update(status=Status.FAILED, error=error, vendor_status=status)
    raise ProviderError(f"fal status {status!r} has no update of its own", code=ErrorCode.UNKNOWN_STATUS)


def parse_result(body: Any) -> Update:
    """A succeeded Update from a model output (§3 "Result", §6); RESULT_MISSING when it names no file."""
    if not isinstance(body, dict):
        raise _bad_response("fal result is not a JSON object")
    outputs = result_outputs(body)
    if not outputs:
        raise ProviderError(
            "fal finished the request but returned no output file", code=ErrorCode.RESULT_MISSING
        )
    return Update(
        status=Status.SUCCEEDED,
        progress=100,
        outputs=outputs,
        seed=_result_seed(body),
        actual_prompt=_result_prompt(body),
        vendor_status=COMPLETED,
    )


def result_outputs(body: Mapping[str, Any]) -> list[Output]:
    """Files in `video`, `images[]` or `image` (Wan video, 2.6/2.5 images, 2.2 images)."""
    candidates: list[tuple[str, Any]] = [("video", body.get("video"))]
    images = body.get("images")
    if isinstance(images, list):
        candidates += [("image", item) for item in images]
    candidates.append(("image", body.get("image")))
    outputs = []
    for kind, file in candidates:
        output = _output(kind, file)
        if output is not None:
            outputs.append(output)
    return outputs


def _output(kind: str, file: Any) -> Output | None:
    if not isinstance(file, dict):
        return None
    url = file.get("url")
    if not isinstance(url, str):
        return None
    content_type = file.get("content_type") if isinstance(file.get("content_type"), str) else ""
    if url.startswith("data:"):
        # fal answers with inline data URIs when a request asked for sync_mode.
        data, inline_type = _decode_data_uri(url)
        return Output(kind=kind, data=data, content_type=content_type or inline_type)
    if not url.lower().startswith(("https://", "http://")):
        return None
    return Output(kind=kind, url=url, content_type=content_type)


def _decode_data_uri(uri: str) -> tuple[bytes, str]:
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise _bad_response("fal returned a data URI that is not base64")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_response("fal returned a data URI that does not decode") from None
    return data, header[len("data:") : -len(";base64")]


def _result_seed(body: Mapping[str, Any]) -> int | None:
    seed = body.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    seeds = body.get("seeds")  # Wan 2.5 text-to-image (§6)
    if isinstance(seeds, list) and seeds and isinstance(seeds[0], int) and not isinstance(seeds[0], bool):
        return seeds[0]
    return None


def _result_prompt(body: Mapping[str, Any]) -> str | None:
    # 2.6/2.5 return the expanded prompt as actual_prompt; 2.2 echoes the prompt it used as prompt.
    for key in ("actual_prompt", "prompt"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def parse_error(
    status: int | None, headers: Mapping[str, str], body: Any, *, fallback: str = ""
) -> ProviderError:
    """A typed error from a fal error answer: HTTP status, `detail`, `error_type` and X-Fal-* headers (§3)."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    error_type = _error_type(body, lowered)
    message = (
        _error_message(body)
        or fallback
        or (f"fal answered HTTP {status}" if status else "fal request failed")
    )
    code = _error_code(status, error_type, body, message)
    retry_after = http.parse_retry_after(lowered.get("retry-after"))
    return ProviderError(
        f"fal: {message}"[:MAX_MESSAGE_CHARS],
        code=code,
        transient=_retryable_header(lowered),
        vendor_code=error_type,
        http_status=status,
        retry_after=retry_after,
    )


def error_from_response(response: httpx.Response) -> ProviderError:
    return parse_error(response.status_code, response.headers, _json_or_none(response))


def _error_code(status: int | None, error_type: str | None, body: Any, message: str) -> ErrorCode:
    base = _code_for_http_status(status)
    if base in (ErrorCode.AUTH, ErrorCode.RATE_LIMITED, ErrorCode.BAD_RESPONSE):
        return base  # about our call, whatever the body says
    if _is_content_policy(error_type, body, message):
        return ErrorCode.CONTENT_POLICY
    if error_type in ERROR_TYPES:
        return ERROR_TYPES[error_type]
    return base


def _code_for_http_status(status: int | None) -> ErrorCode:
    if status is None:
        return ErrorCode.VENDOR_FAILED
    if status == 429:
        return ErrorCode.RATE_LIMITED
    if status in (401, 403):
        return ErrorCode.AUTH
    if status == 404:
        return ErrorCode.NOT_FOUND
    if status in (408, 504):
        return ErrorCode.TIMEOUT
    if status >= 500:
        return ErrorCode.SERVER_ERROR
    if 300 <= status < 400:
        return ErrorCode.BAD_RESPONSE  # API calls never follow redirects; a 3xx is a broken answer
    if status >= 400:
        return ErrorCode.INVALID_REQUEST
    return ErrorCode.VENDOR_FAILED


def _error_type(body: Any, headers: Mapping[str, str]) -> str | None:
    """fal's error type: `error_type` in the body or X-Fal-Error-Type, else the first `detail[].type`."""
    if isinstance(body, dict) and isinstance(body.get("error_type"), str) and body["error_type"]:
        return body["error_type"]
    if headers.get("x-fal-error-type"):
        return headers["x-fal-error-type"]
    for item in _detail_items(body):
        if isinstance(item.get("type"), str) and item["type"]:
            return item["type"]
    return None


def _error_message(body: Any) -> str:
    """`detail` as a list of `{loc, msg}` (validation) or a string; else `error`/`message` strings."""
    if not isinstance(body, dict):
        return ""
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(_detail_text(item) for item in detail)
    for key in ("error", "message"):
        if isinstance(body.get(key), str):
            return body[key]
    if detail is not None:
        return json.dumps(detail)[:MAX_MESSAGE_CHARS]
    return ""


def _detail_text(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    msg = str(item.get("msg", "")) or str(item.get("type", "")) or "invalid"
    loc = item.get("loc")
    if isinstance(loc, list):
        parts = [str(part) for part in loc]
        if parts and parts[0] == "body":  # every input error is in the body; the field name is what helps
            parts = parts[1:]
        if parts:
            return f"{'.'.join(parts)}: {msg}"
    return msg


def _detail_items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        return [item for item in body["detail"] if isinstance(item, dict)]
    return []


def _is_content_policy(error_type: str | None, body: Any, message: str) -> bool:
    texts = [error_type or "", message] + [str(item.get("type", "")) for item in _detail_items(body)]
    return any(_CONTENT_POLICY.search(text) for text in texts)


def _retryable_header(headers: Mapping[str, str]) -> bool | None:
    """X-Fal-Retryable (older: X-Fal-Needs-Retry) overrides whether a retry can help (§3); None if absent."""
    value = headers.get("x-fal-retryable", headers.get("x-fal-needs-retry"))
    if value is None:
        return None
    value = value.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    return None


def parse_cancel(status: int, body: Any) -> bool | None:
    """True: fal accepted the cancel; False: too late or unknown; None: not a cancel answer (an error)."""
    outcome = body.get("status") if isinstance(body, dict) else None
    outcome = outcome if isinstance(outcome, str) else None
    if outcome in CANCEL_ACCEPTED:
        return True
    if outcome in CANCEL_REFUSED:
        return False
    # A 2xx without a known outcome still says fal took the cancel.
    return True if 200 <= status < 300 else None


def parse_jwks(body: Any) -> tuple[Ed25519PublicKey, ...]:
    """ED25519 keys from a JWKS (`keys[].x`, base64url raw 32 bytes, §4); entries we cannot use are skipped."""
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list):
        return ()
    parsed = []
    for key in keys:
        if not isinstance(key, dict) or not isinstance(key.get("x"), str):
            continue
        if key.get("kty", "OKP") != "OKP" or key.get("crv", "Ed25519") != "Ed25519":
            continue
        try:
            raw = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
            parsed.append(Ed25519PublicKey.from_public_bytes(raw))
        except (binascii.Error, ValueError):
            continue
    return tuple(parsed)


def parse_webhook_body(body: Any, *, fallback_request_id: str = "") -> tuple[str, Update]:
    """(request id, Update) from a verified delivery (§4); WebhookError for a body fal does not send."""
    if not isinstance(body, dict):
        raise WebhookError("fal webhook body is not a JSON object")
    request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else fallback_request_id
    if not request_id:
        raise WebhookError("fal webhook body has no request_id")
    status = body.get("status")
    payload = body.get("payload")
    payload_error = body.get("payload_error")
    if status == "OK" and payload is None and payload_error:
        # fal could not serialise the output (§4): the job ran but we cannot see its result.
        error = ProviderError(f"fal: {payload_error}"[:MAX_MESSAGE_CHARS], code=ErrorCode.RESULT_MISSING)
        return request_id, _failed(error, "OK")
    if status == "OK":
        try:
            return request_id, parse_result(payload)
        except ProviderError as error:
            return request_id, _failed(error, "OK")
    if status == "ERROR":
        error_text = body.get("error") if isinstance(body.get("error"), str) else ""
        match = _WEBHOOK_HTTP_STATUS.search(error_text)
        http_status = int(match[1]) if match else None
        message_source = (
            payload if payload is not None else {"detail": payload_error} if payload_error else None
        )
        error = parse_error(http_status, {}, message_source, fallback=error_text or "fal reported an error")
        return request_id, _failed(error, "ERROR")
    raise WebhookError(f"fal webhook has an unknown status {status!r}"[:MAX_MESSAGE_CHARS])


def _failed(error: ProviderError, vendor_status: str) -> Update:
    # client_cancelled is how a cancelled request's result reads (§3): the job was canceled, not failed.
    if error.code == ErrorCode.CANCELED:
        return Update(status=Status.CANCELED, vendor_status=vendor_status)
    return Update(status=Status.FAILED, error=error, vendor_status=vendor_status)


def webhook_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    """The bytes fal signs (§4): request id, user id, timestamp and sha256 hex of the body, one per line."""
    return "\n".join([request_id, user_id, timestamp, hashlib.sha256(body).hexdigest()]).encode()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None


def _bad_response(message: str) -> ProviderError:
    return ProviderError(message, code=ErrorCode.BAD_RESPONSE)


def _invalid(message: str) -> ProviderError:
    return ProviderError(message, code=ErrorCode.INVALID_REQUEST)


# --- JWKS cache ------------------------------------------------------------------------------------


@dataclass
class _JwksEntry:
    """What one process knows about one JWKS URL. Guarded by `_jwks_lock`."""

    keys: tuple[Ed25519PublicKey, ...] = ()
    fetched_at: float = 0.0  # unix seconds (the caller's clock) of the keys above
    attempted_at: float | None = None  # when the last fetch started
    error: ProviderError | None = None  # how the last fetch failed, if it did
    inflight: threading.Event | None = None  # set when the fetch under way ends


# JWKS URL -> entry. In-process: each worker/web process fetches its own, one fetch at a time.
_jwks_cache: dict[str, _JwksEntry] = {}
_jwks_lock = threading.Lock()


def clear_jwks_cache() -> None:
    """Forget every cached JWKS (tests; key rotation by hand)."""
    with _jwks_lock:
        _jwks_cache.clear()


# --- the client --------------------------------------------------------------------------------------


class FalClient:
    """fal queue client (Client + WebhookClient). One instance per key; safe to share between threads."""

    name = "fal"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_QUEUE_URL,
        environ: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        environ = environ or {}
        self.base_url = (base_url or DEFAULT_QUEUE_URL).rstrip("/")
        self.rest_url = (environ.get("FAL_REST_URL") or DEFAULT_REST_URL).rstrip("/")
        self.jwks_url = environ.get("FAL_JWKS_URL") or DEFAULT_JWKS_URL
        self._auth = {"Authorization": f"Key {api_key}"}  # literally "Key", not "Bearer" (§1)
        # The key goes on each fal call, not on the client: storage upload URLs and the JWKS host
        # must never see it.
        # Kept per process and per key (http.pooled_client); an injected client belongs to the caller.
        self._injected_http = http_client is not None
        self._http = http_client or http.pooled_client(self.name, self.base_url, api_key)

    def close(self) -> None:
        """Close an injected client; the pooled one stays for the next job (closed at exit)."""
        if self._injected_http:
            self._http.close()

    # Client -----------------------------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> Submission:
        """Queue the request (§3 Submit); raises ProviderError."""
        if not _MODEL_ID.match(request.model) or ".." in request.model.split("/"):
            raise _invalid(f"not a fal model id: {request.model!r}")
        body = self.request_body(request)
        # fal_webhook asks fal to call us when the request finishes (§4).
        params = {"fal_webhook": request.webhook_url} if request.webhook_url else None
        response = http.send(
            self._http,
            "POST",
            f"{self.base_url}/{request.model}",
            json=body,
            params=params,
            headers=self._auth,
        )
        if not response.is_success:
            raise error_from_response(response)
        return parse_submit(http.json_body(response), base_url=self.base_url, model=request.model)

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The flat submit body: translated params, prompt and input URLs (uploading where needed)."""
        body = translate_params(request.model, request.mode, request.params)
        if request.prompt:
            body["prompt"] = request.prompt
        urls = [(media.slot, self._input_url(media)) for media in request.inputs]
        body.update(media_fields(request.model, request.mode, urls))
        return body

    def poll(self, submission: Submission) -> Update:
        """Status, then the result once COMPLETED (§3); raises ProviderError for call failures."""
        response = http.send(
            self._http,
            "GET",
            self._state_url(submission, "status_url"),
            params={"logs": "0"},
            headers=self._auth,
        )
        # 202 while queued or running, 200 once completed (§3); the body's status decides either way.
        if response.status_code not in (200, 202):
            raise error_from_response(response)
        body = http.json_body(response)
        status = parse_status(body)
        if status != COMPLETED:
            return update_for_status(status, body)
        # COMPLETED does not mean success: the result says (§3).
        response_url = submission.state.get("response_url") or body.get("response_url")
        return self._result(response_url)

    def cancel(self, submission: Submission) -> bool:
        """PUT cancel_url; True when fal accepted (queued: removed, running: signalled), else False (§3)."""
        response = http.send(self._http, "PUT", self._state_url(submission, "cancel_url"), headers=self._auth)
        accepted = parse_cancel(response.status_code, _json_or_none(response))
        if accepted is None:
            raise error_from_response(response)
        return accepted

    # WebhookClient ------------------------------------------------------------------------------------

    def parse_webhook(
        self, *, headers: Mapping[str, str], body: bytes, now: float | None = None
    ) -> tuple[str, Update]:
        """Verify fal's ED25519 signature and read the delivery (§4).

        Raises WebhookError (answer 401) for a missing, bad or stale signature or an unknown body, and
        ProviderError(transient) when fal's keys cannot be fetched (answer 5xx so fal retries).
        """
        now = time.time() if now is None else now
        request_id = self._verify_webhook(headers, body, now)
        try:
            data = json.loads(body)
        except ValueError:
            raise WebhookError("fal webhook body is not JSON") from None
        return parse_webhook_body(data, fallback_request_id=request_id)

    # helpers ------------------------------------------------------------------------------------------

    def _result(self, response_url: Any) -> Update:
        if not isinstance(response_url, str) or not response_url:
            raise _bad_response("fal gave no response_url for a completed request")
        response = http.send(self._http, "GET", response_url, headers=self._auth)
        if response.is_success:
            return parse_result(http.json_body(response))
        error = error_from_response(response)
        # The result endpoint answers the model's own error as JSON (§3). An HTML page, a redirect, a
        # rate limit or a refused key is about this call, not the job: raise so the poll is retried.
        about_the_call = error.code in (ErrorCode.AUTH, ErrorCode.RATE_LIMITED, ErrorCode.BAD_RESPONSE)
        if about_the_call or _json_or_none(response) is None:
            raise error
        return _failed(error, COMPLETED)

    def _input_url(self, media: MediaInput) -> str:
        """What fal gets for an input (§5): the URL we have, a data URI when small, else fal storage."""
        if media.url:
            return media.url
        if media.data is None:
            raise _invalid(f"the {media.slot} input has neither bytes nor a URL")
        content_type = media.content_type or "application/octet-stream"
        if len(media.data) <= DATA_URI_MAX_BYTES:
            return data_uri(content_type, media.data)
        return self._upload(media, content_type)

    def _upload(self, media: MediaInput, content_type: str) -> str:
        """Upload to fal storage the way fal-js does (§5): initiate, PUT the bytes, use file_url."""
        response = http.send(
            self._http,
            "POST",
            f"{self.rest_url}/storage/upload/initiate",
            params={"storage_type": "fal-cdn-v3"},
            json={"content_type": content_type, "file_name": _upload_file_name(media)},
            headers=self._auth,
        )
        if not response.is_success:
            raise error_from_response(response)
        body = http.json_body(response)
        upload_url = body.get("upload_url") if isinstance(body, dict) else None
        file_url = body.get("file_url") if isinstance(body, dict) else None
        if not (isinstance(upload_url, str) and isinstance(file_url, str) and upload_url and file_url):
            raise _bad_response("fal storage did not return upload_url and file_url")
        # upload_url is a pre-signed storage URL: no fal auth header (§5).
        put = http.send(
            self._http, "PUT", upload_url, content=media.data, headers={"Content-Type": content_type}
        )
        if not put.is_success:
            raise error_from_response(put)
        return file_url

    @staticmethod
    def _state_url(submission: Submission, key: str) -> str:
        url = submission.state.get(key)
        if not isinstance(url, str) or not url:
            raise _invalid(f"fal submission {submission.vendor_job_id} has no {key}")
        return url

    def _verify_webhook(self, headers: Mapping[str, str], body: bytes, now: float) -> str:
        """Check the ED25519 signature over request id, user id, timestamp and body hash (§4)."""
        lowered = {_header_name(k): v for k, v in headers.items()}
        request_id = lowered.get("x-fal-webhook-request-id", "")
        user_id = lowered.get("x-fal-webhook-user-id", "")
        timestamp = lowered.get("x-fal-webhook-timestamp", "")
        signature_hex = lowered.get("x-fal-webhook-signature", "")
        if not (request_id and user_id and timestamp and signature_hex):
            raise WebhookError("fal webhook signature headers missing")
        try:
            sent_at = int(timestamp)
            signature = bytes.fromhex(signature_hex)
        except ValueError:
            raise WebhookError("fal webhook timestamp or signature unreadable") from None
        # Replay protection (§4): a captured delivery is useless after five minutes.
        if abs(now - sent_at) > WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookError("fal webhook timestamp outside the 5 minute window")
        message = webhook_message(request_id, user_id, timestamp, body)
        keys = self._jwks(now)
        if _any_key_verifies(keys, signature, message):
            return request_id
        # fal may have rotated its keys since we cached them (§9): refetch once, then give up.
        # Forged deliveries share that one refetch (at most one a minute, one in flight).
        keys = self._jwks(now, rotated=True)
        if _any_key_verifies(keys, signature, message):
            return request_id
        raise WebhookError("fal webhook signature does not verify")

    def _jwks(self, now: float, *, rotated: bool = False) -> tuple[Ed25519PublicKey, ...]:
        """Usable keys: the cached ones, or those of a fetch that ends within JWKS_WAIT_SECONDS.

        Raises ProviderError(transient) when there are none yet (the view answers 503). With
        `rotated`, the caller's signature failed on the cached keys: a refetch may be due.
        """
        with _jwks_lock:
            entry = _jwks_cache.setdefault(self.jwks_url, _JwksEntry())
            age = now - entry.fetched_at
            usable = bool(entry.keys) and 0 <= age < JWKS_TTL_SECONDS
            recently_tried = entry.attempted_at is not None and now - entry.attempted_at >= 0
            if rotated:
                # Only if the keys we hold are old enough, and no other delivery just asked.
                due = not (recently_tried and now - entry.attempted_at < JWKS_MIN_REFRESH_SECONDS)
                if not due:
                    return entry.keys
            elif usable:
                if age >= JWKS_REFRESH_AFTER_SECONDS:
                    self._start_fetch(entry, now)  # in the background; these keys still serve
                return entry.keys
            elif entry.error is not None and recently_tried and now - entry.attempted_at < JWKS_RETRY_SECONDS:
                raise entry.error
            done = self._start_fetch(entry, now)
        done.wait(JWKS_WAIT_SECONDS)
        with _jwks_lock:
            if entry.inflight is done:
                raise ProviderError(
                    "fal webhook keys: the key endpoint is slow; try again", code=ErrorCode.TIMEOUT
                )
            if entry.keys and 0 <= now - entry.fetched_at < JWKS_TTL_SECONDS:
                return entry.keys
            raise entry.error or ProviderError("fal webhook keys unavailable", code=ErrorCode.CONNECTION)

    def _start_fetch(self, entry: _JwksEntry, now: float) -> threading.Event:
        """The event of the fetch in flight for this URL, starting one if there is none (lock held)."""
        if entry.inflight is not None:
            return entry.inflight
        done = threading.Event()
        entry.inflight, entry.attempted_at = done, now

        def run() -> None:
            keys: tuple[Ed25519PublicKey, ...] = ()
            error: ProviderError | None = None
            try:
                keys = self._fetch_jwks()
            except ProviderError as exc:
                error = exc
            except Exception as exc:  # a thread must always release its waiters
                error = ProviderError(
                    f"fal webhook keys: {exc.__class__.__name__}", code=ErrorCode.CONNECTION
                )
            with _jwks_lock:
                if keys:
                    entry.keys, entry.fetched_at, entry.error = keys, now, None
                else:
                    entry.error = error
                entry.inflight = None
            done.set()

        threading.Thread(target=run, name="fal-jwks", daemon=True).start()
        return done

    def _fetch_jwks(self) -> tuple[Ed25519PublicKey, ...]:
        """fal's public keys; any failure is transient so the webhook view answers 5xx and fal retries."""
        try:
            # Public: no key sent. Short timeouts: deliveries wait for this (briefly) to verify.
            response = http.send(self._http, "GET", self.jwks_url, timeout=JWKS_TIMEOUT)
            if not response.is_success:
                raise error_from_response(response)
            keys = parse_jwks(http.json_body(response))
        except ProviderError as exc:
            raise ProviderError(
                f"fal webhook keys unavailable: {exc.message}",
                code=exc.code,
                transient=True,
                http_status=exc.http_status,
            ) from exc
        if not keys:
            raise ProviderError(
                "fal webhook keys: the JWKS holds no ED25519 key", code=ErrorCode.BAD_RESPONSE
            )
        return keys


def _header_name(name: str) -> str:
    """Header names as lower-case dashes, whether given as HTTP names or WSGI META keys."""
    name = str(name).lower().replace("_", "-")
    return name.removeprefix("http-")


def _any_key_verifies(keys: Iterable[Ed25519PublicKey], signature: bytes, message: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False
