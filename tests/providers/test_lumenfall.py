"""Lumenfall client against respx: exact requests, sync images, async videos, errors, webhooks."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from email.parser import BytesParser
from email.policy import HTTP

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers import lumenfall
from providers.base import (
    ErrorCode,
    GenerationRequest,
    MediaInput,
    Mode,
    ProviderError,
    Status,
    Submission,
    WebhookError,
)
from providers.lumenfall import (
    LumenfallClient,
    error_from_response,
    parse_created,
    parse_event,
    parse_images,
    parse_video,
    webhook_url_allowed,
)
from tests.providers.conftest import load_fixture

BASE = "https://api.lumenfall.ai"
IMAGES_URL = f"{BASE}/openai/v1/images/generations"
EDITS_URL = f"{BASE}/openai/v1/images/edits"
VIDEOS_URL = f"{BASE}/openai/v1/videos"
VIDEO_URL = f"{BASE}/openai/v1/videos/video_abc123"
PNG = base64.b64decode(load_fixture("lumenfall", "images_b64.json")["data"][0]["b64_json"])
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
NOW = 1_702_345_800


def client(environ: dict | None = None) -> LumenfallClient:
    environ = {"LUMENFALL_WEBHOOK_SECRET": SECRET} if environ is None else environ
    return LumenfallClient(api_key="lmnfl_test", base_url=BASE, environ=environ)


def request(mode: Mode, **kwargs) -> GenerationRequest:
    kwargs.setdefault("prompt", "A lighthouse at dusk, watercolor")
    return GenerationRequest(
        provider="lumenfall", model="wan-2.6", mode=mode, idempotency_key="job-123", **kwargs
    )


def video_submission() -> Submission:
    return Submission(
        provider="lumenfall",
        vendor_job_id="video_abc123",
        state={"kind": "video", "video_id": "video_abc123"},
    )


def image(url: str | None = "https://cdn.example/first.png", filename: str = "first.png") -> MediaInput:
    return MediaInput(slot="image", content_type="image/png", data=PNG, url=url, filename=filename)


def sent_json(route) -> dict:
    return json.loads(route.calls.last.request.content)


def multipart_parts(sent: httpx.Request) -> list[tuple[str, str | None, str | None, bytes]]:
    """(field name, filename, content type, bytes) for each part of a multipart/form-data request."""
    raw = f"Content-Type: {sent.headers['Content-Type']}\r\n\r\n".encode() + sent.content
    message = BytesParser(policy=HTTP).parsebytes(raw)
    parts = []
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition")
        params = dict(disposition.params) if disposition else {}
        content_type = part.get_content_type() if part.get("Content-Type") else None
        parts.append(
            (params.get("name"), params.get("filename"), content_type, part.get_payload(decode=True))
        )
    return parts


def mock_video_created(respx_mock):
    return respx_mock.post(VIDEOS_URL).mock(
        return_value=httpx.Response(202, json=load_fixture("lumenfall", "video_created.json"))
    )


# -- images (synchronous) --------------------------------------------------------------------------


def test_it_generates_images_synchronously_with_translated_params(respx_mock):
    route = respx_mock.post(IMAGES_URL).mock(
        return_value=httpx.Response(
            200,
            json=load_fixture("lumenfall", "images_url.json"),
            headers={"X-Lumenfall-Request-Id": "req_1"},
        )
    )
    req = request(
        Mode.T2I,
        params={
            "size": "1024x1024",
            "num_outputs": 1,
            "negative_prompt": "blurry",
            "seed": 7,
            "prompt_expansion": False,
            "safety_checker": True,
            "response_format": "url",
            "output_format": "png",
        },
    )
    result = client().submit(req)

    sent = route.calls.last.request
    assert sent.method == "POST" and sent.url.path == "/openai/v1/images/generations"
    assert sent.headers["Authorization"] == "Bearer lmnfl_test"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent_json(route) == {
        "model": "wan-2.6",
        "prompt": "A lighthouse at dusk, watercolor",
        "size": "1024x1024",
        "n": 1,
        "negative_prompt": "blurry",
        "seed": 7,
        "enable_prompt_expansion": False,
        "enable_safety_checker": True,
        "response_format": "url",
        "output_format": "png",
    }
    assert result.vendor_job_id == "req_1"
    assert result.state == {"kind": "image", "request_id": "req_1"}
    update = result.update
    assert update is not None and update.status == Status.SUCCEEDED
    assert [o.url for o in update.outputs] == ["https://media.lumenfall.ai/abc123.png"]
    assert update.outputs[0].kind == "image"
    assert update.actual_prompt == "A lighthouse at dusk, soft watercolor washes"
    assert update.cost_usd == Decimal("0.03")


def test_it_returns_b64_json_images_as_inline_bytes(respx_mock):
    respx_mock.post(IMAGES_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("lumenfall", "images_b64.json"))
    )
    result = client().submit(
        request(Mode.T2I, params={"response_format": "b64_json", "aspect_ratio": "16:9", "resolution": "1K"})
    )

    (output,) = result.update.outputs
    assert output.data == PNG and output.url is None
    assert output.content_type == "image/png"
    assert result.vendor_job_id.startswith("img_")  # no request id header: still a unique id


def test_it_sends_image_edits_as_multipart_with_repeated_image_file_parts(respx_mock):
    route = respx_mock.post(EDITS_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("lumenfall", "images_url.json"))
    )
    second = MediaInput(slot="image", content_type="image/png", data=PNG + b"2", filename="b.png")
    req = request(
        Mode.EDIT,
        prompt="Put the cup from image 1 on the table in image 2",
        inputs=[image(filename="a.png"), second],
        params={"num_outputs": 2, "seed": 3, "prompt_expansion": True, "size": "1024x1024"},
    )
    result = client().submit(req)

    sent = route.calls.last.request
    assert sent.method == "POST" and sent.url.path == "/openai/v1/images/edits"
    assert sent.headers["Authorization"] == "Bearer lmnfl_test"
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    parts = multipart_parts(sent)
    fields = {name: value.decode() for name, filename, _, value in parts if filename is None}
    assert fields == {
        "model": "wan-2.6",
        "prompt": "Put the cup from image 1 on the table in image 2",
        "n": "2",
        "seed": "3",
        "enable_prompt_expansion": "true",
        "size": "1024x1024",
    }
    files = [(name, filename, ctype, value) for name, filename, ctype, value in parts if filename is not None]
    assert files == [("image", "a.png", "image/png", PNG), ("image", "b.png", "image/png", PNG + b"2")]
    assert result.update.status == Status.SUCCEEDED


def test_an_image_edit_needs_the_image_bytes(respx_mock):
    with pytest.raises(ProviderError) as exc:
        client().submit(
            request(
                Mode.EDIT, inputs=[MediaInput(slot="image", content_type="image/png", url="https://x/a.png")]
            )
        )
    assert exc.value.code == ErrorCode.INVALID_REQUEST and exc.value.permanent
    assert not respx_mock.calls


def test_an_image_answer_without_images_is_a_permanent_result_missing(respx_mock):
    respx_mock.post(IMAGES_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("lumenfall", "images_empty.json"))
    )
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2I))
    assert exc.value.code == ErrorCode.RESULT_MISSING and exc.value.permanent


def test_polling_an_image_job_is_refused_without_a_call(respx_mock):
    with pytest.raises(ProviderError):
        client().poll(
            Submission(
                provider="lumenfall", vendor_job_id="req_1", state={"kind": "image", "request_id": "req_1"}
            )
        )
    assert not respx_mock.calls


# -- videos (async) --------------------------------------------------------------------------------


def test_it_creates_a_text_to_video_job_with_seconds_and_webhook(respx_mock):
    route = mock_video_created(respx_mock)
    req = request(
        Mode.T2V,
        prompt="A red fox in snow",
        params={"duration": 5, "resolution": "1080p", "aspect_ratio": "16:9", "multi_shot": True, "seed": 1},
        webhook_url="https://app.example/hooks/lumenfall",
    )
    result = client().submit(req)

    sent = route.calls.last.request
    assert sent.method == "POST" and sent.url.path == "/openai/v1/videos"
    assert sent.headers["Authorization"] == "Bearer lmnfl_test"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Idempotency-Key"] == "job-123"
    assert sent_json(route) == {
        "model": "wan-2.6",
        "prompt": "A red fox in snow",
        "seconds": 5,
        "resolution": "1080p",
        "aspect_ratio": "16:9",
        "multi_shots": True,
        "seed": 1,
        "webhook_url": "https://app.example/hooks/lumenfall",
    }
    assert result.vendor_job_id == "video_abc123"
    assert result.state == {"kind": "video", "video_id": "video_abc123"}
    assert result.update is None


def test_it_sends_the_first_frame_as_input_reference_for_image_to_video(respx_mock):
    route = mock_video_created(respx_mock)
    client().submit(
        request(
            Mode.I2V,
            inputs=[image()],
            params={"duration": 5, "size": "1920x1080", "negative_prompt": "low quality"},
        )
    )

    assert sent_json(route) == {
        "model": "wan-2.6",
        "prompt": "A lighthouse at dusk, watercolor",
        "seconds": 5,
        "size": "1920x1080",
        "negative_prompt": "low quality",
        "input_reference": {"image_url": "https://cdn.example/first.png"},
    }


def test_it_sends_a_data_uri_input_reference_when_there_is_no_public_url(respx_mock):
    route = mock_video_created(respx_mock)
    client().submit(request(Mode.I2V, inputs=[image(url=None)]))

    assert sent_json(route)["input_reference"] == {
        "image_url": "data:image/png;base64," + base64.b64encode(PNG).decode()
    }


def test_it_sends_the_source_video_url_as_input_video(respx_mock):
    route = mock_video_created(respx_mock)
    video = MediaInput(
        slot="video", content_type="video/mp4", data=b"....ftypisom", url="https://cdn.example/in.mp4"
    )
    client().submit(request(Mode.V2V, inputs=[video], params={"strength": 0.8, "fps": 16, "num_frames": 81}))

    body = sent_json(route)
    assert body["input_video"] == "https://cdn.example/in.mp4"
    # Passthrough fields use fal's names (Lumenfall routes Wan to fal, lumenfall.md §1-§2).
    assert (body["strength"], body["frames_per_second"], body["num_frames"]) == (0.8, 16, 81)


def test_video_to_video_needs_a_public_url_for_the_source_video(respx_mock):
    video = MediaInput(slot="video", content_type="video/mp4", data=b"....ftypisom")
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.V2V, inputs=[video]))
    assert exc.value.code == ErrorCode.INVALID_REQUEST and exc.value.permanent
    assert "public URL" in exc.value.message
    assert not respx_mock.calls


def test_it_leaves_out_a_webhook_url_lumenfall_would_refuse(respx_mock):
    route = mock_video_created(respx_mock)
    client().submit(request(Mode.T2V, webhook_url="http://localhost:8000/hooks/lumenfall"))
    assert "webhook_url" not in sent_json(route)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://app.example/hooks", True),
        ("https://app.example:8443/hooks", True),
        ("http://app.example/hooks", False),
        ("https://app.example:8000/hooks", False),
        ("https://10.0.0.1/hooks", False),
        ("https://[::1]/hooks", False),
        ("https://localhost/hooks", False),
    ],
)
def test_webhook_urls_follow_lumenfall_rules(url, allowed):
    assert webhook_url_allowed(url) is allowed


def test_it_polls_the_video_with_bearer_auth(respx_mock):
    route = respx_mock.get(VIDEO_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("lumenfall", "video_in_progress.json"))
    )
    update = client().poll(video_submission())

    sent = route.calls.last.request
    assert sent.method == "GET" and sent.url.path == "/openai/v1/videos/video_abc123"
    assert sent.headers["Authorization"] == "Bearer lmnfl_test"
    assert update.status == Status.RUNNING


@pytest.mark.parametrize(
    ("fixture", "status"),
    [
        ("video_queued.json", Status.QUEUED),
        ("video_in_progress.json", Status.RUNNING),
        ("video_completed.json", Status.SUCCEEDED),
        ("video_failed.json", Status.FAILED),
    ],
)
def test_it_maps_every_documented_video_status(respx_mock, fixture, status):
    respx_mock.get(VIDEO_URL).mock(return_value=httpx.Response(200, json=load_fixture("lumenfall", fixture)))
    assert client().poll(video_submission()).status == status


def test_a_completed_video_has_its_url_and_expiry(respx_mock):
    respx_mock.get(VIDEO_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("lumenfall", "video_completed.json"))
    )
    update = client().poll(video_submission())

    (output,) = update.outputs
    assert (output.kind, output.url) == ("video", "https://media.lumenfall.ai/abc123.mp4")
    assert output.expires_at == datetime.fromtimestamp(1702432178, tz=UTC)
    assert update.progress == 100


@pytest.mark.parametrize(
    ("fixture", "code"),
    [("video_failed.json", ErrorCode.VENDOR_FAILED), ("video_failed_policy.json", ErrorCode.CONTENT_POLICY)],
)
def test_a_failed_video_carries_the_vendor_error(respx_mock, fixture, code):
    respx_mock.get(VIDEO_URL).mock(return_value=httpx.Response(200, json=load_fixture("lumenfall", fixture)))
    update = client().poll(video_submission())

    assert update.status == Status.FAILED
    assert update.error.code == code and update.error.permanent
    assert update.error.vendor_code == "UPSTREAM_ERROR"


def test_it_has_no_cancel_and_makes_no_call(respx_mock):
    assert client().cancel(video_submission()) is False
    assert not respx_mock.calls


# -- errors and the fault matrix -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "fixture", "code", "transient"),
    [
        (400, "error_invalid_request.json", ErrorCode.INVALID_REQUEST, False),
        (401, "error_authentication.json", ErrorCode.AUTH, False),
        (402, "error_insufficient_balance.json", ErrorCode.AUTH, False),
        (404, "error_model_not_found.json", ErrorCode.INVALID_REQUEST, False),
        (404, "error_model_disabled.json", ErrorCode.INVALID_REQUEST, False),
        (429, "error_rate_limited.json", ErrorCode.RATE_LIMITED, True),
        (502, "error_all_providers_exhausted.json", ErrorCode.SERVER_ERROR, True),
        (502, "error_upstream.json", ErrorCode.VENDOR_FAILED, False),
        (400, "error_upstream_policy.json", ErrorCode.CONTENT_POLICY, False),
    ],
)
def test_it_maps_each_documented_error_code(respx_mock, status, fixture, code, transient):
    body = load_fixture("lumenfall", fixture)
    respx_mock.post(VIDEOS_URL).mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2V))
    assert (exc.value.code, exc.value.transient) == (code, transient)
    assert exc.value.vendor_code == body["error"]["code"]
    assert body["error"]["message"] in exc.value.message


def test_it_maps_rate_limiting_to_a_transient_error_with_retry_after(respx_mock):
    respx_mock.post(IMAGES_URL).mock(
        return_value=httpx.Response(
            429, json=load_fixture("lumenfall", "error_rate_limited.json"), headers={"Retry-After": "12"}
        )
    )
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2I))
    assert exc.value.code == ErrorCode.RATE_LIMITED and exc.value.transient and exc.value.retry_after == 12


class TruncatedStream(httpx.SyncByteStream):
    def __iter__(self):
        yield b'{"id": "video_abc123", "status": "compl'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (httpx.ConnectTimeout("connect timed out"), ErrorCode.TIMEOUT),
        (httpx.ReadTimeout("read timed out"), ErrorCode.TIMEOUT),
        (httpx.ConnectError("connection refused"), ErrorCode.CONNECTION),
        (httpx.Response(500, text="Internal Server Error"), ErrorCode.SERVER_ERROR),
        (httpx.Response(502, html="<html>Bad Gateway</html>"), ErrorCode.SERVER_ERROR),
        (httpx.Response(503, text="Service Unavailable"), ErrorCode.SERVER_ERROR),
        (httpx.Response(200, html="<html><body>maintenance</body></html>"), ErrorCode.BAD_RESPONSE),
        (httpx.Response(200, content=b'{"id": "video_abc123", "status": '), ErrorCode.BAD_RESPONSE),
        (httpx.Response(200, stream=TruncatedStream()), ErrorCode.BAD_RESPONSE),
        (httpx.Response(307, headers={"Location": VIDEO_URL}), ErrorCode.BAD_RESPONSE),
        (
            httpx.Response(200, json=load_fixture("lumenfall", "video_unknown_status.json")),
            ErrorCode.UNKNOWN_STATUS,
        ),
        (httpx.Response(200, json=[1, 2]), ErrorCode.BAD_RESPONSE),
    ],
    ids=[
        "connect-timeout",
        "read-timeout",
        "connection-refused",
        "500",
        "502-html",
        "503",
        "200-html",
        "malformed-json",
        "truncated-body",
        "redirect-loop",
        "unknown-status",
        "not-an-object",
    ],
)
def test_each_fault_while_polling_is_a_transient_provider_error(respx_mock, response, code):
    route = respx_mock.get(VIDEO_URL)
    if isinstance(response, Exception):
        route.mock(side_effect=response)
    else:
        route.mock(return_value=response)
    with pytest.raises(ProviderError) as exc:
        client().poll(video_submission())
    assert exc.value.code == code and exc.value.transient
    assert len(route.calls) == 1  # a redirect is never followed


def test_a_completed_video_without_output_is_a_permanent_result_missing(respx_mock):
    respx_mock.get(VIDEO_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("lumenfall", "video_completed_no_output.json"))
    )
    with pytest.raises(ProviderError) as exc:
        client().poll(video_submission())
    assert exc.value.code == ErrorCode.RESULT_MISSING and exc.value.permanent


def test_an_unreadable_b64_image_is_a_bad_response(respx_mock):
    respx_mock.post(IMAGES_URL).mock(
        return_value=httpx.Response(200, json={"data": [{"b64_json": "not base64!"}]})
    )
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2I))
    assert exc.value.code == ErrorCode.BAD_RESPONSE


def test_a_mode_lumenfall_does_not_offer_is_refused(respx_mock):
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.R2V))
    assert exc.value.code == ErrorCode.INVALID_REQUEST
    assert not respx_mock.calls


# -- webhooks (Standard Webhooks, lumenfall.md §5) -------------------------------------------------


def signed_headers(
    body: bytes, *, secret: str = SECRET, msg_id: str = "msg_req_abc123", timestamp: int = NOW
) -> dict:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def webhook_body(name: str) -> bytes:
    return json.dumps(load_fixture("lumenfall", name)).encode()


@pytest.mark.parametrize(
    ("fixture", "status"),
    [
        ("webhook_completed.json", Status.SUCCEEDED),
        ("webhook_failed.json", Status.FAILED),
        ("webhook_cancelled.json", Status.CANCELED),
    ],
)
def test_a_correctly_signed_webhook_gives_the_video_id_and_update(fixture, status):
    body = webhook_body(fixture)
    video_id, update = client().parse_webhook(headers=signed_headers(body), body=body, now=NOW + 10)

    assert video_id == "video_abc123"
    assert update.status == status
    if status == Status.SUCCEEDED:
        assert update.outputs[0].url == "https://media.lumenfall.ai/abc123.mp4"


def test_a_webhook_signature_list_is_accepted_when_any_entry_matches():
    body = webhook_body("webhook_completed.json")
    headers = signed_headers(body)
    headers["Webhook-Signature"] = "v1,AAAA " + headers["Webhook-Signature"]
    assert client().parse_webhook(headers=headers, body=body, now=NOW)[0] == "video_abc123"


def test_a_webhook_with_one_changed_byte_is_refused():
    body = webhook_body("webhook_completed.json")
    headers = signed_headers(body)
    tampered = body.replace(b"abc123.mp4", b"abc124.mp4")
    assert len(tampered) == len(body) and tampered != body
    with pytest.raises(WebhookError):
        client().parse_webhook(headers=headers, body=tampered, now=NOW)


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_stale_or_future_webhook_is_refused(age):
    body = webhook_body("webhook_completed.json")
    with pytest.raises(WebhookError):
        client().parse_webhook(headers=signed_headers(body), body=body, now=NOW + age)


def test_a_webhook_signed_with_another_secret_is_refused():
    body = webhook_body("webhook_completed.json")
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret-32").decode()
    with pytest.raises(WebhookError):
        client().parse_webhook(headers=signed_headers(body, secret=other), body=body, now=NOW)


@pytest.mark.parametrize("missing", ["Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"])
def test_a_webhook_missing_a_signature_header_is_refused(missing):
    body = webhook_body("webhook_completed.json")
    headers = signed_headers(body)
    del headers[missing]
    with pytest.raises(WebhookError):
        client().parse_webhook(headers=headers, body=body, now=NOW)


def test_a_signed_webhook_with_an_unknown_event_is_a_transient_unknown_status():
    body = json.dumps({"type": "video.progress", "data": {"id": "video_abc123"}}).encode()
    with pytest.raises(ProviderError) as exc:
        client().parse_webhook(headers=signed_headers(body), body=body, now=NOW)
    assert exc.value.code == ErrorCode.UNKNOWN_STATUS and exc.value.transient


def test_without_the_env_secret_it_fetches_the_account_secret_once(respx_mock):
    lumenfall._secret_cache.clear()
    route = respx_mock.get(f"{BASE}/v1/webhooks/secret").mock(
        return_value=httpx.Response(200, json={"key": SECRET})
    )
    body = webhook_body("webhook_completed.json")
    for _ in range(2):
        assert (
            client(environ={}).parse_webhook(headers=signed_headers(body), body=body, now=NOW)[0]
            == "video_abc123"
        )
    assert route.call_count == 1
    assert route.calls.last.request.headers["Authorization"] == "Bearer lmnfl_test"
    lumenfall._secret_cache.clear()


def test_a_fetched_secret_is_fetched_again_after_a_signature_mismatch(respx_mock):
    lumenfall._secret_cache.clear()
    old = "whsec_" + base64.b64encode(b"the-old-secret-the-old-secret-32").decode()
    route = respx_mock.get(f"{BASE}/v1/webhooks/secret").mock(
        side_effect=[httpx.Response(200, json={"key": old}), httpx.Response(200, json={"key": SECRET})]
    )
    body = webhook_body("webhook_completed.json")
    with pytest.raises(WebhookError):
        client(environ={}).parse_webhook(headers=signed_headers(body), body=body, now=NOW)
    assert (
        client(environ={}).parse_webhook(headers=signed_headers(body), body=body, now=NOW)[0]
        == "video_abc123"
    )
    assert route.call_count == 2
    lumenfall._secret_cache.clear()


def test_a_malformed_webhook_secret_is_a_configuration_error():
    body = webhook_body("webhook_completed.json")
    with pytest.raises(ProviderError) as exc:
        client(environ={"LUMENFALL_WEBHOOK_SECRET": "whsec_***"}).parse_webhook(
            headers=signed_headers(body), body=body, now=NOW
        )
    assert exc.value.code == ErrorCode.NOT_CONFIGURED


# -- parsers raise only ProviderError --------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
video_like = st.fixed_dictionaries(
    {
        "id": json_values,
        "status": st.sampled_from(["queued", "in_progress", "completed", "failed"]) | json_values,
        "output": json_values | st.fixed_dictionaries({"url": json_values}),
        "expires_at": json_values,
        "error": json_values,
        "progress": json_values,
        "metadata": json_values | st.fixed_dictionaries({"cost": json_values, "cost_currency": json_values}),
    }
)
images_like = st.fixed_dictionaries(
    {
        "data": json_values
        | st.lists(
            st.fixed_dictionaries(
                {"url": json_values, "b64_json": json_values, "revised_prompt": json_values}
            )
        ),
        "metadata": json_values | st.fixed_dictionaries({"cost": json_values}),
    }
)
event_like = st.fixed_dictionaries(
    {"type": st.sampled_from(list(lumenfall.EVENTS)) | json_values, "data": json_values | video_like}
)


@settings(max_examples=300, deadline=None)
@given(body=json_values | video_like | images_like)
def test_the_video_and_image_parsers_raise_only_provider_errors(body):
    for parse in (parse_video, parse_images, parse_created):
        with contextlib.suppress(ProviderError):
            parse(body)


@settings(max_examples=200, deadline=None)
@given(payload=json_values | event_like)
def test_the_webhook_event_parser_raises_only_provider_or_webhook_errors(payload):
    with contextlib.suppress(ProviderError, WebhookError):
        parse_event(payload)


@settings(max_examples=200, deadline=None)
@given(body=json_values, status=st.integers(min_value=300, max_value=599))
def test_the_error_mapper_always_returns_a_provider_error(body, status):
    response = httpx.Response(
        status, content=json.dumps(body).encode(), request=httpx.Request("POST", VIDEOS_URL)
    )
    assert isinstance(error_from_response(response), ProviderError)
