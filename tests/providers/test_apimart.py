"""APIMart client against respx: exact requests, every status, every error shape, the fault matrix."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.apimart import ApimartClient, error_from_response, parse_submit, parse_task
from providers.base import (
    ErrorCode,
    GenerationRequest,
    MediaInput,
    Mode,
    ProviderError,
    Status,
    Submission,
)
from tests.providers.conftest import load_fixture

BASE = "https://api.apimart.ai"
SUBMIT_URL = f"{BASE}/v1/videos/generations"
TASK_ID = "task_01J9HA7JPQ9A0Z6JZ3V8M9W6PZ"
TASK_URL = f"{BASE}/v1/tasks/{TASK_ID}"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def client() -> ApimartClient:
    return ApimartClient(api_key="sk-test", base_url=BASE, environ={})


def request(model: str = "wan2.6", mode: Mode = Mode.T2V, **kwargs) -> GenerationRequest:
    kwargs.setdefault("prompt", "A cute cat running on the grass")
    return GenerationRequest(provider="apimart", model=model, mode=mode, idempotency_key="job-123", **kwargs)


def submission() -> Submission:
    return Submission(
        provider="apimart", vendor_job_id=TASK_ID, state={"task_id": TASK_ID, "model": "wan2.6"}
    )


def image(url: str | None = "https://cdn.example/first.png") -> MediaInput:
    return MediaInput(slot="image", content_type="image/png", data=PNG, url=url, filename="first.png")


def sent_json(route) -> dict:
    return json.loads(route.calls.last.request.content)


def mock_submit(respx_mock):
    return respx_mock.post(SUBMIT_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("apimart", "submit.json"))
    )


# -- requests --------------------------------------------------------------------------------------


def test_it_submits_text_to_video_with_bearer_auth_and_translated_params(respx_mock):
    route = mock_submit(respx_mock)
    req = request(
        params={
            "negative_prompt": "blurry",
            "seed": 7,
            "aspect_ratio": "16:9",
            "resolution": "720p",
            "duration": 10,
            "audio": True,
            "multi_shot": True,
            "prompt_expansion": True,
            "watermark": False,
        }
    )
    result = client().submit(req)

    sent = route.calls.last.request
    assert sent.method == "POST" and sent.url.path == "/v1/videos/generations"
    assert sent.headers["Authorization"] == "Bearer sk-test"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Idempotency-Key"] == "job-123"
    assert sent_json(route) == {
        "model": "wan2.6",
        "prompt": "A cute cat running on the grass",
        "negative_prompt": "blurry",
        "seed": 7,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration": 10,
        "audio": True,
        "prompt_extend": True,
        "shot_type": "multi",
        "watermark": False,
    }
    assert result.vendor_job_id == TASK_ID
    assert result.state == {"task_id": TASK_ID, "model": "wan2.6"}
    assert result.update is None


def test_it_sends_the_first_frame_url_in_image_urls_for_image_to_video(respx_mock):
    route = mock_submit(respx_mock)
    client().submit(
        request(mode=Mode.I2V, inputs=[image()], params={"aspect_ratio": "16:9", "resolution": "1080p"})
    )

    body = sent_json(route)
    assert body["image_urls"] == ["https://cdn.example/first.png"]
    # apimart.md §4: aspect_ratio is "not supported in I2V"; the frame decides.
    assert "aspect_ratio" not in body
    assert body["resolution"] == "1080p"


def test_it_sends_a_data_uri_when_the_first_frame_has_no_public_url(respx_mock):
    route = mock_submit(respx_mock)
    client().submit(request(mode=Mode.I2V, inputs=[image(url=None)]))

    (uri,) = sent_json(route)["image_urls"]
    assert uri == "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_it_submits_the_flash_model_with_audio_url_and_single_shot(respx_mock):
    route = mock_submit(respx_mock)
    audio = MediaInput(slot="audio", content_type="audio/mpeg", data=b"ID3", url="https://cdn.example/a.mp3")
    req = request(
        model="wan2.6-i2v-flash",
        mode=Mode.I2V,
        prompt="The person turns around and smiles",
        inputs=[image(), audio],
        params={"duration": 2, "audio": True, "prompt_expansion": True, "multi_shot": False, "seed": 12345},
    )
    client().submit(req)

    assert sent_json(route) == {
        "model": "wan2.6-i2v-flash",
        "prompt": "The person turns around and smiles",
        "image_urls": ["https://cdn.example/first.png"],
        "seed": 12345,
        "duration": 2,
        "audio": True,
        "audio_url": "https://cdn.example/a.mp3",
        "prompt_extend": True,
        "shot_type": "single",
    }


def test_it_carries_the_aspect_ratio_in_size_for_wan_2_5_preview(respx_mock):
    route = mock_submit(respx_mock)
    client().submit(
        request(model="wan2.5-preview", params={"aspect_ratio": "16:9", "resolution": "720p", "duration": 5})
    )

    assert sent_json(route) == {
        "model": "wan2.5-preview",
        "prompt": "A cute cat running on the grass",
        "size": "16:9",
        "resolution": "720p",
        "duration": 5,
    }


def test_it_switches_wan_2_5_preview_to_image_to_video_with_image_urls(respx_mock):
    route = mock_submit(respx_mock)
    client().submit(request(model="wan2.5-preview", mode=Mode.I2V, inputs=[image()]))

    assert sent_json(route)["image_urls"] == ["https://cdn.example/first.png"]


def test_it_passes_vendor_only_fields_under_their_own_name(respx_mock):
    route = mock_submit(respx_mock)
    client().submit(request(mode=Mode.I2V, inputs=[image()], params={"template": "hug"}))

    assert sent_json(route)["template"] == "hug"


def test_it_leaves_multi_shot_out_when_prompt_expansion_is_off(respx_mock):
    route = mock_submit(respx_mock)
    client().submit(request(params={"multi_shot": True, "prompt_expansion": False}))

    body = sent_json(route)
    assert body["prompt_extend"] is False and "shot_type" not in body


def test_it_needs_a_public_url_for_custom_audio(respx_mock):
    audio = MediaInput(slot="audio", content_type="audio/mpeg", data=b"ID3")
    with pytest.raises(ProviderError) as exc:
        client().submit(request(mode=Mode.I2V, inputs=[image(), audio]))
    assert exc.value.code == ErrorCode.INVALID_REQUEST and exc.value.permanent
    assert "public URL" in exc.value.message


@pytest.mark.parametrize(
    ("params", "inputs"),
    [
        ({"size": "1280x720"}, []),
        ({"num_outputs": 2}, []),
        ({"loras": []}, []),
        ({}, None),  # image-to-video without an image
    ],
)
def test_it_refuses_what_apimart_cannot_do_before_calling_it(respx_mock, params, inputs):
    mode = Mode.I2V if inputs is None else Mode.T2V
    with pytest.raises(ProviderError) as exc:
        client().submit(request(mode=mode, params=params, inputs=inputs or []))
    assert exc.value.code == ErrorCode.INVALID_REQUEST and exc.value.permanent
    assert not respx_mock.calls


def test_it_polls_the_task_endpoint_with_bearer_auth(respx_mock):
    route = respx_mock.get(TASK_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("apimart", "task_processing.json"))
    )
    update = client().poll(submission())

    sent = route.calls.last.request
    assert sent.method == "GET" and sent.url.path == f"/v1/tasks/{TASK_ID}"
    assert sent.headers["Authorization"] == "Bearer sk-test"
    assert update.status == Status.RUNNING and update.progress == 40


def test_it_has_no_cancel_and_makes_no_call(respx_mock):
    assert client().cancel(submission()) is False
    assert not respx_mock.calls


# -- statuses --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "status"),
    [
        ("task_submitted.json", Status.QUEUED),
        ("task_pending.json", Status.QUEUED),
        ("task_processing.json", Status.RUNNING),
        ("task_completed.json", Status.SUCCEEDED),
        ("task_failed.json", Status.FAILED),
        ("task_cancelled.json", Status.CANCELED),
    ],
)
def test_it_maps_every_documented_status(respx_mock, fixture, status):
    respx_mock.get(TASK_URL).mock(return_value=httpx.Response(200, json=load_fixture("apimart", fixture)))
    update = client().poll(submission())
    assert update.status == status
    assert update.vendor_status == load_fixture("apimart", fixture)["data"]["status"]


@pytest.mark.parametrize("fixture", ["task_completed.json", "task_completed_url_string.json"])
def test_it_reads_result_video_urls_as_array_or_string_with_expiry(respx_mock, fixture):
    respx_mock.get(TASK_URL).mock(return_value=httpx.Response(200, json=load_fixture("apimart", fixture)))
    update = client().poll(submission())

    (output,) = update.outputs
    assert output.kind == "video"
    assert output.url == "https://upload.apimart.ai/f/video/9f2c.mp4"
    assert output.expires_at == datetime.fromtimestamp(1763174708, tz=UTC)
    assert update.progress == 100


@pytest.mark.parametrize(
    ("fixture", "code", "message"),
    [
        ("task_failed.json", ErrorCode.VENDOR_FAILED, "upstream timeout"),
        ("task_failed_string_error.json", ErrorCode.VENDOR_FAILED, "generation failed"),
        ("task_failed_moderation.json", ErrorCode.CONTENT_POLICY, "inappropriate"),
    ],
)
def test_it_reports_the_vendor_failure_on_a_failed_task(respx_mock, fixture, code, message):
    respx_mock.get(TASK_URL).mock(return_value=httpx.Response(200, json=load_fixture("apimart", fixture)))
    update = client().poll(submission())

    assert update.status == Status.FAILED
    assert update.error is not None and update.error.code == code and update.error.permanent
    assert message in update.error.message


# -- errors and the fault matrix -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "fixture", "code", "transient", "vendor_code"),
    [
        (400, "error_invalid_request.json", ErrorCode.INVALID_REQUEST, False, "invalid_request_error"),
        (401, "error_unauthorized.json", ErrorCode.AUTH, False, "authentication_error"),
        (403, "error_unauthorized.json", ErrorCode.AUTH, False, "authentication_error"),
        (402, "error_insufficient_credit.json", ErrorCode.AUTH, False, "insufficient_quota"),
        (400, "error_content_policy.json", ErrorCode.CONTENT_POLICY, False, "content_policy_violation"),
        (404, "error_not_found.json", ErrorCode.NOT_FOUND, False, "not_found_error"),
        (500, "error_server.json", ErrorCode.SERVER_ERROR, True, "server_error"),
    ],
)
def test_it_maps_each_documented_error_body(respx_mock, status, fixture, code, transient, vendor_code):
    respx_mock.post(SUBMIT_URL).mock(
        return_value=httpx.Response(status, json=load_fixture("apimart", fixture))
    )
    with pytest.raises(ProviderError) as exc:
        client().submit(request())
    assert (exc.value.code, exc.value.transient, exc.value.vendor_code) == (code, transient, vendor_code)
    assert exc.value.http_status == status
    assert load_fixture("apimart", fixture)["error"]["message"] in exc.value.message


def test_it_treats_an_error_envelope_inside_a_200_answer_as_that_error(respx_mock):
    body = {"code": 402, "error": {"message": "Insufficient credits", "type": "insufficient_quota"}}
    respx_mock.post(SUBMIT_URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(ProviderError) as exc:
        client().submit(request())
    assert exc.value.permanent and exc.value.vendor_code == "insufficient_quota"


def test_it_maps_rate_limiting_to_a_transient_error_with_retry_after(respx_mock):
    respx_mock.post(SUBMIT_URL).mock(
        return_value=httpx.Response(
            429, json=load_fixture("apimart", "error_rate_limited.json"), headers={"Retry-After": "7"}
        )
    )
    with pytest.raises(ProviderError) as exc:
        client().submit(request())
    assert exc.value.code == ErrorCode.RATE_LIMITED and exc.value.transient
    assert exc.value.retry_after == 7


class TruncatedStream(httpx.SyncByteStream):
    def __iter__(self):
        yield b'{"code": 200, "data": {"status": "comp'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (httpx.ConnectTimeout("connect timed out"), ErrorCode.TIMEOUT),
        (httpx.ReadTimeout("read timed out"), ErrorCode.TIMEOUT),
        (httpx.ConnectError("connection refused"), ErrorCode.CONNECTION),
        (httpx.Response(500, text="Internal Server Error"), ErrorCode.SERVER_ERROR),
        (httpx.Response(502, html="<html><body>Bad Gateway</body></html>"), ErrorCode.SERVER_ERROR),
        (httpx.Response(503, text="Service Unavailable"), ErrorCode.SERVER_ERROR),
        (httpx.Response(200, html="<html><body>maintenance</body></html>"), ErrorCode.BAD_RESPONSE),
        (httpx.Response(200, content=b'{"code": 200, "data": {"status": '), ErrorCode.BAD_RESPONSE),
        (httpx.Response(200, stream=TruncatedStream()), ErrorCode.BAD_RESPONSE),
        (httpx.Response(302, headers={"Location": TASK_URL}), ErrorCode.BAD_RESPONSE),
        (
            httpx.Response(200, json=load_fixture("apimart", "task_unknown_status.json")),
            ErrorCode.UNKNOWN_STATUS,
        ),
        (httpx.Response(200, json={"code": 200}), ErrorCode.BAD_RESPONSE),
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
        "no-data",
    ],
)
def test_each_fault_while_polling_is_a_transient_provider_error(respx_mock, response, code):
    route = respx_mock.get(TASK_URL)
    if isinstance(response, Exception):
        route.mock(side_effect=response)
    else:
        route.mock(return_value=response)
    with pytest.raises(ProviderError) as exc:
        client().poll(submission())
    assert exc.value.code == code
    assert exc.value.transient
    # The redirect is never followed: one call, not a loop.
    assert len(route.calls) == 1


def test_a_completed_task_without_a_result_url_is_a_permanent_result_missing(respx_mock):
    respx_mock.get(TASK_URL).mock(
        return_value=httpx.Response(200, json=load_fixture("apimart", "task_completed_no_url.json"))
    )
    with pytest.raises(ProviderError) as exc:
        client().poll(submission())
    assert exc.value.code == ErrorCode.RESULT_MISSING and exc.value.permanent


def test_a_submit_answer_without_a_task_id_is_a_bad_response(respx_mock):
    respx_mock.post(SUBMIT_URL).mock(return_value=httpx.Response(200, json={"code": 200, "data": []}))
    with pytest.raises(ProviderError) as exc:
        client().submit(request())
    assert exc.value.code == ErrorCode.BAD_RESPONSE


def test_the_base_url_is_configurable(respx_mock):
    route = respx_mock.post("http://127.0.0.1:9/v1/videos/generations").mock(
        return_value=httpx.Response(200, json=load_fixture("apimart", "submit.json"))
    )
    ApimartClient(api_key="k", base_url="http://127.0.0.1:9/", environ={}).submit(request())
    assert route.called


# -- parsers raise only ProviderError --------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
task_like = st.fixed_dictionaries(
    {
        "code": json_values,
        "data": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "status": st.sampled_from(["pending", "processing", "completed", "failed", "cancelled"])
                    | json_values,
                    "progress": json_values,
                    "result": json_values
                    | st.fixed_dictionaries(
                        {
                            "videos": st.lists(
                                st.fixed_dictionaries({"url": json_values, "expires_at": json_values})
                            )
                        }
                    ),
                    "error": json_values,
                }
            ),
        ),
        "error": json_values,
    }
)


@settings(max_examples=300, deadline=None)
@given(body=json_values | task_like)
def test_the_task_and_submit_parsers_raise_only_provider_errors(body):
    for parse in (parse_task, parse_submit):
        with contextlib.suppress(ProviderError):
            parse(body)


@settings(max_examples=200, deadline=None)
@given(body=json_values, status=st.integers(min_value=300, max_value=599))
def test_the_error_mapper_always_returns_a_provider_error(body, status):
    response = httpx.Response(
        status, content=json.dumps(body).encode(), request=httpx.Request("POST", SUBMIT_URL)
    )
    assert isinstance(error_from_response(response), ProviderError)
