"""providers/fal.py against respx: exact requests, documented answers, errors, faults, webhooks.

Payloads come from shared/providers/fal.md (section numbers in comments refer to it).
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers import fal
from providers.base import (
    Client,
    ErrorCode,
    GenerationRequest,
    MediaInput,
    Mode,
    ProviderError,
    Status,
    Submission,
    WebhookClient,
    WebhookError,
)
from providers.fal import FalClient
from tests.conftest import wait_for
from tests.providers.conftest import load_fixture

QUEUE = "https://queue.fal.run"
REST = "https://rest.fal.ai"
JWKS = "https://rest.alpha.fal.ai/.well-known/jwks.json"
KEY = "test-fal-key"
REQUEST_ID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
REQUESTS = f"{QUEUE}/wan/v2.6/requests/{REQUEST_ID}"
STATUS_URL = f"{REQUESTS}/status"
NOW = 1_750_000_000.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _fresh_jwks_cache():
    fal.clear_jwks_cache()
    yield
    fal.clear_jwks_cache()


@pytest.fixture
def client() -> FalClient:
    return FalClient(api_key=KEY, base_url=QUEUE, environ={})


def make_request(
    model: str, mode: Mode, *, params: dict[str, Any] | None = None, **kwargs: Any
) -> GenerationRequest:
    return GenerationRequest(
        provider="fal",
        model=model,
        mode=mode,
        prompt=kwargs.pop("prompt", "A red fox in snow"),
        params=params or {},
        **kwargs,
    )


def submission() -> Submission:
    state = {k: v for k, v in load_fixture("fal", "submit.json").items() if k != "queue_position"}
    return Submission(provider="fal", vendor_job_id=REQUEST_ID, state=state)


def mock_submit(respx_mock, model: str):
    return respx_mock.post(f"{QUEUE}/{model}").mock(
        return_value=httpx.Response(200, json=load_fixture("fal", "submit.json"))
    )


def sent_json(route) -> Any:
    return json.loads(route.calls.last.request.content)


def assert_fal_json_call(request: httpx.Request, method: str, url: str) -> None:
    assert request.method == method
    assert str(request.url).split("?")[0] == url
    assert request.headers["Authorization"] == f"Key {KEY}"
    assert request.headers["Content-Type"] == "application/json"


# --- interface --------------------------------------------------------------------------------------


def test_it_implements_the_client_and_webhook_protocols(client):
    assert isinstance(client, Client)
    assert isinstance(client, WebhookClient)
    assert client.name == "fal"


def test_it_reads_rest_and_jwks_urls_from_the_environment():
    environ = {"FAL_REST_URL": "https://rest.example/", "FAL_JWKS_URL": "https://keys.example/jwks.json"}
    client = FalClient(api_key=KEY, base_url="https://queue.example/", environ=environ)
    assert (client.base_url, client.rest_url, client.jwks_url) == (
        "https://queue.example",
        "https://rest.example",
        "https://keys.example/jwks.json",
    )


# --- submit: one exact request per mode -----------------------------------------------------------


def test_it_submits_text_to_video_with_duration_as_a_string(client, respx_mock):
    route = mock_submit(respx_mock, "wan/v2.6/text-to-video")
    params = {
        "duration": 10,
        "resolution": "720p",
        "aspect_ratio": "9:16",
        "prompt_expansion": True,
        "multi_shot": True,
        "negative_prompt": "low quality",
        "seed": 42,
        "safety_checker": True,
    }

    result = client.submit(make_request("wan/v2.6/text-to-video", Mode.T2V, params=params))

    request = route.calls.last.request
    assert_fal_json_call(request, "POST", f"{QUEUE}/wan/v2.6/text-to-video")
    assert "fal_webhook" not in request.url.params
    assert sent_json(route) == {
        "prompt": "A red fox in snow",
        "duration": "10",
        "resolution": "720p",
        "aspect_ratio": "9:16",
        "enable_prompt_expansion": True,
        "multi_shots": True,
        "negative_prompt": "low quality",
        "seed": 42,
        "enable_safety_checker": True,
    }
    assert result.provider == "fal"
    assert result.vendor_job_id == REQUEST_ID
    assert result.update is None


def test_it_stores_the_queue_urls_fal_returns(client, respx_mock):
    mock_submit(respx_mock, "wan/v2.6/text-to-video")

    result = client.submit(make_request("wan/v2.6/text-to-video", Mode.T2V, params={"duration": 5}))

    assert result.state == {
        "request_id": REQUEST_ID,
        "status_url": STATUS_URL,
        "response_url": REQUESTS,
        "cancel_url": f"{REQUESTS}/cancel",
    }
    json.dumps(result.state)  # kept as JSON on the job row


def test_it_submits_image_to_video_with_the_image_url_and_a_webhook(client, respx_mock):
    route = mock_submit(respx_mock, "wan/v2.6/image-to-video")
    inputs = [
        MediaInput(slot="image", content_type="image/png", url="https://cdn.example/in.png"),
        MediaInput(slot="audio", content_type="audio/mpeg", url="https://cdn.example/voice.mp3"),
    ]
    params = {"resolution": "1080p", "duration": 5, "prompt_expansion": True, "multi_shot": False, "seed": 42}

    client.submit(
        make_request(
            "wan/v2.6/image-to-video",
            Mode.I2V,
            params=params,
            inputs=inputs,
            webhook_url="https://app.example/hooks/fal?job=1",
        )
    )

    request = route.calls.last.request
    assert_fal_json_call(request, "POST", f"{QUEUE}/wan/v2.6/image-to-video")
    assert request.url.params["fal_webhook"] == "https://app.example/hooks/fal?job=1"
    assert sent_json(route) == {
        "prompt": "A red fox in snow",
        "image_url": "https://cdn.example/in.png",
        "audio_url": "https://cdn.example/voice.mp3",
        "resolution": "1080p",
        "duration": "5",
        "enable_prompt_expansion": True,
        "multi_shots": False,
        "seed": 42,
    }


def test_it_submits_text_to_image_with_max_images_an_image_size_object_and_a_data_uri(client, respx_mock):
    route = mock_submit(respx_mock, "wan/v2.6/text-to-image")
    style = MediaInput(slot="image", content_type="image/png", data=PNG, filename="style.png")
    params = {"num_outputs": 2, "size": "1280x720", "negative_prompt": "blurry", "seed": 3}

    client.submit(make_request("wan/v2.6/text-to-image", Mode.T2I, params=params, inputs=[style]))

    assert_fal_json_call(route.calls.last.request, "POST", f"{QUEUE}/wan/v2.6/text-to-image")
    assert sent_json(route) == {
        "prompt": "A red fox in snow",
        "max_images": 2,
        "image_size": {"width": 1280, "height": 720},
        "negative_prompt": "blurry",
        "seed": 3,
        "image_url": "data:image/png;base64," + base64.b64encode(PNG).decode(),
    }


def test_it_submits_a_wan_26_edit_with_image_urls_and_num_images(client, respx_mock):
    route = mock_submit(respx_mock, "wan/v2.6/image-to-image")
    inputs = [
        MediaInput(slot="image", content_type="image/png", url="https://cdn.example/1.png"),
        MediaInput(slot="image", content_type="image/jpeg", url="https://cdn.example/2.jpg"),
    ]
    params = {"num_outputs": 3, "size": "1024x1024", "prompt_expansion": False}

    client.submit(make_request("wan/v2.6/image-to-image", Mode.EDIT, params=params, inputs=inputs))

    assert_fal_json_call(route.calls.last.request, "POST", f"{QUEUE}/wan/v2.6/image-to-image")
    assert sent_json(route) == {
        "prompt": "A red fox in snow",
        "image_urls": ["https://cdn.example/1.png", "https://cdn.example/2.jpg"],
        "num_images": 3,
        "image_size": {"width": 1024, "height": 1024},
        "enable_prompt_expansion": False,
    }


def test_it_submits_a_wan_25_edit_with_image_urls(client, respx_mock):
    route = mock_submit(respx_mock, "fal-ai/wan-25-preview/image-to-image")
    image = MediaInput(slot="image", content_type="image/png", url="https://cdn.example/1.png")

    client.submit(
        make_request(
            "fal-ai/wan-25-preview/image-to-image", Mode.EDIT, params={"num_outputs": 1}, inputs=[image]
        )
    )

    assert sent_json(route) == {
        "prompt": "A red fox in snow",
        "image_urls": ["https://cdn.example/1.png"],
        "num_images": 1,
    }


def test_it_submits_a_wan_22_image_to_image_with_one_image_url_and_strength(client, respx_mock):
    route = mock_submit(respx_mock, "fal-ai/wan/v2.2-a14b/image-to-image")
    image = MediaInput(slot="image", content_type="image/png", url="https://cdn.example/1.png")

    client.submit(
        make_request(
            "fal-ai/wan/v2.2-a14b/image-to-image", Mode.EDIT, params={"strength": 0.5}, inputs=[image]
        )
    )

    assert sent_json(route) == {
        "prompt": "A red fox in snow",
        "image_url": "https://cdn.example/1.png",
        "strength": 0.5,
    }


def test_it_submits_video_to_video_with_video_url_and_frames_per_second(client, respx_mock):
    route = mock_submit(respx_mock, "fal-ai/wan/v2.2-a14b/video-to-video")
    video = MediaInput(slot="video", content_type="video/mp4", url="https://cdn.example/in.mp4")
    params = {
        "strength": 0.9,
        "fps": 16,
        "num_frames": 81,
        "resolution": "480p",
        "aspect_ratio": "auto",
        "num_inference_steps": 27,  # vendor-only: passes unchanged
        "acceleration": "regular",
    }

    client.submit(
        make_request("fal-ai/wan/v2.2-a14b/video-to-video", Mode.V2V, params=params, inputs=[video])
    )

    assert_fal_json_call(route.calls.last.request, "POST", f"{QUEUE}/fal-ai/wan/v2.2-a14b/video-to-video")
    assert sent_json(route) == {
        "prompt": "A red fox in snow",
        "video_url": "https://cdn.example/in.mp4",
        "strength": 0.9,
        "frames_per_second": 16,
        "num_frames": 81,
        "resolution": "480p",
        "aspect_ratio": "auto",
        "num_inference_steps": 27,
        "acceleration": "regular",
    }


def test_it_submits_reference_to_video_flash_with_url_lists_and_enable_audio(client, respx_mock):
    route = mock_submit(respx_mock, "wan/v2.6/reference-to-video/flash")
    inputs = [
        MediaInput(slot="video", content_type="video/mp4", url="https://cdn.example/ref1.mp4"),
        MediaInput(slot="image", content_type="image/png", url="https://cdn.example/char.png"),
        MediaInput(slot="video", content_type="video/mp4", url="https://cdn.example/ref2.mp4"),
    ]
    params = {
        "duration": 5,
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "audio": False,
        "multi_shot": False,
    }

    client.submit(make_request("wan/v2.6/reference-to-video/flash", Mode.R2V, params=params, inputs=inputs))

    assert_fal_json_call(route.calls.last.request, "POST", f"{QUEUE}/wan/v2.6/reference-to-video/flash")
    assert sent_json(route) == {
        "prompt": "A red fox in snow",
        "video_urls": ["https://cdn.example/ref1.mp4", "https://cdn.example/ref2.mp4"],
        "image_urls": ["https://cdn.example/char.png"],
        "duration": "5",
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "enable_audio": False,
        "multi_shots": False,
    }


def test_it_submits_speech_to_video_with_image_audio_and_fps(client, respx_mock):
    route = mock_submit(respx_mock, "fal-ai/wan/v2.2-14b/speech-to-video")
    inputs = [
        MediaInput(slot="image", content_type="image/png", url="https://cdn.example/face.png"),
        MediaInput(slot="audio", content_type="audio/wav", url="https://cdn.example/voice.wav"),
    ]
    params = {"num_frames": 80, "fps": 16, "resolution": "480p", "seed": 1}

    client.submit(make_request("fal-ai/wan/v2.2-14b/speech-to-video", Mode.S2V, params=params, inputs=inputs))

    assert_fal_json_call(route.calls.last.request, "POST", f"{QUEUE}/fal-ai/wan/v2.2-14b/speech-to-video")
    assert sent_json(route) == {
        "prompt": "A red fox in snow",
        "image_url": "https://cdn.example/face.png",
        "audio_url": "https://cdn.example/voice.wav",
        "num_frames": 80,
        "fps": 16,
        "resolution": "480p",
        "seed": 1,
    }


def test_it_submits_image_to_video_with_an_end_image(client, respx_mock):
    route = mock_submit(respx_mock, "fal-ai/wan/v2.2-a14b/image-to-video")
    inputs = [
        MediaInput(slot="image", content_type="image/png", url="https://cdn.example/first.png"),
        MediaInput(slot="end_image", content_type="image/png", url="https://cdn.example/last.png"),
    ]

    client.submit(make_request("fal-ai/wan/v2.2-a14b/image-to-video", Mode.I2V, inputs=inputs))

    body = sent_json(route)
    assert body["image_url"] == "https://cdn.example/first.png"
    assert body["end_image_url"] == "https://cdn.example/last.png"


def test_it_turns_loras_into_fal_lora_weight_objects(client, respx_mock):
    route = mock_submit(respx_mock, "fal-ai/wan/v2.2-a14b/text-to-video/lora")
    loras = [
        "https://huggingface.co/x/y/resolve/main/a.safetensors",
        {"url": "https://cdn.example/b.safetensors", "weight": 0.7},
        {"path": "org/repo", "weight_name": "c.safetensors", "scale": 1.2, "transformer": "both"},
    ]

    client.submit(make_request("fal-ai/wan/v2.2-a14b/text-to-video/lora", Mode.T2V, params={"loras": loras}))

    assert sent_json(route)["loras"] == [
        {"path": "https://huggingface.co/x/y/resolve/main/a.safetensors"},
        {"path": "https://cdn.example/b.safetensors", "scale": 0.7},
        {"path": "org/repo", "weight_name": "c.safetensors", "scale": 1.2, "transformer": "both"},
    ]


def test_it_drops_watermark_and_empty_params_that_fal_has_no_field_for(client, respx_mock):
    route = mock_submit(respx_mock, "wan/v2.6/text-to-video")

    client.submit(
        make_request(
            "wan/v2.6/text-to-video", Mode.T2V, params={"watermark": True, "seed": None, "duration": 5}
        )
    )

    assert sent_json(route) == {"prompt": "A red fox in snow", "duration": "5"}


def test_it_uploads_large_inputs_to_fal_storage_without_sending_the_key_to_the_upload_url(client, respx_mock):
    initiate = respx_mock.post(f"{REST}/storage/upload/initiate").mock(
        return_value=httpx.Response(200, json=load_fixture("fal", "storage_initiate.json"))
    )
    upload_url = load_fixture("fal", "storage_initiate.json")["upload_url"]
    put = respx_mock.put(upload_url).mock(return_value=httpx.Response(200))
    route = mock_submit(respx_mock, "fal-ai/wan/v2.2-a14b/video-to-video")
    big = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (fal.DATA_URI_MAX_BYTES + 1)
    video = MediaInput(slot="video", content_type="video/mp4", data=big, filename="clip.mp4")

    client.submit(make_request("fal-ai/wan/v2.2-a14b/video-to-video", Mode.V2V, inputs=[video]))

    init_request = initiate.calls.last.request
    assert_fal_json_call(init_request, "POST", f"{REST}/storage/upload/initiate")
    assert init_request.url.params["storage_type"] == "fal-cdn-v3"
    assert json.loads(init_request.content) == {"content_type": "video/mp4", "file_name": "clip.mp4"}
    put_request = put.calls.last.request
    assert put_request.method == "PUT"
    assert "Authorization" not in put_request.headers
    assert put_request.headers["Content-Type"] == "video/mp4"
    assert put_request.content == big
    assert sent_json(route)["video_url"] == "https://v3b.fal.media/files/b/koala/upload.mp4"


def test_it_uses_the_rest_url_from_the_environment_for_uploads(respx_mock):
    client = FalClient(api_key=KEY, base_url=QUEUE, environ={"FAL_REST_URL": "https://rest.example"})
    initiate = respx_mock.post("https://rest.example/storage/upload/initiate").mock(
        return_value=httpx.Response(
            200, json={"upload_url": "https://up.example/x", "file_url": "https://f.example/x"}
        )
    )
    respx_mock.put("https://up.example/x").mock(return_value=httpx.Response(200))
    route = mock_submit(respx_mock, "wan/v2.6/image-to-video")
    image = MediaInput(slot="image", content_type="image/png", data=PNG * 20_000)

    client.submit(make_request("wan/v2.6/image-to-video", Mode.I2V, inputs=[image]))

    assert json.loads(initiate.calls.last.request.content)["file_name"] == "image.png"
    assert sent_json(route)["image_url"] == "https://f.example/x"


def test_it_maps_a_failed_storage_upload_to_a_provider_error(client, respx_mock):
    respx_mock.post(f"{REST}/storage/upload/initiate").mock(
        return_value=httpx.Response(200, json={"oops": 1})
    )
    image = MediaInput(slot="image", content_type="image/png", data=PNG * 20_000)

    with pytest.raises(ProviderError) as exc:
        client.submit(make_request("wan/v2.6/image-to-video", Mode.I2V, inputs=[image]))

    assert exc.value.code == ErrorCode.BAD_RESPONSE


def test_it_derives_queue_urls_from_owner_and_app_only_when_fal_omits_them(client, respx_mock):
    respx_mock.post(f"{QUEUE}/fal-ai/wan/v2.2-a14b/text-to-video").mock(
        return_value=httpx.Response(
            200, json={"request_id": "r1", "status_url": "https://evil.example/steal"}
        )
    )

    result = client.submit(make_request("fal-ai/wan/v2.2-a14b/text-to-video", Mode.T2V))

    # §2: only owner/app ("fal-ai/wan"); a foreign host would receive our key, so it is not used either.
    assert result.state == {
        "request_id": "r1",
        "status_url": f"{QUEUE}/fal-ai/wan/requests/r1/status",
        "response_url": f"{QUEUE}/fal-ai/wan/requests/r1",
        "cancel_url": f"{QUEUE}/fal-ai/wan/requests/r1/cancel",
    }


def test_it_refuses_a_submit_answer_without_a_request_id(client, respx_mock):
    respx_mock.post(f"{QUEUE}/wan/v2.6/text-to-video").mock(
        return_value=httpx.Response(200, json={"status": "IN_QUEUE"})
    )

    with pytest.raises(ProviderError) as exc:
        client.submit(make_request("wan/v2.6/text-to-video", Mode.T2V))

    assert (exc.value.code, exc.value.transient) == (ErrorCode.BAD_RESPONSE, True)


def test_it_refuses_a_model_id_that_is_not_a_fal_path_before_any_call(client, respx_mock):
    for model in ("wan", "../admin/x", "wan/v2.6/../../x", "wan/v2.6?x=1"):
        with pytest.raises(ProviderError) as exc:
            client.submit(make_request(model, Mode.T2V))
        assert exc.value.code == ErrorCode.INVALID_REQUEST
    assert not respx_mock.calls


# --- poll: every status -----------------------------------------------------------------------------


def mock_status(respx_mock, status_code: int, fixture: str | None = None, **kwargs: Any):
    if fixture:
        kwargs["json"] = load_fixture("fal", fixture)
    return respx_mock.get(STATUS_URL).mock(return_value=httpx.Response(status_code, **kwargs))


def test_it_polls_the_stored_status_url_and_maps_in_queue_to_queued(client, respx_mock):
    route = mock_status(respx_mock, 202, "status_in_queue.json")

    update = client.poll(submission())

    request = route.calls.last.request
    assert request.method == "GET"
    assert str(request.url) == f"{STATUS_URL}?logs=0"
    assert request.headers["Authorization"] == f"Key {KEY}"
    assert (update.status, update.vendor_status) == (Status.QUEUED, "IN_QUEUE")


def test_it_maps_in_progress_to_running(client, respx_mock):
    mock_status(respx_mock, 202, "status_in_progress.json")

    update = client.poll(submission())

    assert (update.status, update.vendor_status, update.error) == (Status.RUNNING, "IN_PROGRESS", None)


def test_it_fetches_the_result_when_completed_and_reports_the_video_seed_and_actual_prompt(
    client, respx_mock
):
    mock_status(respx_mock, 200, "status_completed.json")
    result = respx_mock.get(REQUESTS).mock(
        return_value=httpx.Response(200, json=load_fixture("fal", "result_video.json"))
    )

    update = client.poll(submission())

    assert result.calls.last.request.headers["Authorization"] == f"Key {KEY}"
    assert update.status == Status.SUCCEEDED
    assert [(o.kind, o.url, o.content_type) for o in update.outputs] == [
        ("video", "https://v3b.fal.media/files/b/koala/out.mp4", "video/mp4")
    ]
    assert update.seed == 175932751
    assert update.actual_prompt.startswith("A red fox trots")


def test_it_uses_the_stored_urls_rather_than_deriving_them(client, respx_mock):
    state = {
        "request_id": "abc",
        "status_url": f"{QUEUE}/somewhere/else/abc/status",
        "response_url": f"{QUEUE}/somewhere/else/abc",
        "cancel_url": f"{QUEUE}/somewhere/else/abc/cancel",
    }
    respx_mock.get(state["status_url"]).mock(return_value=httpx.Response(200, json={"status": "COMPLETED"}))
    respx_mock.get(state["response_url"]).mock(
        return_value=httpx.Response(200, json=load_fixture("fal", "result_video.json"))
    )

    update = client.poll(Submission(provider="fal", vendor_job_id="abc", state=state))

    assert update.status == Status.SUCCEEDED


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "result_images.json",
            [
                ("image", "https://v3b.fal.media/files/b/koala/1.png"),
                ("image", "https://v3b.fal.media/files/b/koala/2.png"),
            ],
        ),
        ("result_image_v22.json", [("image", "https://v3b.fal.media/files/b/koala/out.jpeg")]),
        ("result_images_v25.json", [("image", "https://v3b.fal.media/files/b/koala/25.png")]),
        ("result_video_v22.json", [("video", "https://v3b.fal.media/files/b/koala/v22.mp4")]),
    ],
)
def test_it_reads_every_documented_output_shape(client, respx_mock, fixture, expected):
    mock_status(respx_mock, 200, "status_completed.json")
    respx_mock.get(REQUESTS).mock(return_value=httpx.Response(200, json=load_fixture("fal", fixture)))

    update = client.poll(submission())

    assert update.status == Status.SUCCEEDED
    assert [(o.kind, o.url) for o in update.outputs] == expected
    assert update.seed is not None


def test_it_reads_seeds_and_actual_prompt_from_wan_25_and_the_echoed_prompt_from_wan_22():
    v25 = fal.parse_result(load_fixture("fal", "result_images_v25.json"))
    v22 = fal.parse_result(load_fixture("fal", "result_video_v22.json"))
    assert (v25.seed, v25.actual_prompt) == (
        1234,
        "A lighthouse on a cliff at sunset, oil painting, warm palette",
    )
    assert (v22.seed, v22.actual_prompt) == (99, "A red fox in snow, cinematic")


def test_it_decodes_inline_data_uri_outputs():
    update = fal.parse_result(
        {"images": [{"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}]}
    )
    assert (update.outputs[0].data, update.outputs[0].content_type, update.outputs[0].url) == (
        PNG,
        "image/png",
        None,
    )


def test_it_maps_completed_with_a_422_result_to_a_permanent_failed_update(client, respx_mock):
    mock_status(respx_mock, 200, "status_completed.json")
    respx_mock.get(REQUESTS).mock(
        return_value=httpx.Response(422, json=load_fixture("fal", "error_422_detail.json"))
    )

    update = client.poll(submission())

    assert update.status == Status.FAILED
    assert update.error.code == ErrorCode.INVALID_REQUEST
    assert update.error.permanent
    assert "prompt: field required" in update.error.message


def test_it_maps_completed_with_a_runner_timeout_result_to_a_failed_update_with_the_vendor_code(
    client, respx_mock
):
    mock_status(respx_mock, 200, "status_completed.json")
    respx_mock.get(REQUESTS).mock(
        return_value=httpx.Response(
            504,
            json=load_fixture("fal", "error_request_timeout.json"),
            headers={"X-Fal-Error-Type": "request_timeout"},
        )
    )

    update = client.poll(submission())

    assert update.status == Status.FAILED
    assert (update.error.code, update.error.vendor_code, update.error.http_status) == (
        ErrorCode.TIMEOUT,
        "request_timeout",
        504,
    )


def test_it_maps_a_client_cancelled_result_to_canceled(client, respx_mock):
    mock_status(respx_mock, 200, "status_completed.json")
    respx_mock.get(REQUESTS).mock(
        return_value=httpx.Response(499, json=load_fixture("fal", "error_client_cancelled.json"))
    )

    update = client.poll(submission())

    assert (update.status, update.error) == (Status.CANCELED, None)


def test_it_raises_instead_of_failing_the_job_when_the_result_call_itself_breaks(client, respx_mock):
    mock_status(respx_mock, 200, "status_completed.json")
    respx_mock.get(REQUESTS).mock(return_value=httpx.Response(502, text="<html>Bad gateway</html>"))

    with pytest.raises(ProviderError) as exc:
        client.poll(submission())

    assert (exc.value.code, exc.value.transient) == (ErrorCode.SERVER_ERROR, True)


def test_it_maps_failed_and_canceled_statuses_if_fal_ever_sends_them(client, respx_mock):
    route = respx_mock.get(STATUS_URL)
    route.mock(return_value=httpx.Response(200, json={"status": "FAILED", "error": "Runner crashed"}))
    failed = client.poll(submission())
    route.mock(return_value=httpx.Response(200, json={"status": "CANCELED"}))
    canceled = client.poll(submission())

    assert (failed.status, failed.error.code, failed.error.permanent) == (
        Status.FAILED,
        ErrorCode.VENDOR_FAILED,
        True,
    )
    assert "Runner crashed" in failed.error.message
    assert canceled.status == Status.CANCELED


# --- errors (§3) ------------------------------------------------------------------------------------


def submit_error(client, respx_mock, response: httpx.Response) -> ProviderError:
    respx_mock.post(f"{QUEUE}/wan/v2.6/text-to-video").mock(return_value=response)
    with pytest.raises(ProviderError) as exc:
        client.submit(make_request("wan/v2.6/text-to-video", Mode.T2V))
    return exc.value


def test_it_maps_422_detail_to_a_permanent_invalid_request(client, respx_mock):
    error = submit_error(
        client, respx_mock, httpx.Response(422, json=load_fixture("fal", "error_422_detail.json"))
    )

    assert (error.code, error.transient, error.http_status) == (ErrorCode.INVALID_REQUEST, False, 422)
    assert error.message == (
        "fal: prompt: field required; duration: value is not a valid enumeration member; permitted: '5', '10', '15'"
    )
    assert error.vendor_code == "value_error.missing"


def test_it_maps_a_detail_string_to_its_message(client, respx_mock):
    error = submit_error(
        client, respx_mock, httpx.Response(400, json=load_fixture("fal", "error_detail_string.json"))
    )

    assert (error.code, error.transient) == (ErrorCode.INVALID_REQUEST, False)
    assert error.message == "fal: Image could not be downloaded from the given URL"


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (504, "request_timeout", ErrorCode.TIMEOUT),
        (504, "startup_timeout", ErrorCode.TIMEOUT),
        (503, "runner_scheduling_failure", ErrorCode.SERVER_ERROR),
        (503, "runner_connection_timeout", ErrorCode.SERVER_ERROR),
        (503, "runner_disconnected", ErrorCode.SERVER_ERROR),
        (503, "runner_connection_refused", ErrorCode.SERVER_ERROR),
        (503, "runner_connection_error", ErrorCode.SERVER_ERROR),
        (502, "runner_incomplete_response", ErrorCode.SERVER_ERROR),
        (500, "runner_server_error", ErrorCode.SERVER_ERROR),
        (500, "internal_error", ErrorCode.SERVER_ERROR),
    ],
)
def test_it_maps_fal_request_error_types_to_transient_errors_with_the_vendor_code(
    client, respx_mock, status, error_type, code
):
    body = {"detail": "Something went wrong upstream", "error_type": error_type}
    error = submit_error(
        client, respx_mock, httpx.Response(status, json=body, headers={"X-Fal-Error-Type": error_type})
    )

    assert (error.code, error.transient, error.vendor_code, error.http_status) == (
        code,
        True,
        error_type,
        status,
    )


def test_it_maps_a_bad_request_error_type_to_a_permanent_invalid_request(client, respx_mock):
    error = submit_error(
        client, respx_mock, httpx.Response(400, json={"detail": "bad", "error_type": "bad_request"})
    )

    assert (error.code, error.transient, error.vendor_code) == (
        ErrorCode.INVALID_REQUEST,
        False,
        "bad_request",
    )


def test_it_reads_the_error_type_from_the_header_when_the_body_has_none(client, respx_mock):
    response = httpx.Response(
        503, text="Service Unavailable", headers={"X-Fal-Error-Type": "runner_disconnected"}
    )
    error = submit_error(client, respx_mock, response)

    assert (error.code, error.transient, error.vendor_code) == (
        ErrorCode.SERVER_ERROR,
        True,
        "runner_disconnected",
    )


@pytest.mark.parametrize(
    ("status", "headers", "transient"),
    [
        (503, {"X-Fal-Retryable": "false"}, False),
        (422, {"X-Fal-Retryable": "true"}, True),
        (500, {"X-Fal-Needs-Retry": "0"}, False),
    ],
)
def test_it_lets_the_retryable_header_override_transience(client, respx_mock, status, headers, transient):
    error = submit_error(client, respx_mock, httpx.Response(status, json={"detail": "x"}, headers=headers))

    assert error.transient is transient


def test_it_maps_content_policy_rejections_to_a_permanent_content_policy_error(client, respx_mock):
    error = submit_error(
        client, respx_mock, httpx.Response(422, json=load_fixture("fal", "error_content_policy.json"))
    )

    assert (error.code, error.transient, error.vendor_code) == (
        ErrorCode.CONTENT_POLICY,
        False,
        "content_policy_violation",
    )
    assert "content checker" in error.message


@pytest.mark.parametrize("status", [401, 403])
def test_it_maps_401_and_403_to_a_permanent_auth_error(client, respx_mock, status):
    error = submit_error(
        client, respx_mock, httpx.Response(status, json=load_fixture("fal", "error_unauthorized.json"))
    )

    assert (error.code, error.transient) == (ErrorCode.AUTH, False)
    assert "Invalid key" in error.message


def test_it_maps_429_with_retry_after_to_a_transient_rate_limit(client, respx_mock):
    response = httpx.Response(
        429, json=load_fixture("fal", "error_rate_limited.json"), headers={"Retry-After": "7"}
    )
    error = submit_error(client, respx_mock, response)

    assert (error.code, error.transient, error.retry_after) == (ErrorCode.RATE_LIMITED, True, 7.0)


# --- fault matrix (RELIABILITY.md §7) -------------------------------------------------------------

FAULTS = [
    ("connect timeout", {"side_effect": httpx.ConnectTimeout("connect")}, ErrorCode.TIMEOUT, True),
    ("read timeout", {"side_effect": httpx.ReadTimeout("read")}, ErrorCode.TIMEOUT, True),
    ("connection refused", {"side_effect": httpx.ConnectError("refused")}, ErrorCode.CONNECTION, True),
    (
        "429 with Retry-After",
        {"return_value": httpx.Response(429, headers={"Retry-After": "30"})},
        ErrorCode.RATE_LIMITED,
        True,
    ),
    (
        "500",
        {"return_value": httpx.Response(500, text="Internal Server Error")},
        ErrorCode.SERVER_ERROR,
        True,
    ),
    (
        "502",
        {"return_value": httpx.Response(502, text="<html>Bad Gateway</html>")},
        ErrorCode.SERVER_ERROR,
        True,
    ),
    (
        "503",
        {"return_value": httpx.Response(503, json={"detail": "unavailable"})},
        ErrorCode.SERVER_ERROR,
        True,
    ),
    (
        "200 with HTML",
        {"return_value": httpx.Response(200, html="<html><body>hi</body></html>")},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    (
        "malformed JSON",
        {"return_value": httpx.Response(202, text='{"status": "IN_QUEUE",')},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    ("empty body", {"return_value": httpx.Response(200, content=b"")}, ErrorCode.BAD_RESPONSE, True),
    (
        "truncated body",
        {"side_effect": httpx.RemoteProtocolError("peer closed")},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    (
        "redirect loop",
        {"return_value": httpx.Response(302, headers={"Location": STATUS_URL})},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    (
        "unknown status",
        {"return_value": httpx.Response(200, json={"status": "PAUSED"})},
        ErrorCode.UNKNOWN_STATUS,
        True,
    ),
    (
        "status not an object",
        {"return_value": httpx.Response(200, json=["IN_QUEUE"])},
        ErrorCode.BAD_RESPONSE,
        True,
    ),
    (
        "404 forgotten",
        {"return_value": httpx.Response(404, json={"detail": "Not found"})},
        ErrorCode.NOT_FOUND,
        False,
    ),
]


@pytest.mark.parametrize(("fault", "mock", "code", "transient"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_while_polling_becomes_a_typed_provider_error(
    client, respx_mock, fault, mock, code, transient
):
    route = respx_mock.get(STATUS_URL).mock(**mock)

    with pytest.raises(ProviderError) as exc:
        client.poll(submission())

    assert (exc.value.code, exc.value.transient) == (code, transient)
    assert route.call_count == 1  # never follows a redirect, never retries by itself


@pytest.mark.parametrize(("fault", "mock", "code", "transient"), FAULTS[:12], ids=[f[0] for f in FAULTS[:12]])
def test_each_fault_while_submitting_becomes_a_typed_provider_error(
    client, respx_mock, fault, mock, code, transient
):
    respx_mock.post(f"{QUEUE}/wan/v2.6/text-to-video").mock(**mock)

    with pytest.raises(ProviderError) as exc:
        client.submit(make_request("wan/v2.6/text-to-video", Mode.T2V))

    assert (exc.value.code, exc.value.transient) == (code, transient)


def test_it_maps_completed_without_an_output_url_to_a_permanent_result_missing(client, respx_mock):
    mock_status(respx_mock, 200, "status_completed.json")
    respx_mock.get(REQUESTS).mock(
        return_value=httpx.Response(200, json=load_fixture("fal", "result_no_output.json"))
    )

    with pytest.raises(ProviderError) as exc:
        client.poll(submission())

    assert (exc.value.code, exc.value.transient) == (ErrorCode.RESULT_MISSING, False)


def test_it_maps_a_result_whose_video_has_no_url_to_result_missing():
    with pytest.raises(ProviderError) as exc:
        fal.parse_result({"video": {"content_type": "video/mp4"}, "seed": 1})
    assert exc.value.code == ErrorCode.RESULT_MISSING


@pytest.mark.parametrize(
    "mock",
    [
        {"return_value": httpx.Response(200, text="<html>oops</html>")},
        {"side_effect": httpx.ReadTimeout("slow body")},
        {"return_value": httpx.Response(307, headers={"Location": REQUESTS})},
    ],
    ids=["html", "slow body", "redirect"],
)
def test_each_fault_while_fetching_the_result_is_raised_as_transient(client, respx_mock, mock):
    mock_status(respx_mock, 200, "status_completed.json")
    respx_mock.get(REQUESTS).mock(**mock)

    with pytest.raises(ProviderError) as exc:
        client.poll(submission())

    assert exc.value.transient


# --- cancel -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "accepted"),
    [
        (202, {"status": "CANCELLATION_REQUESTED"}, True),
        (200, {"status": "OK"}, True),
        (400, {"status": "ALREADY_COMPLETED"}, False),
        (200, {"status": "ALREADY_COMPLETED"}, False),
        (404, {"status": "NOT_FOUND"}, False),
        (202, None, True),
    ],
)
def test_it_maps_cancel_outcomes(client, respx_mock, status, body, accepted):
    route = respx_mock.put(f"{REQUESTS}/cancel").mock(
        return_value=httpx.Response(status, json=body) if body is not None else httpx.Response(status)
    )

    assert client.cancel(submission()) is accepted
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Key {KEY}"
    assert request.content == b""


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (httpx.Response(401, json={"detail": "bad key"}), ErrorCode.AUTH),
        (httpx.Response(500, text="<html>boom</html>"), ErrorCode.SERVER_ERROR),
        (httpx.Response(429, headers={"Retry-After": "3"}), ErrorCode.RATE_LIMITED),
    ],
)
def test_it_raises_when_a_cancel_call_fails(client, respx_mock, response, code):
    respx_mock.put(f"{REQUESTS}/cancel").mock(return_value=response)

    with pytest.raises(ProviderError) as exc:
        client.cancel(submission())

    assert exc.value.code == code


# --- webhooks (§4) ----------------------------------------------------------------------------------


def jwk(private_key: Ed25519PrivateKey) -> dict[str, str]:
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        "kid": "k",
    }


def signed(private_key: Ed25519PrivateKey, body: bytes, *, timestamp: float = NOW) -> dict[str, str]:
    request_id, user_id, ts = "123e4567-e89b-12d3-a456-426614174000", "user-1", str(int(timestamp))
    signature = private_key.sign(fal.webhook_message(request_id, user_id, ts, body))
    return {
        "X-Fal-Webhook-Request-Id": request_id,
        "X-Fal-Webhook-User-Id": user_id,
        "X-Fal-Webhook-Timestamp": ts,
        "X-Fal-Webhook-Signature": signature.hex(),
    }


@pytest.fixture
def fal_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def jwks_route(respx_mock, fal_key):
    other = Ed25519PrivateKey.generate()
    return respx_mock.get(JWKS).mock(
        return_value=httpx.Response(200, json={"keys": [jwk(other), jwk(fal_key)]})
    )


def fixture_bytes(name: str) -> bytes:
    return json.dumps(load_fixture("fal", name)).encode()


def test_it_accepts_a_correctly_signed_ok_webhook(client, fal_key, jwks_route):
    body = fixture_bytes("webhook_ok.json")

    request_id, update = client.parse_webhook(headers=signed(fal_key, body), body=body, now=NOW + 10)

    assert request_id == "123e4567-e89b-12d3-a456-426614174000"
    assert update.status == Status.SUCCEEDED
    assert [(o.kind, o.url, o.content_type) for o in update.outputs] == [
        ("video", "https://v3b.fal.media/files/b/koala/hook.mp4", "video/mp4")
    ]
    assert (update.seed, update.actual_prompt) == (1, "A red fox in snow")
    assert jwks_route.call_count == 1
    assert "Authorization" not in jwks_route.calls.last.request.headers  # our key never goes to the JWKS host


def test_it_maps_an_error_webhook_to_a_failed_update(client, fal_key, jwks_route):
    body = fixture_bytes("webhook_error.json")

    _, update = client.parse_webhook(headers=signed(fal_key, body), body=body, now=NOW)

    assert update.status == Status.FAILED
    assert (update.error.code, update.error.permanent, update.error.http_status) == (
        ErrorCode.INVALID_REQUEST,
        True,
        422,
    )
    assert "prompt: field required" in update.error.message


def test_it_maps_a_payload_error_webhook_to_a_failed_update(client, fal_key, jwks_route):
    body = fixture_bytes("webhook_payload_error.json")

    _, update = client.parse_webhook(headers=signed(fal_key, body), body=body, now=NOW)

    assert update.status == Status.FAILED
    assert update.error.code == ErrorCode.RESULT_MISSING
    assert "Failed to serialize" in update.error.message


def test_it_refuses_a_webhook_whose_body_changed_by_one_byte(client, fal_key, jwks_route):
    body = fixture_bytes("webhook_ok.json")
    headers = signed(fal_key, body)
    tampered = body.replace(b'"seed": 1', b'"seed": 2')
    assert len(tampered) == len(body) and tampered != body

    with pytest.raises(WebhookError):
        client.parse_webhook(headers=headers, body=tampered, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, -10_000])
def test_it_refuses_a_webhook_with_a_timestamp_outside_five_minutes(client, fal_key, respx_mock, skew):
    body = fixture_bytes("webhook_ok.json")

    with pytest.raises(WebhookError):
        client.parse_webhook(headers=signed(fal_key, body, timestamp=NOW + skew), body=body, now=NOW)
    assert not respx_mock.calls  # refused before fetching any key


def test_it_accepts_a_timestamp_just_inside_the_window(client, fal_key, jwks_route):
    body = fixture_bytes("webhook_ok.json")

    _, update = client.parse_webhook(headers=signed(fal_key, body, timestamp=NOW - 300), body=body, now=NOW)

    assert update.status == Status.SUCCEEDED


def test_it_refuses_a_webhook_signed_by_an_unknown_key_after_one_key_refresh(client, fal_key, jwks_route):
    body = fixture_bytes("webhook_ok.json")
    client.parse_webhook(headers=signed(fal_key, body, timestamp=NOW), body=body, now=NOW)  # caches the JWKS
    stranger = Ed25519PrivateKey.generate()
    later = NOW + 120

    with pytest.raises(WebhookError):
        client.parse_webhook(headers=signed(stranger, body, timestamp=later), body=body, now=later)
    assert jwks_route.call_count == 2


def test_it_does_not_refetch_keys_for_every_forged_delivery(client, fal_key, jwks_route):
    body = fixture_bytes("webhook_ok.json")
    stranger = Ed25519PrivateKey.generate()

    for _ in range(3):
        with pytest.raises(WebhookError):
            client.parse_webhook(headers=signed(stranger, body), body=body, now=NOW)

    assert jwks_route.call_count == 1


def test_it_picks_up_a_rotated_key_by_refetching_the_jwks_once(client, respx_mock):
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    route = respx_mock.get(JWKS)
    route.side_effect = [
        httpx.Response(200, json={"keys": [jwk(old)]}),
        httpx.Response(200, json={"keys": [jwk(new)]}),
    ]
    body = fixture_bytes("webhook_ok.json")
    client.parse_webhook(headers=signed(old, body), body=body, now=NOW)

    _, update = client.parse_webhook(headers=signed(new, body, timestamp=NOW + 90), body=body, now=NOW + 90)

    assert update.status == Status.SUCCEEDED
    assert route.call_count == 2


def test_it_caches_the_jwks_refreshing_it_in_the_background_after_an_hour(client, fal_key, jwks_route):
    body = fixture_bytes("webhook_ok.json")

    def deliver(now: float) -> None:
        client.parse_webhook(headers=signed(fal_key, body, timestamp=now), body=body, now=now)

    for now in (NOW, NOW + 60, NOW + 3599):
        deliver(now)
    assert jwks_route.call_count == 1

    deliver(NOW + 3600)  # verified with the cached keys at once; the refresh runs behind it
    wait_for(lambda: jwks_route.call_count == 2, timeout=5)
    deliver(NOW + 3600 + 1800)
    assert jwks_route.call_count == 2


def test_keys_older_than_a_day_are_not_used_at_all(client, fal_key, respx_mock):
    route = respx_mock.get(JWKS).mock(return_value=httpx.Response(200, json={"keys": [jwk(fal_key)]}))
    body = fixture_bytes("webhook_ok.json")
    client.parse_webhook(headers=signed(fal_key, body, timestamp=NOW), body=body, now=NOW)
    route.mock(return_value=httpx.Response(503))

    day_later = NOW + 24 * 3600 + 1
    with pytest.raises(ProviderError) as excinfo:
        client.parse_webhook(headers=signed(fal_key, body, timestamp=day_later), body=body, now=day_later)
    assert excinfo.value.transient  # the view answers 503 and fal retries
    assert route.call_count == 2


def test_it_reads_the_jwks_url_from_the_environment(respx_mock, fal_key):
    client = FalClient(
        api_key=KEY, base_url=QUEUE, environ={"FAL_JWKS_URL": "https://rest.fal.ai/.well-known/jwks.json"}
    )
    route = respx_mock.get("https://rest.fal.ai/.well-known/jwks.json").mock(
        return_value=httpx.Response(200, json={"keys": [jwk(fal_key)]})
    )
    body = fixture_bytes("webhook_ok.json")

    client.parse_webhook(headers=signed(fal_key, body), body=body, now=NOW)

    assert route.call_count == 1


@pytest.mark.parametrize(
    "mock",
    [
        {"side_effect": httpx.ConnectError("unreachable")},
        {"side_effect": httpx.ReadTimeout("slow")},
        {"return_value": httpx.Response(500, text="oops")},
        {"return_value": httpx.Response(404, json={"detail": "Not found"})},
        {"return_value": httpx.Response(200, html="<html></html>")},
        {"return_value": httpx.Response(200, json={"keys": []})},
        {"return_value": httpx.Response(200, json={"keys": [{"kty": "RSA", "n": "abc", "e": "AQAB"}]})},
    ],
    ids=["unreachable", "timeout", "500", "404", "html", "no keys", "no ed25519 key"],
)
def test_it_raises_a_transient_provider_error_when_the_keys_cannot_be_fetched(
    client, fal_key, respx_mock, mock
):
    respx_mock.get(JWKS).mock(**mock)
    body = fixture_bytes("webhook_ok.json")

    with pytest.raises(ProviderError) as exc:
        client.parse_webhook(headers=signed(fal_key, body), body=body, now=NOW)

    assert exc.value.transient  # the view answers 5xx so fal retries


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h.pop("X-Fal-Webhook-Signature"),
        lambda h: h.pop("X-Fal-Webhook-Timestamp"),
        lambda h: h.update({"X-Fal-Webhook-Signature": "not-hex"}),
        lambda h: h.update({"X-Fal-Webhook-Timestamp": "yesterday"}),
        lambda h: h.update({"X-Fal-Webhook-User-Id": "someone-else"}),
        lambda h: h.update({"X-Fal-Webhook-Request-Id": "another-request"}),
    ],
    ids=[
        "no signature",
        "no timestamp",
        "signature not hex",
        "timestamp not a number",
        "user id",
        "request id",
    ],
)
def test_it_refuses_a_webhook_with_missing_or_altered_signature_headers(client, fal_key, jwks_route, change):
    body = fixture_bytes("webhook_ok.json")
    headers = signed(fal_key, body)
    change(headers)

    with pytest.raises(WebhookError):
        client.parse_webhook(headers=headers, body=body, now=NOW)


def test_it_reads_signature_headers_in_any_case_or_as_wsgi_meta_keys(client, fal_key, jwks_route):
    body = fixture_bytes("webhook_ok.json")
    headers = signed(fal_key, body)
    lower = {k.lower(): v for k, v in headers.items()}
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}

    assert client.parse_webhook(headers=lower, body=body, now=NOW)[1].status == Status.SUCCEEDED
    assert client.parse_webhook(headers=meta, body=body, now=NOW)[1].status == Status.SUCCEEDED


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"request_id": "r", "status": "MAYBE"}'],
    ids=["not json", "not an object", "unknown status"],
)
def test_it_refuses_a_signed_body_it_cannot_read(client, fal_key, jwks_route, body):
    with pytest.raises(WebhookError):
        client.parse_webhook(headers=signed(fal_key, body), body=body, now=NOW)


def test_it_maps_an_ok_webhook_without_an_output_to_a_failed_update(client, fal_key, jwks_route):
    body = json.dumps({"request_id": "r", "status": "OK", "payload": {"seed": 1}}).encode()

    request_id, update = client.parse_webhook(headers=signed(fal_key, body), body=body, now=NOW)

    assert request_id == "r"
    assert (update.status, update.error.code) == (Status.FAILED, ErrorCode.RESULT_MISSING)


# --- parsers never raise anything but ProviderError ------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
json_keys = st.sampled_from(
    [
        "status",
        "request_id",
        "status_url",
        "response_url",
        "cancel_url",
        "video",
        "images",
        "image",
        "url",
        "content_type",
        "seed",
        "seeds",
        "actual_prompt",
        "prompt",
        "detail",
        "loc",
        "msg",
        "type",
        "error",
        "error_type",
        "payload",
        "payload_error",
        "keys",
        "x",
        "kty",
        "crv",
        "upload_url",
        "file_url",
    ]
) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars
    | st.sampled_from(
        ["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "OK", "ERROR", "https://x.example/a", "data:,"]
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=5),
    max_leaves=25,
)
http_statuses = st.none() | st.integers(min_value=100, max_value=599)
header_maps = st.dictionaries(
    st.sampled_from(["X-Fal-Error-Type", "X-Fal-Retryable", "X-Fal-Needs-Retry", "Retry-After", "X-Other"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
    max_size=4,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values, status=http_statuses, headers=header_maps)
def test_the_response_parsers_raise_only_provider_errors_for_arbitrary_json(body, status, headers):
    parsers = [
        lambda: fal.parse_submit(body, base_url=QUEUE, model="wan/v2.6/text-to-video"),
        lambda: fal.parse_status(body),
        lambda: fal.update_for_status(fal.parse_status(body), body),
        lambda: fal.parse_result(body),
        lambda: fal.parse_error(status, headers, body),
        lambda: fal.parse_cancel(status or 200, body),
        lambda: fal.parse_jwks(body),
    ]
    for parse in parsers:
        with contextlib.suppress(ProviderError):
            parse()


@settings(max_examples=200)
@given(content=st.binary(max_size=200), status=st.integers(min_value=200, max_value=599), headers=header_maps)
def test_the_error_mapper_raises_nothing_for_arbitrary_bytes(content, status, headers):
    response = httpx.Response(
        status, content=content, headers=headers, request=httpx.Request("GET", STATUS_URL)
    )

    error = fal.error_from_response(response)

    assert isinstance(error, ProviderError)
    assert len(error.message) <= fal.MAX_MESSAGE_CHARS


@settings(max_examples=300)
@given(body=json_values)
def test_the_webhook_body_parser_raises_only_webhook_errors(body):
    try:
        request_id, update = fal.parse_webhook_body(body, fallback_request_id="hdr")
    except WebhookError:
        return
    assert request_id
    assert update.status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)


@settings(max_examples=200)
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "duration",
                "num_outputs",
                "size",
                "fps",
                "loras",
                "strength",
                "seed",
                "num_frames",
                "audio",
                "multi_shot",
                "other",
            ]
        ),
        json_values,
        max_size=5,
    )
)
def test_param_translation_raises_only_provider_errors(params):
    for model, mode in [
        ("wan/v2.6/text-to-image", Mode.T2I),
        ("fal-ai/wan/v2.2-14b/speech-to-video", Mode.S2V),
    ]:
        with contextlib.suppress(ProviderError):
            fal.translate_params(model, mode, params)
