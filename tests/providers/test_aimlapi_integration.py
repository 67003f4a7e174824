"""AI/ML API client end to end against a fake AI/ML API on loopback: submit, poll, download."""

from __future__ import annotations

import io
from decimal import Decimal

import av
import pytest
from PIL import Image

from providers.aimlapi import AimlapiClient
from providers.base import (
    ErrorCode,
    GenerationRequest,
    MediaInput,
    Mode,
    ProviderError,
    Status,
    Submission,
    Update,
)
from providers.download import fetch
from tests.fakes.aimlapi import FakeAimlapi
from tests.fakes.dashscope import tiny_png


@pytest.fixture(scope="module")
def fake():
    # One server per module: each test makes its own tasks, and shutting a server down costs 0.5 s.
    with FakeAimlapi() as server:
        yield server


def client_for(fake: FakeAimlapi, api_key: str | None = None) -> AimlapiClient:
    return AimlapiClient(api_key=api_key or fake.api_key, base_url=fake.url, environ={})


def run_until_done(client: AimlapiClient, submission: Submission, max_polls: int = 10) -> list[Update]:
    updates = []
    for _ in range(max_polls):
        updates.append(client.poll(submission))
        if updates[-1].status.is_final:
            return updates
    raise AssertionError(f"not finished after {max_polls} polls: {[u.status for u in updates]}")


VIDEO_CASES = [
    (Mode.T2V, "alibaba/wan-2-6-t2v", []),
    (Mode.I2V, "alibaba/wan-2-6-i2v", ["image"]),
    (Mode.I2V, "alibaba/wan-2-6-image-to-video-flash", ["image"]),
    (Mode.R2V, "alibaba/wan-2-6-r2v", ["video"]),
]


@pytest.mark.parametrize(("mode", "model", "slots"), VIDEO_CASES)
def test_video_runs_from_submit_to_a_playable_download(fake, mode, model, slots):
    client = client_for(fake)
    inputs = [
        MediaInput(slot="image", content_type="image/png", data=tiny_png())
        if slot == "image"
        else MediaInput(slot="video", content_type="video/mp4", url=f"{fake.url}/results/ref.mp4")
        for slot in slots
    ]
    request = GenerationRequest(
        provider="aimlapi",
        model=model,
        mode=mode,
        prompt="character1 runs through snow",
        params={"resolution": "720p", "duration": 5, "multi_shot": False, "prompt_expansion": True},
        inputs=inputs,
    )
    submission = client.submit(request)
    assert submission.update is None
    updates = run_until_done(client, submission)
    assert [u.status for u in updates] == [Status.QUEUED, Status.RUNNING, Status.SUCCEEDED]
    assert updates[-1].cost_usd == Decimal("0.7875")

    downloaded = fetch(updates[-1].outputs[0].url, expected_kind="video", allow_private=True)
    assert downloaded.content_type == "video/mp4"
    with av.open(io.BytesIO(downloaded.data)) as container:
        assert container.streams.video[0].height == 48


@pytest.mark.parametrize(("mode", "images"), [(Mode.T2I, 0), (Mode.EDIT, 2)])
def test_images_come_back_finished_from_submit(fake, mode, images):
    client = client_for(fake)
    inputs = [MediaInput(slot="image", content_type="image/png", data=tiny_png()) for _ in range(images)]
    request = GenerationRequest(
        provider="aimlapi", model="alibaba/wan-2-6-image", mode=mode, prompt="A flower shop", inputs=inputs
    )
    submission = client.submit(request)
    assert submission.update.status == Status.SUCCEEDED
    assert submission.update.cost_usd == Decimal("0.06")
    downloaded = fetch(submission.update.outputs[0].url, expected_kind="image", allow_private=True)
    assert Image.open(io.BytesIO(downloaded.data)).format == "PNG"


def test_a_failed_generation_reports_its_message():
    with FakeAimlapi(fail=True) as fake:
        client = client_for(fake)
        submission = client.submit(
            GenerationRequest(provider="aimlapi", model="alibaba/wan-2-6-t2v", mode=Mode.T2V, prompt="x")
        )
        update = run_until_done(client, submission)[-1]
    assert update.status == Status.FAILED
    assert (update.error.code, update.error.vendor_code) == (ErrorCode.VENDOR_FAILED, "GenerationError")


def test_an_unknown_generation_is_a_permanent_not_found(fake):
    with pytest.raises(ProviderError) as exc:
        client_for(fake).poll(
            Submission("aimlapi", "nope", state={"generation_id": "nope", "output_kind": "video"})
        )
    assert (exc.value.code, exc.value.permanent) == (ErrorCode.NOT_FOUND, True)


def test_a_wrong_key_is_a_permanent_auth_failure(fake):
    with pytest.raises(ProviderError) as exc:
        client_for(fake, api_key="wrong").submit(
            GenerationRequest(provider="aimlapi", model="alibaba/wan-2-6-t2v", mode=Mode.T2V, prompt="x")
        )
    assert (exc.value.code, exc.value.permanent) == (ErrorCode.AUTH, True)


def test_a_body_the_vendor_rejects_is_an_invalid_request(fake):
    request = GenerationRequest(
        provider="aimlapi", model="alibaba/wan-2-6-t2v", mode=Mode.T2V, prompt="x", params={"duration": 7}
    )
    with pytest.raises(ProviderError) as exc:
        client_for(fake).submit(request)
    assert exc.value.code == ErrorCode.INVALID_REQUEST
    assert "Body validation error" in exc.value.message
