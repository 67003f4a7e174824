"""Lumenfall (api.lumenfall.ai): an OpenAI-compatible gateway serving Wan 2.6 as one model id, `wan-2.6`.

Everything here follows shared/providers/lumenfall.md ("lumenfall.md §N" below). Images are synchronous
(`/images/generations` JSON, `/images/edits` multipart) and finish inside `submit`; videos are async
(202, then `GET /openai/v1/videos/{id}`) and may also finish through a Standard Webhooks delivery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import httpx

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
from providers.http import BearerClient
from providers.media import sniff_content_type

DEFAULT_BASE_URL = "https://api.lumenfall.ai"
# lumenfall.md §2. §1 notes `/v1/videos` also appears on model pages; the API reference's
# `/openai/v1/...` form is the one used here, and the base URL stays configurable.
IMAGES_PATH = "/openai/v1/images/generations"
EDITS_PATH = "/openai/v1/images/edits"
VIDEOS_PATH = "/openai/v1/videos"
VIDEO_PATH = "/openai/v1/videos/{video_id}"
WEBHOOK_SECRET_PATH = "/v1/webhooks/secret"  # noqa: S105 (a path, not a secret)
WEBHOOK_SECRET_ENV = "LUMENFALL_WEBHOOK_SECRET"  # noqa: S105 (an env var name)
WEBHOOK_TOLERANCE = 5 * 60  # seconds, lumenfall.md §5

# lumenfall.md §4.2 lists queued/in_progress/completed/failed. `cancelled` is not listed for polling,
# but the `video.cancelled` event (§5) implies the state exists, so it is mapped rather than refused.
STATUSES: dict[str, Status] = {
    "queued": Status.QUEUED,
    "in_progress": Status.RUNNING,
    "completed": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "cancelled": Status.CANCELED,
}
EVENTS: dict[str, Status] = {
    "video.completed": Status.SUCCEEDED,
    "video.failed": Status.FAILED,
    "video.cancelled": Status.CANCELED,
}

# Normalised name -> Lumenfall field. §3.1/§4.1 document the first group; the rest are not Lumenfall
# fields but "unknown body parameters are passed through to the upstream provider" (§2), and Wan 2.6 is
# routed to fal (§1), so they use fal's names (shared/providers/fal.md) [unconfirmed by Lumenfall].
FIELD_NAMES: dict[str, str] = {
    "negative_prompt": "negative_prompt",
    "seed": "seed",
    "size": "size",
    "aspect_ratio": "aspect_ratio",
    "resolution": "resolution",
    "duration": "seconds",
    "num_outputs": "n",
    "prompt_expansion": "enable_prompt_expansion",
    "safety_checker": "enable_safety_checker",
    "multi_shot": "multi_shots",
    "audio": "enable_audio",
    "fps": "frames_per_second",
    "num_frames": "num_frames",
    "strength": "strength",
    "loras": "loras",
    "watermark": "watermark",
}

# §6: UPSTREAM_ERROR is "e.g. content policy"; the kind is recognised by words in its message.
_POLICY_WORDS = (
    "content policy",
    "content_policy",
    "moderation",
    "safety",
    "nsfw",
    "sensitive",
    "inappropriate",
)
# base.py has no "insufficient credit" code; an empty account is an account problem like a bad key.
NO_CREDIT_CODE = ErrorCode.AUTH

_secret_cache: dict[str, str] = {}  # sha256(base URL + key) -> whsec_ secret fetched from §5's endpoint


class LumenfallClient(BearerClient):
    name = "lumenfall"

    default_base_url = DEFAULT_BASE_URL

    # -- Client interface -------------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> Submission:
        """Images: call and return the finished result; videos: create and return the video id."""
        if request.mode == Mode.T2I:
            response = self._call("POST", IMAGES_PATH, json=build_image_body(request))
            return self._image_submission(response)
        if request.mode == Mode.EDIT:
            data, files = build_edit_form(request)
            response = self._call("POST", EDITS_PATH, data=data, files=files)
            return self._image_submission(response)
        if request.mode in (Mode.T2V, Mode.I2V, Mode.V2V):
            headers = {}
            if request.idempotency_key:
                # §4.1: an idempotency key is documented but its transport is not [?]; a header is
                # ignored if unknown, whereas an unknown body field would be forwarded upstream.
                headers["Idempotency-Key"] = request.idempotency_key[:256]
            response = self._call("POST", VIDEOS_PATH, json=build_video_body(request), headers=headers)
            video_id = parse_created(http.json_body(response))
            return Submission(
                provider=self.name, vendor_job_id=video_id, state={"kind": "video", "video_id": video_id}
            )
        raise ProviderError(
            f"Lumenfall does not offer {request.mode} for Wan", code=ErrorCode.INVALID_REQUEST
        )

    def poll(self, submission: Submission) -> Update:
        """The video's status (§4.2). Image jobs finish inside submit and have nothing to poll."""
        if submission.state.get("kind") == "image":
            raise ProviderError(
                "Lumenfall image jobs are synchronous; nothing to poll", code=ErrorCode.INVALID_REQUEST
            )
        video_id = str(submission.state.get("video_id") or submission.vendor_job_id)
        response = self._call("GET", VIDEO_PATH.format(video_id=video_id))
        return parse_video(http.json_body(response))

    def cancel(self, submission: Submission) -> bool:
        """Lumenfall documents no cancel endpoint (§4.2), only a `video.cancelled` event."""
        return False

    def verify_key(self) -> str:
        """Check the key with one cheap authenticated call, `GET /v1/webhooks/secret` (§5), and return
        the account's `whsec_` secret it answers with. Raises ProviderError (AUTH for a refused key)."""
        body = http.json_body(self._call("GET", WEBHOOK_SECRET_PATH))
        key = body.get("key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key.startswith("whsec_"):
            raise ProviderError("Lumenfall returned no webhook secret", code=ErrorCode.BAD_RESPONSE)
        return key

    def parse_webhook(
        self, *, headers: Mapping[str, str], body: bytes, now: float | None = None
    ) -> tuple[str, Update]:
        """Verify a Standard Webhooks delivery (§5) and return (video id, update).

        Raises WebhookError for a missing, bad or stale signature or an unreadable body; ProviderError
        when the secret cannot be obtained, for an unknown event type, or a completion without a URL.
        """
        try:
            verify_signature(self._webhook_secret(), headers=headers, body=body, now=now)
        except WebhookError:
            # A fetched secret may have been rotated: forget it so Lumenfall's retry (§5) fetches it again.
            _secret_cache.pop(self._secret_cache_key(), None)
            raise
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookError("Lumenfall webhook body is not JSON") from exc
        return parse_event(payload)

    # -- HTTP --------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        response = self._send(method, path, headers=headers, **kwargs)
        if not 200 <= response.status_code < 300:
            raise error_from_response(response)
        return response

    def _image_submission(self, response: httpx.Response) -> Submission:
        update = parse_images(http.json_body(response))
        # Sync calls have no job id; §1's request id header is the nearest thing, else make one unique.
        request_id = response.headers.get("X-Lumenfall-Request-Id") or f"img_{uuid.uuid4().hex}"
        return Submission(
            provider=self.name,
            vendor_job_id=request_id,
            state={"kind": "image", "request_id": request_id},
            update=update,
        )

    def _webhook_secret(self) -> str:
        """LUMENFALL_WEBHOOK_SECRET, else the account's secret from `GET /v1/webhooks/secret` (§5)."""
        secret = self.environ.get(WEBHOOK_SECRET_ENV, "")
        if secret:
            return secret
        cache_key = self._secret_cache_key()
        if cache_key not in _secret_cache:
            body = http.json_body(self._call("GET", WEBHOOK_SECRET_PATH))
            key = body.get("key") if isinstance(body, dict) else None
            if not isinstance(key, str) or not key:
                raise ProviderError("Lumenfall returned no webhook secret", code=ErrorCode.BAD_RESPONSE)
            _secret_cache[cache_key] = key
        return _secret_cache[cache_key]

    def _secret_cache_key(self) -> str:
        return hashlib.sha256(f"{self.base_url}\n{self.api_key}".encode()).hexdigest()


# -- Request translation ---------------------------------------------------------------------------


def _fields(request: GenerationRequest) -> dict[str, Any]:
    """Normalised params under Lumenfall's names; vendor-only fields (e.g. `response_format`,
    `output_format`) keep their own name, which §2 passes through."""
    fields: dict[str, Any] = {"model": request.model, "prompt": request.prompt}
    for name, value in request.params.items():
        if value is None:
            continue
        target = FIELD_NAMES.get(name, name)
        if name == "duration":
            # §4.1: `seconds` takes a string or number; images have no duration, so keep the name.
            target, value = ("seconds", int(value)) if request.mode.makes_video else ("duration", value)
        fields[target] = value
    audio = request.inputs_for("audio")
    if audio:
        fields["audio_url"] = _public_url(audio[0], "audio_url")  # passthrough to fal (cheat sheet), URL only
    return fields


def build_image_body(request: GenerationRequest) -> dict[str, Any]:
    """JSON for `POST /openai/v1/images/generations` (§3.1)."""
    return _fields(request)


def build_edit_form(
    request: GenerationRequest,
) -> tuple[dict[str, str], list[tuple[str, tuple[str, bytes, str]]]]:
    """Multipart fields and file parts for `POST /openai/v1/images/edits` (§3.2).

    Several images are sent as repeated `image` parts, as the §3.2 curl example does (`-F image=@a.png
    -F image=@b.png`); whether `image[]` is wanted instead is unconfirmed.
    """
    data = {name: _form_value(value) for name, value in _fields(request).items()}
    images = request.inputs_for("image")
    if not images:
        raise ProviderError("image edit needs at least one `image` input", code=ErrorCode.INVALID_REQUEST)
    files = [("image", _file_part(media, index)) for index, media in enumerate(images)]
    files += [("mask", _file_part(media, 0)) for media in request.inputs_for("mask")[:1]]
    return data, files


def build_video_body(request: GenerationRequest) -> dict[str, Any]:
    """JSON for `POST /openai/v1/videos` (§4.1): `input_reference` (I2V), `input_video` (V2V)."""
    body = _fields(request)
    if request.mode == Mode.I2V:
        images = request.inputs_for("image")
        if not images:
            raise ProviderError("image-to-video needs an `image` input", code=ErrorCode.INVALID_REQUEST)
        body["input_reference"] = {"image_url": _image_reference(images[0])}
    elif request.mode == Mode.V2V:
        videos = request.inputs_for("video")
        if not videos:
            raise ProviderError("video-to-video needs a `video` input", code=ErrorCode.INVALID_REQUEST)
        body["input_video"] = _public_url(videos[0], "input_video")  # §4.1: "input video URL"
    if request.webhook_url and webhook_url_allowed(request.webhook_url):
        body["webhook_url"] = request.webhook_url
    return body


def webhook_url_allowed(url: str) -> bool:
    """§5: https only, no bare IPs, port 443 or 8443, no localhost; otherwise submit fails with 400.

    A URL breaking these rules (a dev server on http://localhost) is left out and the job is polled.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        return False
    bare_ip = host.replace(".", "").isdigit() or ":" in host
    local = host in ("localhost", "metadata.google.internal") or host.endswith(".localhost")
    return parts.scheme == "https" and bool(host) and not bare_ip and not local and port in (None, 443, 8443)


def _image_reference(media: MediaInput) -> str:
    """§4.1: `input_reference` takes a URL or a base64 data URI; the URL is lighter when there is one."""
    if media.url:
        return media.url
    if not media.data:
        raise ProviderError(
            f"input `{media.slot}` has neither bytes nor a URL", code=ErrorCode.INVALID_REQUEST
        )
    content_type = media.content_type or sniff_content_type(media.data) or "image/png"
    return f"data:{content_type};base64,{base64.b64encode(media.data).decode('ascii')}"


def _public_url(media: MediaInput, field: str) -> str:
    if not media.url:
        raise ProviderError(
            f"Lumenfall's `{field}` needs a public URL for the {media.slot} input; none is configured",
            code=ErrorCode.INVALID_REQUEST,
        )
    return media.url


def _file_part(media: MediaInput, index: int) -> tuple[str, bytes, str]:
    if not media.data:
        # §3.2 does not say whether `image` may be a URL string in multipart [?]: send files only.
        raise ProviderError(
            f"image edit needs the bytes of the `{media.slot}` input", code=ErrorCode.INVALID_REQUEST
        )
    content_type = media.content_type or sniff_content_type(media.data) or "application/octet-stream"
    filename = media.filename or f"{media.slot}-{index}.{content_type.rsplit('/', 1)[-1]}"
    return filename, media.data, content_type


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


# -- Response parsing (raise only ProviderError) ---------------------------------------------------


def parse_images(body: Any) -> Update:
    """A finished Update from an images response `{"created", "data": [{url | b64_json, revised_prompt}]}`."""
    items = body.get("data") if isinstance(body, dict) else None
    outputs: list[Output] = []
    revised = None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("b64_json"), str) and item["b64_json"]:
            data = _b64(item["b64_json"])
            outputs.append(Output(kind="image", data=data, content_type=sniff_content_type(data) or ""))
        elif isinstance(item.get("url"), str) and item["url"]:
            outputs.append(Output(kind="image", url=item["url"]))
        if revised is None and isinstance(item.get("revised_prompt"), str):
            revised = item["revised_prompt"]
    if not outputs:
        raise ProviderError(
            "Lumenfall answered the image request without an image", code=ErrorCode.RESULT_MISSING
        )
    return Update(
        status=Status.SUCCEEDED,
        progress=100,
        outputs=outputs,
        actual_prompt=revised,
        cost_usd=_cost(body.get("metadata"), "cost"),
        vendor_status="completed",
    )


def parse_created(body: Any) -> str:
    """The video id from the 202 answer to `POST /openai/v1/videos` (§4.1)."""
    video_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(video_id, str) or not video_id:
        raise ProviderError("Lumenfall accepted the video but returned no id", code=ErrorCode.BAD_RESPONSE)
    return video_id


def parse_video(body: Any) -> Update:
    """An Update from `GET /openai/v1/videos/{id}` (§4.2)."""
    if not isinstance(body, dict):
        raise ProviderError("Lumenfall video answer is not an object", code=ErrorCode.BAD_RESPONSE)
    vendor_status = body.get("status")
    status = STATUSES.get(vendor_status) if isinstance(vendor_status, str) else None
    if status is None:
        raise _unknown_status(vendor_status)
    return _video_update(status, str(vendor_status), body)


def parse_event(payload: Any) -> tuple[str, Update]:
    """(video id, Update) from a verified webhook payload `{"type": "video.*", "data": {...}}` (§5).

    The example's `data.id` is `req_...` while create/poll ids are `video_...` (§5 [?]): the id is
    returned as sent, and the app should poll its open Lumenfall jobs when no job has that id.
    """
    data = payload.get("data") if isinstance(payload, dict) else None
    video_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(video_id, str) or not video_id:
        raise WebhookError("Lumenfall webhook has no data.id")
    event = payload.get("type")
    status = EVENTS.get(event) if isinstance(event, str) else None
    if status is None:
        raise _unknown_status(event)
    return video_id, _video_update(status, str(event), data)


def _video_update(status: Status, vendor_status: str, body: Mapping[str, Any]) -> Update:
    update = Update(status=status, vendor_status=vendor_status, progress=_progress(body.get("progress")))
    if status == Status.SUCCEEDED:
        output = body.get("output")
        url = output.get("url") if isinstance(output, dict) else None
        if not isinstance(url, str) or not url:
            raise ProviderError(
                "Lumenfall says the video completed but gave no output.url", code=ErrorCode.RESULT_MISSING
            )
        expires = _timestamp(body.get("expires_at"))
        update.outputs = [Output(kind="video", url=url, content_type="video/mp4", expires_at=expires)]
        update.progress = 100
        update.cost_usd = _cost(body.get("metadata"), "cost")
    elif status == Status.FAILED:
        update.error = _job_error(body.get("error"))
    return update


def _unknown_status(value: Any) -> ProviderError:
    return ProviderError(
        f"Lumenfall returned an unknown status {value!r}",
        code=ErrorCode.UNKNOWN_STATUS,
        vendor_code=str(value)[:64],
    )


def _job_error(error: Any) -> ProviderError:
    """§4.2: a failed video carries `error.message` (sub-fields `type`/`code` as in §6, presumably)."""
    message, vendor_code = _error_fields(error) if isinstance(error, dict) else (None, None)
    if message is None:
        message = error if isinstance(error, str) and error else "Lumenfall reported the video as failed"
    code = ErrorCode.CONTENT_POLICY if _is_policy(message, vendor_code) else ErrorCode.VENDOR_FAILED
    return ProviderError(f"Lumenfall: {message}"[:500], code=code, vendor_code=vendor_code)


def _progress(value: Any) -> int | None:
    # Not in §4.2's example; OpenAI's video object has `progress` (0-100), so read it when present.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return max(0, min(100, int(value)))


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _cost(metadata: Any, key: str) -> Decimal | None:
    """`metadata.cost` in USD (§3.1); anything else is not a cost we can book."""
    if not isinstance(metadata, dict) or metadata.get("cost_currency", "USD") != "USD":
        return None
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        return None
    return cost if cost.is_finite() and cost >= 0 else None


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProviderError(
            "Lumenfall sent an unreadable b64_json image", code=ErrorCode.BAD_RESPONSE
        ) from exc


# -- Errors (§6) -----------------------------------------------------------------------------------


def _error_fields(error: Mapping[str, Any]) -> tuple[str | None, str | None]:
    message = error.get("message")
    code, kind = error.get("code"), error.get("type")
    vendor_code = code if isinstance(code, str) and code else kind if isinstance(kind, str) and kind else None
    return (message[:400] if isinstance(message, str) and message else None), vendor_code


def _is_policy(message: str, vendor_code: str | None) -> bool:
    text = f"{message} {vendor_code or ''}".lower()
    return any(word in text for word in _POLICY_WORDS)


def error_from_response(response: httpx.Response) -> ProviderError:
    """A ProviderError for a non-2xx answer from the OpenAI-style `{"error": {message, type, code}}`."""
    body = http.error_json(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return http.error_for_status(response)
    message, vendor_code = _error_fields(error)
    message = f"Lumenfall: {message or f'HTTP {response.status_code}'}"
    status = response.status_code
    if vendor_code == "INSUFFICIENT_BALANCE" or error.get("type") == "insufficient_quota" or status == 402:
        return ProviderError(
            message,
            code=NO_CREDIT_CODE,
            transient=False,
            vendor_code=vendor_code or "INSUFFICIENT_BALANCE",
            http_status=status,
        )
    if vendor_code == "UPSTREAM_ERROR" or (
        400 <= status < 500 and status != 429 and _is_policy(message, vendor_code)
    ):
        # §6: UPSTREAM_ERROR is a non-retryable provider error whatever its HTTP status.
        code = ErrorCode.CONTENT_POLICY if _is_policy(message, None) else ErrorCode.VENDOR_FAILED
        return ProviderError(message, code=code, transient=False, vendor_code=vendor_code, http_status=status)
    if vendor_code in ("MODEL_NOT_FOUND", "MODEL_DISABLED"):
        # A 404 here is about our model id, not a forgotten job.
        return ProviderError(
            message, code=ErrorCode.INVALID_REQUEST, vendor_code=vendor_code, http_status=status
        )
    # §6: ALL_PROVIDERS_EXHAUSTED (502, "retry later") and RATE_LIMITED (429) map by status as they are.
    return http.error_for_status(response, vendor_code=vendor_code, message=message)


# -- Webhook signatures (§5, Standard Webhooks) ----------------------------------------------------


def verify_signature(
    secret: str, *, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> None:
    """Check `webhook-signature` against HMAC-SHA256(`{id}.{timestamp}.{body}`); raise WebhookError if wrong."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        raise WebhookError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        sent_at = int(stamp)
    except ValueError:
        raise WebhookError("webhook-timestamp is not a number") from None
    # §5 says older than 5 minutes; Standard Webhooks also refuses stamps as far in the future.
    if abs((time.time() if now is None else now) - sent_at) > WEBHOOK_TOLERANCE:
        raise WebhookError("webhook timestamp is outside the 5 minute tolerance")
    signed = f"{msg_id}.{sent_at}.".encode() + body
    expected = base64.b64encode(hmac.new(_secret_key(secret), signed, hashlib.sha256).digest())
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            return
    raise WebhookError("webhook signature does not match")


def _secret_key(secret: str) -> bytes:
    """The HMAC key: base64 of the secret without its `whsec_` prefix (§5).

    Padding is optional, as in the reference `standardwebhooks` libraries. A secret that still
    cannot be decoded is a configuration error: retrying cannot fix it, so it is not transient.
    """
    text = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProviderError(
            f"{WEBHOOK_SECRET_ENV} is not a whsec_ base64 secret",
            code=ErrorCode.NOT_CONFIGURED,
            transient=False,
        ) from exc
    if not key:
        raise ProviderError(
            f"{WEBHOOK_SECRET_ENV} is empty after its whsec_ prefix",
            code=ErrorCode.NOT_CONFIGURED,
            transient=False,
        )
    return key
