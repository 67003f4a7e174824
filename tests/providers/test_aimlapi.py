"""AI/ML API client against respx: exact requests per mode, every status, every error shape, the fault matrix."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers import aimlapi
from providers.aimlapi import AimlapiClient
from providers.base import ErrorCode, GenerationRequest, MediaInput, Mode, ProviderError, Status, Submission
from tests.providers.conftest import load_fixture

BASE = "https://api.aimlapi.com"
VIDEO_URL = f"{BASE}/v2/video/generations"
IMAGE_URL = f"{BASE}/v1/images/generations"
GENERATION_ID = "V2cdWP9kao8xiofM-OvwG"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def fixture(name: str) -> Any:
    return load_fixture("aimlapi", name)


def client() -> AimlapiClient:
    return AimlapiClient(api_key="aiml-test", base_url=BASE, environ={})


def request(mode: Mode, model: str, *, prompt: str = "a cat", inputs=(), **params: Any) -> GenerationRequest:
    return GenerationRequest(
        provider="aimlapi", model=model, mode=mode, prompt=prompt, params=params, inputs=list(inputs)
    )


def video_submission(**state: Any) -> Submission:
    return Submission(
        "aimlapi", GENERATION_ID, state={"generation_id": GENERATION_ID, "output_kind": "video", **state}
    )


def sent(route) -> tuple[httpx.Request, dict[str, Any]]:
    req = route.calls.last.request
    return req, json.loads(req.content) if req.content else {}


def create_route(respx_mock):
    return respx_mock.post(VIDEO_URL).mock(
        return_value=httpx.Response(200, json=fixture("video_create.json"))
    )


def poll_route(respx_mock, response: httpx.Response):
    return respx_mock.get(VIDEO_URL, params={"generation_id": GENERATION_ID}).mock(return_value=response)


# ---------------------------------------------------------------------------------------------
# Images (sync)


def test_text_to_image_posts_to_the_image_endpoint_and_returns_finished_images(respx_mock):
    route = respx_mock.post(IMAGE_URL).mock(
        return_value=httpx.Response(200, json=fixture("image_response.json"))
    )
    submission = client().submit(
        request(
            Mode.T2I,
            "alibaba/wan-2-6-image",
            prompt="A flower shop with a wooden door",
            size="1024x768",
            negative_prompt="blurry",
            prompt_expansion=False,
            watermark=False,
            seed=42,
        )
    )
    req, body = sent(route)
    assert req.method == "POST"
    assert req.headers["Authorization"] == "Bearer aiml-test"
    assert req.headers["Content-Type"] == "application/json"
    assert body == {
        "model": "alibaba/wan-2-6-image",
        "prompt": "A flower shop with a wooden door",
        "image_size": {"width": 1024, "height": 768},
        "negative_prompt": "blurry",
        "enhance_prompt": False,
        "seed": 42,
        "watermark": False,
    }
    update = submission.update
    assert update is not None and update.status == Status.SUCCEEDED
    [output] = update.outputs
    assert output.kind == "image"
    assert output.url == fixture("image_response.json")["data"][0]["url"]
    assert output.expires_at == datetime.fromtimestamp(1775681104, tz=UTC)
    assert update.seed == 42
    assert update.cost_usd == Decimal("0.06")  # 120000 credits at 2,000,000 credits per USD
    assert submission.state == {
        "model": "alibaba/wan-2-6-image",
        "mode": "t2i",
        "seed": 42,
        "output_kind": "image",
    }


def test_image_edit_sends_image_urls_with_urls_and_data_uris(respx_mock):
    route = respx_mock.post(IMAGE_URL).mock(
        return_value=httpx.Response(200, json=fixture("image_response.json"))
    )
    inputs = [
        MediaInput(slot="image", content_type="image/png", url="https://example.com/clock.png"),
        MediaInput(slot="image", content_type="image/png", data=PNG),
    ]
    client().submit(
        request(
            Mode.EDIT,
            "alibaba/wan-2-6-image",
            prompt="Put the clock on the table",
            inputs=inputs,
            aspect_ratio="16:9",
        )
    )
    body = sent(route)[1]
    assert body == {
        "model": "alibaba/wan-2-6-image",
        "prompt": "Put the clock on the table",
        "image_urls": [
            "https://example.com/clock.png",
            "data:image/png;base64," + base64.b64encode(PNG).decode(),
        ],
        "image_size": "landscape_16_9",
    }


def test_older_image_models_get_num_images(respx_mock):
    route = respx_mock.post(IMAGE_URL).mock(
        return_value=httpx.Response(200, json=fixture("image_response.json"))
    )
    client().submit(request(Mode.T2I, "alibaba/wan2.5-t2i-preview", num_outputs=3, image_size="square_hd"))
    assert sent(route)[1] == {
        "model": "alibaba/wan2.5-t2i-preview",
        "prompt": "a cat",
        "num_images": 3,
        "image_size": "square_hd",  # a vendor preset passes through under its own name
    }


def test_asking_wan_2_6_image_for_several_images_is_refused(respx_mock):
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2I, "alibaba/wan-2-6-image", num_outputs=2))
    assert exc.value.code == ErrorCode.INVALID_REQUEST
    assert not respx_mock.calls


def test_b64_json_images_come_back_as_bytes(respx_mock):
    respx_mock.post(IMAGE_URL).mock(return_value=httpx.Response(200, json=fixture("image_response_b64.json")))
    update = client().submit(request(Mode.T2I, "alibaba/wan-2-6-image")).update
    assert update.outputs[0].data == b"\x89PNG\r\n\x1a\n"
    assert update.outputs[0].url is None


def test_an_image_answer_without_images_is_result_missing(respx_mock):
    respx_mock.post(IMAGE_URL).mock(
        return_value=httpx.Response(200, json=fixture("image_response_empty.json"))
    )
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2I, "alibaba/wan-2-6-image"))
    assert (exc.value.code, exc.value.permanent) == (ErrorCode.RESULT_MISSING, True)


def test_a_sync_image_submission_gets_a_unique_vendor_id_from_the_job(respx_mock):
    respx_mock.post(IMAGE_URL).mock(return_value=httpx.Response(200, json=fixture("image_response.json")))
    req = request(Mode.T2I, "alibaba/wan-2-6-image")
    req.idempotency_key = "job-123"
    assert client().submit(req).vendor_job_id == "sync-job-123"


def test_polling_a_sync_image_submission_that_lost_its_update_is_not_found(respx_mock):
    submission = Submission("aimlapi", "sync-job-123", state={"output_kind": "image"})
    with pytest.raises(ProviderError) as exc:
        client().poll(submission)
    assert (exc.value.code, exc.value.permanent) == (ErrorCode.NOT_FOUND, True)
    assert not respx_mock.calls


def test_a_create_answer_with_an_odd_status_still_returns_the_submission(respx_mock):
    respx_mock.post(VIDEO_URL).mock(
        return_value=httpx.Response(200, json={"id": GENERATION_ID, "status": "waiting"})
    )
    submission = client().submit(request(Mode.T2V, "alibaba/wan-2-6-t2v"))
    assert (submission.vendor_job_id, submission.update) == (GENERATION_ID, None)


def test_polling_a_sync_image_submission_returns_its_update_without_a_call(respx_mock):
    respx_mock.post(IMAGE_URL).mock(return_value=httpx.Response(200, json=fixture("image_response.json")))
    ac = client()
    submission = ac.submit(request(Mode.T2I, "alibaba/wan-2-6-image"))
    assert ac.poll(submission) is submission.update
    assert len(respx_mock.calls) == 1


# ---------------------------------------------------------------------------------------------
# Video (queue)


def test_text_to_video_posts_a_flat_body_with_int_duration_and_lowercase_resolution(respx_mock):
    route = create_route(respx_mock)
    audio = MediaInput(slot="audio", content_type="audio/mpeg", url="https://example.com/voice.mp3")
    submission = client().submit(
        request(
            Mode.T2V,
            "alibaba/wan-2-6-t2v",
            prompt="A detective chase",
            inputs=[audio],
            aspect_ratio="16:9",
            resolution="720P",
            duration=10,
            negative_prompt="low quality",
            multi_shot=True,
            audio=True,
            prompt_expansion=True,
            seed=7,
        )
    )
    req, body = sent(route)
    assert (req.method, req.url.path) == ("POST", "/v2/video/generations")
    assert req.headers["Authorization"] == "Bearer aiml-test"
    assert body == {
        "model": "alibaba/wan-2-6-t2v",
        "prompt": "A detective chase",
        "audio_url": "https://example.com/voice.mp3",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration": 10,
        "negative_prompt": "low quality",
        "shot_type": "multi",
        "generate_audio": True,
        "enhance_prompt": True,
        "seed": 7,
    }
    assert isinstance(body["duration"], int)
    assert submission.vendor_job_id == GENERATION_ID
    assert submission.update is None  # queued: the app polls
    assert submission.state == {
        "model": "alibaba/wan-2-6-t2v",
        "mode": "t2v",
        "seed": 7,
        "output_kind": "video",
        "generation_id": GENERATION_ID,
        "credits_used": "1575000",
    }


@pytest.mark.parametrize("model", ["alibaba/wan-2-6-i2v", "alibaba/wan-2-6-image-to-video-flash"])
def test_image_to_video_sends_image_url_and_no_aspect_ratio(respx_mock, model):
    route = create_route(respx_mock)
    frame = MediaInput(slot="image", content_type="image/jpeg", data=b"\xff\xd8\xff\xe0jpeg")
    client().submit(
        request(
            Mode.I2V,
            model,
            prompt="Mona Lisa puts on glasses with her hands.",
            inputs=[frame],
            aspect_ratio="16:9",
            resolution="1080p",
            duration=5,
            multi_shot=False,
            audio=True,
            prompt_expansion=True,
            seed=7,
        )
    )
    assert sent(route)[1] == {
        "model": model,
        "prompt": "Mona Lisa puts on glasses with her hands.",
        "image_url": "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff\xe0jpeg").decode(),
        "resolution": "1080p",
        "duration": 5,
        "shot_type": "single",
        "generate_audio": True,
        "enhance_prompt": True,
        "seed": 7,
    }


def test_image_to_video_prefers_the_public_url(respx_mock):
    route = create_route(respx_mock)
    frame = MediaInput(
        slot="image", content_type="image/jpeg", data=b"x", url="https://example.com/mona_lisa.jpg"
    )
    client().submit(request(Mode.I2V, "alibaba/wan-2-6-i2v", inputs=[frame]))
    assert sent(route)[1]["image_url"] == "https://example.com/mona_lisa.jpg"


def test_reference_to_video_sends_video_urls_in_order(respx_mock):
    route = create_route(respx_mock)
    refs = [
        MediaInput(slot="video", content_type="video/mp4", url="https://example.com/a.mp4"),
        MediaInput(slot="video", content_type="video/mp4", url="https://example.com/b.mp4"),
    ]
    client().submit(
        request(
            Mode.R2V, "alibaba/wan-2-6-r2v", prompt="character1 waves at character2", inputs=refs, duration=5
        )
    )
    assert sent(route)[1] == {
        "model": "alibaba/wan-2-6-r2v",
        "prompt": "character1 waves at character2",
        "video_urls": ["https://example.com/a.mp4", "https://example.com/b.mp4"],
        "duration": 5,
    }


def test_reference_videos_without_a_public_url_are_refused(respx_mock):
    ref = MediaInput(slot="video", content_type="video/mp4", data=b"....ftypisom")
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.R2V, "alibaba/wan-2-6-r2v", inputs=[ref]))
    assert (exc.value.code, exc.value.permanent) == (ErrorCode.INVALID_REQUEST, True)
    assert "PUBLIC_BASE_URL" in exc.value.message
    assert not respx_mock.calls


def test_wan_2_2_keeps_its_upper_case_resolution(respx_mock):
    route = create_route(respx_mock)
    client().submit(request(Mode.T2V, "alibaba/wan2.2-t2v-plus", resolution="1080p", watermark=True))
    body = sent(route)[1]
    assert (body["resolution"], body["watermark"]) == ("1080P", True)


def test_a_create_answer_without_an_id_is_a_bad_response(respx_mock):
    respx_mock.post(VIDEO_URL).mock(return_value=httpx.Response(200, json={"status": "queued"}))
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2V, "alibaba/wan-2-6-t2v"))
    assert exc.value.code == ErrorCode.BAD_RESPONSE


def test_a_create_answer_that_already_failed_is_returned_finished(respx_mock):
    respx_mock.post(VIDEO_URL).mock(return_value=httpx.Response(200, json=fixture("video_error.json")))
    submission = client().submit(request(Mode.T2V, "alibaba/wan-2-6-t2v"))
    assert submission.update.status == Status.FAILED


# ---------------------------------------------------------------------------------------------
# Polling: every documented status


@pytest.mark.parametrize(
    ("name", "status"),
    [("video_queued.json", Status.QUEUED), ("video_generating.json", Status.RUNNING)],
)
def test_poll_maps_unfinished_statuses(respx_mock, name, status):
    route = poll_route(respx_mock, httpx.Response(200, json=fixture(name)))
    update = client().poll(video_submission())
    req, _ = sent(route)
    assert req.method == "GET"
    assert req.url.path == "/v2/video/generations"
    assert req.url.params["generation_id"] == GENERATION_ID
    assert req.headers["Authorization"] == "Bearer aiml-test"
    assert update.status == status
    assert update.vendor_status == fixture(name)["status"]


def test_poll_of_a_completed_video_returns_its_url_and_the_cost_from_submit(respx_mock):
    poll_route(respx_mock, httpx.Response(200, json=fixture("video_completed.json")))
    update = client().poll(video_submission(seed=7, credits_used="1575000"))
    assert update.status == Status.SUCCEEDED
    [output] = update.outputs
    assert (output.kind, output.content_type) == ("video", "video/mp4")
    assert output.url == fixture("video_completed.json")["video"]["url"]
    assert output.expires_at == datetime.fromtimestamp(1767805107, tz=UTC)
    assert update.seed == 7
    assert update.cost_usd == Decimal("0.7875")


def test_poll_prefers_the_credits_the_poll_reports(respx_mock):
    poll_route(respx_mock, httpx.Response(200, json=fixture("video_completed_with_usage.json")))
    assert client().poll(video_submission(credits_used="2")).cost_usd == Decimal("0.7875")


@pytest.mark.parametrize(
    ("name", "code", "vendor_code"),
    [
        ("video_error.json", ErrorCode.VENDOR_FAILED, "GenerationError"),
        ("video_error_content.json", ErrorCode.CONTENT_POLICY, "DataInspectionFailed"),
    ],
)
def test_poll_of_an_errored_generation_fails_with_its_message(respx_mock, name, code, vendor_code):
    poll_route(respx_mock, httpx.Response(200, json=fixture(name)))
    update = client().poll(video_submission())
    assert update.status == Status.FAILED
    assert (update.error.code, update.error.vendor_code, update.error.permanent) == (code, vendor_code, True)
    assert fixture(name)["error"]["message"] in update.error.message


def test_poll_of_an_unlisted_status_is_a_transient_unknown_status(respx_mock):
    poll_route(respx_mock, httpx.Response(200, json=fixture("video_unlisted_status.json")))
    with pytest.raises(ProviderError) as exc:
        client().poll(video_submission())
    assert (exc.value.code, exc.value.transient, exc.value.vendor_code) == (
        ErrorCode.UNKNOWN_STATUS,
        True,
        "cancelled",
    )


def test_poll_of_a_completed_generation_without_a_url_is_result_missing(respx_mock):
    poll_route(respx_mock, httpx.Response(200, json=fixture("video_completed_no_url.json")))
    with pytest.raises(ProviderError) as exc:
        client().poll(video_submission())
    assert (exc.value.code, exc.value.permanent) == (ErrorCode.RESULT_MISSING, True)


# ---------------------------------------------------------------------------------------------
# Error bodies {message, path, requestId, statusCode, timestamp}


@pytest.mark.parametrize(
    ("name", "code", "transient"),
    [
        ("error_400.json", ErrorCode.INVALID_REQUEST, False),
        ("error_validation_list.json", ErrorCode.INVALID_REQUEST, False),
        ("error_401.json", ErrorCode.AUTH, False),
        ("error_403.json", ErrorCode.AUTH, False),
        ("error_404.json", ErrorCode.NOT_FOUND, False),
        ("error_429.json", ErrorCode.RATE_LIMITED, True),
        ("error_500.json", ErrorCode.SERVER_ERROR, True),
    ],
)
def test_submit_maps_aimlapi_error_bodies(respx_mock, name, code, transient):
    body = fixture(name)
    respx_mock.post(VIDEO_URL).mock(return_value=httpx.Response(body["statusCode"], json=body))
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2V, "alibaba/wan-2-6-t2v"))
    assert (exc.value.code, exc.value.transient, exc.value.http_status) == (
        code,
        transient,
        body["statusCode"],
    )
    first = body["message"][0] if isinstance(body["message"], list) else body["message"]
    assert first in exc.value.message


def test_image_errors_use_the_same_shape(respx_mock):
    respx_mock.post(IMAGE_URL).mock(return_value=httpx.Response(403, json=fixture("error_403.json")))
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2I, "alibaba/wan-2-6-image"))
    assert exc.value.code == ErrorCode.AUTH
    assert "run out of credits" in exc.value.message


# ---------------------------------------------------------------------------------------------
# Fault matrix (shared/RELIABILITY.md section 7), for submit and poll

FAULTS = {
    "connect timeout": (
        lambda: {"side_effect": httpx.ConnectTimeout("connect timed out")},
        ErrorCode.TIMEOUT,
        True,
    ),
    "read timeout": (lambda: {"side_effect": httpx.ReadTimeout("read timed out")}, ErrorCode.TIMEOUT, True),
    "connection refused": (
        lambda: {"side_effect": httpx.ConnectError("refused")},
        ErrorCode.CONNECTION,
        True,
    ),
    "429 with Retry-After": (
        lambda: {
            "return_value": httpx.Response(429, headers={"Retry-After": "7"}, json=fixture("error_429.json"))
        },
        ErrorCode.RATE_LIMITED,
        True,
    ),
    "500": (
        lambda: {"return_value": httpx.Response(500, json=fixture("error_500.json"))},
        ErrorCode.SERVER_ERROR,
        True,
    ),
    "502 html": (
        lambda: {"return_value": httpx.Response(502, html="<html><body>Bad Gateway</body></html>")},
        ErrorCode.SERVER_ERROR,
        True,
    ),
    "503": (
        lambda: {"return_value": httpx.Response(503, text="Service Unavailable")},
        ErrorCode.SERVER_ERROR,
        True,
    ),
    "200 html": (
        lambda: {"return_value": httpx.Response(200, html="<html>login</html>")},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    "200 malformed json": (
        lambda: {"return_value": httpx.Response(200, text="{nope")},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    "200 truncated json": (
        lambda: {"return_value": httpx.Response(200, text='{"id": "V2cd", "stat')},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    "200 json string": (
        lambda: {"return_value": httpx.Response(200, json="queued")},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    "body cut off mid-transfer": (
        lambda: {
            "side_effect": httpx.RemoteProtocolError("peer closed connection without sending complete body")
        },
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    "redirect loop": (
        lambda: {"return_value": httpx.Response(301, headers={"Location": VIDEO_URL})},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("operation", ["submit video", "submit image", "poll"])
def test_faults_become_typed_provider_errors(respx_mock, fault, operation):
    make_mock, code, transient = FAULTS[fault]
    ac = client()
    if operation == "submit video":
        respx_mock.post(VIDEO_URL).mock(**make_mock())
        call = lambda: ac.submit(request(Mode.T2V, "alibaba/wan-2-6-t2v"))  # noqa: E731
    elif operation == "submit image":
        respx_mock.post(IMAGE_URL).mock(**make_mock())
        call = lambda: ac.submit(request(Mode.T2I, "alibaba/wan-2-6-image"))  # noqa: E731
    else:
        respx_mock.get(VIDEO_URL).mock(**make_mock())
        call = lambda: ac.poll(video_submission())  # noqa: E731
    with pytest.raises(ProviderError) as exc:
        call()
    assert exc.value.code == code
    assert exc.value.transient is transient


def test_retry_after_is_carried_on_the_rate_limit_error(respx_mock):
    poll_route(respx_mock, httpx.Response(429, headers={"Retry-After": "12"}, json=fixture("error_429.json")))
    with pytest.raises(ProviderError) as exc:
        client().poll(video_submission())
    assert exc.value.retry_after == 12.0


# ---------------------------------------------------------------------------------------------
# Cancel


def test_cancel_is_not_offered_so_it_makes_no_call(respx_mock):
    assert client().cancel(video_submission()) is False
    assert not respx_mock.calls


# ---------------------------------------------------------------------------------------------
# Parsers raise only ProviderError, whatever the JSON

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
generation_like = st.fixed_dictionaries(
    {"status": st.sampled_from([*aimlapi.STATUSES, "cancelled"]) | json_values},
    optional={
        "id": json_values,
        "video": st.fixed_dictionaries({}, optional={"url": json_values}) | json_values,
        "error": st.dictionaries(st.sampled_from(["name", "message"]), json_values) | json_values,
        "meta": st.fixed_dictionaries({"usage": st.dictionaries(st.just("credits_used"), json_values)})
        | json_values,
    },
)
image_like = st.fixed_dictionaries(
    {
        "data": st.lists(st.dictionaries(st.sampled_from(["url", "b64_json"]), json_values), max_size=3)
        | json_values
    },
    optional={
        "meta": st.fixed_dictionaries({"usage": st.dictionaries(st.just("credits_used"), json_values)}),
        "created": json_values,
    },
)


def _only_provider_errors(call) -> None:
    with contextlib.suppress(ProviderError):
        call()


@settings(max_examples=300, deadline=None)
@given(data=json_values | generation_like | image_like)
def test_parsers_raise_only_provider_errors(data):
    _only_provider_errors(lambda: aimlapi.parse_video_response(data, sent_seed=1, credits_used=Decimal(5)))
    _only_provider_errors(lambda: aimlapi.parse_image_response(data, sent_seed=1))


@settings(max_examples=200, deadline=None)
@given(data=json_values, status=st.sampled_from([200, 301, 400, 401, 403, 404, 429, 500, 502]))
def test_response_checks_raise_only_provider_errors(data, status):
    content = json.dumps(data).encode()  # allows NaN/Infinity, which some JSON parsers accept
    response = httpx.Response(status, content=content, request=httpx.Request("GET", VIDEO_URL))
    _only_provider_errors(lambda: aimlapi.checked_json(response))
    assert isinstance(aimlapi.http_error(response), ProviderError)
