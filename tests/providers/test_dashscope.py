"""DashScope client against respx: exact requests per mode, every status, every error shape, the fault matrix."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers import dashscope
from providers.base import ErrorCode, GenerationRequest, MediaInput, Mode, ProviderError, Status, Submission
from providers.dashscope import DashScopeClient
from providers.http import recording
from tests.providers.conftest import load_fixture

BASE = "https://dashscope-intl.aliyuncs.com"
VIDEO_URL = f"{BASE}/api/v1/services/aigc/video-generation/video-synthesis"
IMAGE_ASYNC_URL = f"{BASE}/api/v1/services/aigc/image-generation/generation"
IMAGE_SYNC_URL = f"{BASE}/api/v1/services/aigc/multimodal-generation/generation"
TASK_ID = "966cebcd-a6a2-4a1c-9a0e-2b1c8a7f5e01"
TASK_URL = f"{BASE}/api/v1/tasks/{TASK_ID}"
CANCEL_URL = f"{TASK_URL}/cancel"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def fixture(name: str) -> Any:
    return load_fixture("dashscope", name)


def client() -> DashScopeClient:
    return DashScopeClient(api_key="sk-test", base_url=BASE, environ={})


def request(mode: Mode, model: str, *, prompt: str = "a cat", inputs=(), **params: Any) -> GenerationRequest:
    return GenerationRequest(
        provider="dashscope", model=model, mode=mode, prompt=prompt, params=params, inputs=list(inputs)
    )


def video_submission(kind: str = "video", **state: Any) -> Submission:
    return Submission("dashscope", TASK_ID, state={"task_id": TASK_ID, "output_kind": kind, **state})


def sent(route) -> tuple[httpx.Request, dict[str, Any]]:
    req = route.calls.last.request
    return req, json.loads(req.content) if req.content else {}


def submit_route(respx_mock, url: str = VIDEO_URL):
    return respx_mock.post(url).mock(return_value=httpx.Response(200, json=fixture("submit_pending.json")))


# ---------------------------------------------------------------------------------------------
# Requests, one per mode and model


def test_text_to_image_posts_messages_to_the_async_image_endpoint(respx_mock):
    route = submit_route(respx_mock, IMAGE_ASYNC_URL)
    submission = client().submit(
        request(
            Mode.T2I,
            "wan2.6-t2i",
            prompt="A flower shop with a wooden door",
            size="1280x1280",
            num_outputs=2,
            negative_prompt="blurry",
            prompt_expansion=True,
            watermark=False,
            seed=42,
        )
    )
    req, body = sent(route)
    assert req.method == "POST"
    assert req.headers["Authorization"] == "Bearer sk-test"
    assert req.headers["X-DashScope-Async"] == "enable"
    assert body == {
        "model": "wan2.6-t2i",
        "input": {"messages": [{"role": "user", "content": [{"text": "A flower shop with a wooden door"}]}]},
        "parameters": {
            "n": 2,
            "size": "1280*1280",
            "negative_prompt": "blurry",
            "prompt_extend": True,
            "watermark": False,
            "seed": 42,
        },
    }
    assert submission.vendor_job_id == TASK_ID
    assert submission.update is None
    assert submission.state == {
        "task_id": TASK_ID,
        "model": "wan2.6-t2i",
        "mode": "t2i",
        "output_kind": "image",
        "request_id": "c1209113-8437-424f-a386-6f4a1c3b2e10",
        "seed": 42,
    }


def test_text_to_image_always_sends_n_because_resellers_say_it_defaults_to_four(respx_mock):
    route = submit_route(respx_mock, IMAGE_ASYNC_URL)
    client().submit(request(Mode.T2I, "wan2.6-t2i"))
    assert sent(route)[1]["parameters"] == {"n": 1}


def test_image_edit_sends_urls_and_data_uris_as_image_items_after_the_text(respx_mock):
    route = submit_route(respx_mock, IMAGE_ASYNC_URL)
    inputs = [
        MediaInput(slot="image", content_type="image/png", url="https://example.com/clock.png"),
        MediaInput(slot="image", content_type="image/png", data=PNG),
    ]
    client().submit(
        request(
            Mode.EDIT,
            "wan2.6-image",
            prompt="Place the clock from image 1 next to image 2",
            inputs=inputs,
            resolution="1k",
            enable_interleave=False,
        )
    )
    req, body = sent(route)
    assert req.headers["X-DashScope-Async"] == "enable"
    assert body["model"] == "wan2.6-image"
    assert body["input"]["messages"] == [
        {
            "role": "user",
            "content": [
                {"text": "Place the clock from image 1 next to image 2"},
                {"image": "https://example.com/clock.png"},
                {"image": "data:image/png;base64," + base64.b64encode(PNG).decode()},
            ],
        }
    ]
    # "1K" is the official example's size; enable_interleave is a vendor field passed through.
    assert body["parameters"] == {"n": 1, "size": "1K", "enable_interleave": False}


def test_text_to_video_sends_size_with_an_asterisk_and_every_parameter(respx_mock):
    route = submit_route(respx_mock)
    audio = MediaInput(slot="audio", content_type="audio/mpeg", url="https://example.com/voice.mp3")
    submission = client().submit(
        request(
            Mode.T2V,
            "wan2.6-t2v",
            prompt="A detective chase. Shot 1 [0-3 s] ...",
            inputs=[audio],
            negative_prompt="low quality",
            size="1280x720",
            duration=15,
            multi_shot=True,
            prompt_expansion=True,
            audio=True,
            watermark=False,
            seed=7,
        )
    )
    req, body = sent(route)
    assert (req.method, req.url.path) == ("POST", "/api/v1/services/aigc/video-generation/video-synthesis")
    assert req.headers["Authorization"] == "Bearer sk-test"
    assert req.headers["X-DashScope-Async"] == "enable"
    assert req.headers["Content-Type"] == "application/json"
    assert body == {
        "model": "wan2.6-t2v",
        "input": {
            "prompt": "A detective chase. Shot 1 [0-3 s] ...",
            "negative_prompt": "low quality",
            "audio_url": "https://example.com/voice.mp3",
        },
        "parameters": {
            "size": "1280*720",
            "duration": 15,
            "shot_type": "multi",
            "audio": True,
            "prompt_extend": True,
            "watermark": False,
            "seed": 7,
        },
    }
    assert isinstance(body["parameters"]["duration"], int)
    assert submission.state["output_kind"] == "video"


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"resolution": "1080p", "aspect_ratio": "9:16"}, "1080*1920"),
        ({"resolution": "720p", "aspect_ratio": "1:1"}, "960*960"),
        ({}, "1280*720"),
    ],
)
def test_text_to_video_always_sends_a_size_because_the_default_is_disputed(respx_mock, params, size):
    route = submit_route(respx_mock)
    client().submit(request(Mode.T2V, "wan2.6-t2v", **params))
    assert sent(route)[1]["parameters"]["size"] == size


@pytest.mark.parametrize("model", ["wan2.6-i2v", "wan2.6-i2v-flash"])
def test_image_to_video_sends_img_url_and_upper_case_resolution(respx_mock, model):
    route = submit_route(respx_mock)
    frame = MediaInput(slot="image", content_type="image/png", data=PNG)
    client().submit(
        request(
            Mode.I2V,
            model,
            prompt="The cat slowly turns its head and blinks",
            inputs=[frame],
            resolution="1080p",
            duration=5,
            multi_shot=False,
            audio=False,
            prompt_expansion=True,
            watermark=False,
            seed=12345,
        )
    )
    req, body = sent(route)
    assert req.headers["X-DashScope-Async"] == "enable"
    assert body == {
        "model": model,
        "input": {
            "prompt": "The cat slowly turns its head and blinks",
            # §4: img_url accepts a base64 data URI when we have no public URL.
            "img_url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
        },
        "parameters": {
            "resolution": "1080P",
            "duration": 5,
            "shot_type": "single",
            "audio": False,
            "prompt_extend": True,
            "watermark": False,
            "seed": 12345,
        },
    }
    assert "size" not in body["parameters"]


def test_image_to_video_prefers_the_public_url_and_puts_template_in_input(respx_mock):
    route = submit_route(respx_mock)
    frame = MediaInput(slot="image", content_type="image/png", data=PNG, url="https://example.com/cat.png")
    client().submit(request(Mode.I2V, "wan2.6-i2v-flash", prompt="", inputs=[frame], template="flying"))
    body = sent(route)[1]
    assert body["input"] == {"img_url": "https://example.com/cat.png", "template": "flying"}


@pytest.mark.parametrize("model", ["wan2.6-r2v", "wan2.6-r2v-flash"])
def test_reference_to_video_sends_reference_urls_in_the_requests_order(respx_mock, model):
    route = submit_route(respx_mock)
    refs = [
        MediaInput(slot="video", content_type="video/mp4", url="https://example.com/a.mp4"),
        MediaInput(slot="image", content_type="image/png", url="https://example.com/b.png"),
    ]
    client().submit(
        request(
            Mode.R2V,
            model,
            prompt="character1 talks to character2 by the window",
            inputs=refs,
            size="1280x720",
            duration=10,
            audio=True,
            multi_shot=True,
            watermark=False,
        )
    )
    req, body = sent(route)
    assert req.headers["X-DashScope-Async"] == "enable"
    assert body == {
        "model": model,
        "input": {
            "prompt": "character1 talks to character2 by the window",
            "reference_urls": ["https://example.com/a.mp4", "https://example.com/b.png"],
        },
        "parameters": {
            "size": "1280*720",
            "duration": 10,
            "shot_type": "multi",
            "audio": True,
            "watermark": False,
        },
    }


def test_reference_without_a_public_url_is_refused_before_any_call(respx_mock):
    ref = MediaInput(slot="video", content_type="video/mp4", data=b"....ftypisom")
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.R2V, "wan2.6-r2v", inputs=[ref]))
    assert exc.value.code == ErrorCode.INVALID_REQUEST
    assert exc.value.permanent
    assert "PUBLIC_BASE_URL" in exc.value.message
    assert not respx_mock.calls


def test_custom_audio_without_a_public_url_is_refused(respx_mock):
    audio = MediaInput(slot="audio", content_type="audio/wav", data=b"RIFF....WAVE")
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2V, "wan2.6-t2v", inputs=[audio]))
    assert exc.value.code == ErrorCode.INVALID_REQUEST
    assert "audio_url" in exc.value.message


def test_oss_inputs_ask_dashscope_to_resolve_them(respx_mock):
    route = submit_route(respx_mock)
    frame = MediaInput(slot="image", content_type="image/png", url="oss://dashscope-instant/abc/cat.png")
    client().submit(request(Mode.I2V, "wan2.6-i2v", inputs=[frame]))
    assert sent(route)[0].headers["X-DashScope-OssResourceResolve"] == "enable"


def test_normalised_names_dashscope_lacks_are_not_sent(respx_mock):
    route = submit_route(respx_mock)
    client().submit(request(Mode.T2V, "wan2.6-t2v", loras=[], fps=30, num_frames=81, safety_checker=True))
    assert set(sent(route)[1]["parameters"]) == {"size"}


def test_sync_images_return_a_finished_update_from_submit(respx_mock):
    route = respx_mock.post(IMAGE_SYNC_URL).mock(
        return_value=httpx.Response(200, json=fixture("sync_image.json"))
    )
    sync_client = client()
    sync_client.sync_images = True
    submission = sync_client.submit(request(Mode.T2I, "wan2.6-t2i", seed=42))
    req, _ = sent(route)
    assert "X-DashScope-Async" not in req.headers
    assert submission.update is not None
    assert submission.update.status == Status.SUCCEEDED
    assert submission.update.outputs[0].url.startswith("https://dashscope-463f.oss-accelerate.aliyuncs.com/")
    assert submission.update.seed == 42
    assert submission.vendor_job_id == "815505c6-7c3d-49d7-b197-0b1a2c3d4e5f"  # the request id
    assert sync_client.cancel(submission) is False  # nothing to cancel, and no call made
    assert sync_client.poll(submission) is submission.update  # nothing to poll either
    assert len(respx_mock.calls) == 1


def test_submit_without_a_task_id_is_a_bad_response(respx_mock):
    respx_mock.post(VIDEO_URL).mock(return_value=httpx.Response(200, json=fixture("submit_no_task_id.json")))
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2V, "wan2.6-t2v"))
    assert exc.value.code == ErrorCode.BAD_RESPONSE


def test_every_call_is_recorded_for_the_job_log(respx_mock):
    submit_route(respx_mock)
    with recording() as calls:
        client().submit(request(Mode.T2V, "wan2.6-t2v"))
    assert [(c.method, c.status) for c in calls] == [("POST", 200)]


# ---------------------------------------------------------------------------------------------
# Polling: every documented task_status


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("task_pending.json", Status.QUEUED),
        ("task_running.json", Status.RUNNING),
        ("task_suspended.json", Status.RUNNING),
        ("task_canceled.json", Status.CANCELED),
    ],
)
def test_poll_maps_unfinished_and_canceled_statuses(respx_mock, name, status):
    route = respx_mock.get(TASK_URL).mock(return_value=httpx.Response(200, json=fixture(name)))
    update = client().poll(video_submission())
    req, _ = sent(route)
    assert req.headers["Authorization"] == "Bearer sk-test"
    assert "X-DashScope-Async" not in req.headers
    assert update.status == status
    assert update.vendor_status == fixture(name)["output"]["task_status"]
    assert update.error is None and update.outputs == []


def test_poll_of_a_succeeded_video_returns_the_url_prompt_seed_and_expiry(respx_mock):
    respx_mock.get(TASK_URL).mock(return_value=httpx.Response(200, json=fixture("task_succeeded_video.json")))
    update = client().poll(video_submission(seed=7))
    assert update.status == Status.SUCCEEDED
    [output] = update.outputs
    assert output.kind == "video"
    assert output.url == fixture("task_succeeded_video.json")["output"]["video_url"]
    assert output.content_type == "video/mp4"
    assert output.expires_at == datetime.fromtimestamp(1760266947, tz=UTC)
    assert update.actual_prompt.startswith("A fluffy ginger cat")
    assert update.seed == 7  # DashScope does not echo the seed: it is the one we sent
    assert update.cost_usd is None  # DashScope reports usage, not money


def test_poll_of_a_succeeded_image_task_reads_the_choices(respx_mock):
    respx_mock.get(TASK_URL).mock(return_value=httpx.Response(200, json=fixture("task_succeeded_image.json")))
    update = client().poll(video_submission("image"))
    assert update.status == Status.SUCCEEDED
    assert [o.kind for o in update.outputs] == ["image"]
    assert update.outputs[0].url.startswith("https://dashscope-463f.oss-accelerate.aliyuncs.com/7d/0f/")


def test_poll_of_a_succeeded_image_task_also_reads_legacy_results(respx_mock):
    # The async wan2.6 image payload is unconfirmed (§6 [?]); older image tasks used output.results.
    respx_mock.get(TASK_URL).mock(
        return_value=httpx.Response(200, json=fixture("task_succeeded_image_results.json"))
    )
    update = client().poll(video_submission("image"))
    assert len(update.outputs) == 1
    assert update.actual_prompt == "A flower shop with a wooden door at dusk"


@pytest.mark.parametrize(
    ("name", "code", "vendor_code"),
    [
        ("task_failed.json", ErrorCode.INVALID_REQUEST, "InvalidParameter"),
        ("task_failed_content.json", ErrorCode.CONTENT_POLICY, "DataInspectionFailed"),
    ],
)
def test_poll_of_a_failed_task_carries_its_code_and_message(respx_mock, name, code, vendor_code):
    respx_mock.get(TASK_URL).mock(return_value=httpx.Response(200, json=fixture(name)))
    update = client().poll(video_submission())
    assert update.status == Status.FAILED
    assert update.error.code == code
    assert update.error.vendor_code == vendor_code
    assert update.error.permanent
    assert fixture(name)["output"]["message"] in update.error.message


def test_poll_of_an_unknown_task_fails_it_as_not_found(respx_mock):
    respx_mock.get(TASK_URL).mock(return_value=httpx.Response(200, json=fixture("task_unknown.json")))
    update = client().poll(video_submission())
    assert update.status == Status.FAILED
    assert update.error.code == ErrorCode.NOT_FOUND
    assert update.error.permanent
    assert "24 h" in update.error.message


def test_poll_of_an_unlisted_status_is_a_transient_unknown_status(respx_mock):
    respx_mock.get(TASK_URL).mock(return_value=httpx.Response(200, json=fixture("task_unlisted_status.json")))
    with pytest.raises(ProviderError) as exc:
        client().poll(video_submission())
    assert exc.value.code == ErrorCode.UNKNOWN_STATUS
    assert exc.value.transient
    assert exc.value.vendor_code == "ARCHIVED"


def test_poll_of_a_success_without_a_video_url_is_result_missing(respx_mock):
    respx_mock.get(TASK_URL).mock(
        return_value=httpx.Response(200, json=fixture("task_succeeded_no_url.json"))
    )
    with pytest.raises(ProviderError) as exc:
        client().poll(video_submission())
    assert exc.value.code == ErrorCode.RESULT_MISSING
    assert exc.value.permanent


def test_poll_of_a_success_without_image_urls_is_result_missing(respx_mock):
    respx_mock.get(TASK_URL).mock(
        return_value=httpx.Response(200, json=fixture("task_succeeded_no_url.json"))
    )
    with pytest.raises(ProviderError) as exc:
        client().poll(video_submission("image"))
    assert exc.value.code == ErrorCode.RESULT_MISSING


# ---------------------------------------------------------------------------------------------
# Error bodies {request_id, code, message}


@pytest.mark.parametrize(
    ("status", "name", "code", "transient"),
    [
        (401, "error_invalid_api_key.json", ErrorCode.AUTH, False),
        (400, "error_invalid_parameter.json", ErrorCode.INVALID_REQUEST, False),
        (400, "error_data_inspection.json", ErrorCode.CONTENT_POLICY, False),
        (429, "error_throttling.json", ErrorCode.RATE_LIMITED, True),
        (400, "error_throttling.json", ErrorCode.RATE_LIMITED, True),  # the code wins over the status
        (400, "error_arrearage.json", ErrorCode.AUTH, False),
        (403, "error_invalid_parameter.json", ErrorCode.INVALID_REQUEST, False),
        (500, "error_internal.json", ErrorCode.SERVER_ERROR, True),
    ],
)
def test_submit_maps_dashscope_error_bodies(respx_mock, status, name, code, transient):
    respx_mock.post(VIDEO_URL).mock(return_value=httpx.Response(status, json=fixture(name)))
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2V, "wan2.6-t2v"))
    assert exc.value.code == code
    assert exc.value.transient is transient
    assert exc.value.vendor_code == fixture(name)["code"]
    assert exc.value.http_status == status
    assert fixture(name)["message"] in exc.value.message


def test_a_bare_403_is_an_auth_failure(respx_mock):
    respx_mock.post(VIDEO_URL).mock(return_value=httpx.Response(403, text="Forbidden"))
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2V, "wan2.6-t2v"))
    assert (exc.value.code, exc.value.transient) == (ErrorCode.AUTH, False)


def test_an_error_body_with_status_200_is_still_an_error(respx_mock):
    respx_mock.post(VIDEO_URL).mock(
        return_value=httpx.Response(200, json=fixture("error_data_inspection.json"))
    )
    with pytest.raises(ProviderError) as exc:
        client().submit(request(Mode.T2V, "wan2.6-t2v"))
    assert exc.value.code == ErrorCode.CONTENT_POLICY


def test_a_poll_404_is_a_permanent_not_found(respx_mock):
    respx_mock.get(TASK_URL).mock(return_value=httpx.Response(404, json={"code": "NotFound", "message": "x"}))
    with pytest.raises(ProviderError) as exc:
        client().poll(video_submission())
    assert (exc.value.code, exc.value.permanent) == (ErrorCode.NOT_FOUND, True)


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
            "return_value": httpx.Response(
                429, headers={"Retry-After": "7"}, json=fixture("error_throttling.json")
            )
        },
        ErrorCode.RATE_LIMITED,
        True,
    ),
    "500": (
        lambda: {"return_value": httpx.Response(500, json=fixture("error_internal.json"))},
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
    "504": (lambda: {"return_value": httpx.Response(504, text="Gateway Timeout")}, ErrorCode.TIMEOUT, True),
    "200 html": (
        lambda: {"return_value": httpx.Response(200, html="<html>maintenance</html>")},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    "200 malformed json": (
        lambda: {"return_value": httpx.Response(200, text="{not json")},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    "200 truncated json": (
        lambda: {"return_value": httpx.Response(200, text='{"request_id": "r", "output": {"task_')},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    "200 empty body": (lambda: {"return_value": httpx.Response(200)}, ErrorCode.BAD_RESPONSE, True),
    "200 json list": (
        lambda: {"return_value": httpx.Response(200, json=[1, 2])},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    "body cut off mid-transfer": (
        lambda: {
            "side_effect": httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body"
            )
        },
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    "redirect loop": (
        lambda: {"return_value": httpx.Response(302, headers={"Location": TASK_URL})},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("operation", ["submit", "poll"])
def test_faults_become_typed_provider_errors(respx_mock, fault, operation):
    make_mock, code, transient = FAULTS[fault]
    mock = make_mock()
    dc = client()
    if operation == "submit":
        respx_mock.post(VIDEO_URL).mock(**mock)
        call = lambda: dc.submit(request(Mode.T2V, "wan2.6-t2v"))  # noqa: E731
    else:
        respx_mock.get(TASK_URL).mock(**mock)
        call = lambda: dc.poll(video_submission())  # noqa: E731
    with pytest.raises(ProviderError) as exc:
        call()
    assert exc.value.code == code
    assert exc.value.transient is transient


def test_retry_after_is_carried_on_the_rate_limit_error(respx_mock):
    respx_mock.get(TASK_URL).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "7"}, text="slow down")
    )
    with pytest.raises(ProviderError) as exc:
        client().poll(video_submission())
    assert exc.value.retry_after == 7.0


# ---------------------------------------------------------------------------------------------
# Cancel


def test_cancel_posts_an_empty_body_to_the_task_cancel_path(respx_mock):
    route = respx_mock.post(CANCEL_URL).mock(return_value=httpx.Response(200, json=fixture("cancel_ok.json")))
    assert client().cancel(video_submission()) is True
    req, _ = sent(route)
    assert req.method == "POST"
    assert req.content == b""
    assert req.headers["Authorization"] == "Bearer sk-test"


def test_cancel_of_a_task_no_longer_pending_is_refused(respx_mock):
    respx_mock.post(CANCEL_URL).mock(
        return_value=httpx.Response(400, json=fixture("cancel_unsupported.json"))
    )
    assert client().cancel(video_submission()) is False


def test_cancel_failing_with_a_server_error_raises_a_transient_error(respx_mock):
    respx_mock.post(CANCEL_URL).mock(return_value=httpx.Response(503, text="unavailable"))
    with pytest.raises(ProviderError) as exc:
        client().cancel(video_submission())
    assert exc.value.transient


# ---------------------------------------------------------------------------------------------
# Parsers raise only ProviderError, whatever the JSON

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
statuses = st.sampled_from([*dashscope.STATUSES, "ARCHIVED", ""]) | json_values
content_items = st.lists(st.dictionaries(st.sampled_from(["image", "text", "type"]), json_values), max_size=3)
choices = st.lists(
    st.fixed_dictionaries({"message": st.fixed_dictionaries({"content": content_items}) | json_values}),
    max_size=3,
)
outputs = st.fixed_dictionaries(
    {"task_status": statuses},
    optional={
        "task_id": json_values,
        "video_url": json_values,
        "choices": choices | json_values,
        "results": st.lists(st.dictionaries(st.sampled_from(["url", "actual_prompt"]), json_values)),
        "code": json_values,
        "message": json_values,
        "actual_prompt": json_values,
        "seed": json_values,
    },
)
task_like = st.fixed_dictionaries(
    {"output": outputs},
    optional={"code": json_values, "message": json_values, "request_id": json_values, "usage": json_values},
)


def _only_provider_errors(call) -> None:
    with contextlib.suppress(ProviderError):
        call()


@settings(max_examples=300, deadline=None)
@given(data=json_values | task_like, kind=st.sampled_from(["video", "image"]))
def test_task_parser_raises_only_provider_errors(data, kind):
    _only_provider_errors(lambda: dashscope.parse_task_response(data, output_kind=kind, sent_seed=1))
    _only_provider_errors(lambda: dashscope.parse_submit_response(data))


@settings(max_examples=200, deadline=None)
@given(data=json_values, status=st.sampled_from([200, 302, 400, 401, 429, 500, 503]))
def test_response_checks_raise_only_provider_errors(data, status):
    content = json.dumps(data).encode()  # allows NaN/Infinity, which some JSON parsers accept
    response = httpx.Response(status, content=content, request=httpx.Request("GET", TASK_URL))
    _only_provider_errors(lambda: dashscope.checked_json(response))
    assert isinstance(dashscope.http_error(response), ProviderError)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=64))
def test_response_checks_survive_arbitrary_bytes(body):
    response = httpx.Response(200, content=body, request=httpx.Request("GET", TASK_URL))
    _only_provider_errors(lambda: dashscope.checked_json(response))
