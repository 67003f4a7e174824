"""APIMart client end to end against a fake APIMart on loopback: submit -> poll -> download."""

from __future__ import annotations

import io

import av
import pytest

from providers.apimart import ApimartClient
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
from tests.fakes.apimart import FakeApimart
from tests.fakes.media_files import tiny_png
from tests.fakes.server import FakeServer


@pytest.fixture
def fake():
    with FakeServer() as server:
        yield FakeApimart(server)


def client_for(fake: FakeApimart) -> ApimartClient:
    return ApimartClient(api_key=fake.api_key, base_url=fake.server.url, environ={})


def poll_to_end(client: ApimartClient, submission: Submission, max_polls: int = 10) -> list[Update]:
    updates = []
    for _ in range(max_polls):
        updates.append(client.poll(submission))
        if updates[-1].status.is_final:
            return updates
    raise AssertionError(f"not finished after {max_polls} polls: {updates}")


def assert_playable_mp4(data: bytes) -> None:
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video and sum(1 for _ in container.decode(video=0)) > 0


@pytest.mark.parametrize(
    ("model", "mode", "with_image"),
    [
        ("wan2.6", Mode.T2V, False),
        ("wan2.6", Mode.I2V, True),
        ("wan2.6-i2v-flash", Mode.I2V, True),
        ("wan2.5-preview", Mode.T2V, False),
        ("wan2.5-preview", Mode.I2V, True),
    ],
)
def test_a_video_job_runs_from_submit_to_a_downloaded_mp4(fake, model, mode, with_image):
    client = client_for(fake)
    inputs = [MediaInput(slot="image", content_type="image/png", data=tiny_png())] if with_image else []
    params = {"resolution": "720p", "duration": 5, "prompt_expansion": True}
    request = GenerationRequest(
        provider="apimart", model=model, mode=mode, prompt="A cat on grass", params=params, inputs=inputs
    )

    submission = client.submit(request)
    updates = poll_to_end(client, submission)

    assert [u.status for u in updates] == [Status.QUEUED, Status.RUNNING, Status.SUCCEEDED]
    assert updates[1].progress is not None and 0 < updates[1].progress < 100
    (output,) = updates[-1].outputs
    assert output.expires_at is not None
    downloaded = fetch(output.url, expected_kind="video", allow_private=True)
    assert downloaded.content_type == "video/mp4"
    assert_playable_mp4(downloaded.data)
    sent = fake.tasks[submission.vendor_job_id].body
    assert ("image_urls" in sent) is with_image
    if with_image:
        assert sent["image_urls"][0].startswith("data:image/png;base64,")


def test_a_failed_task_ends_failed_with_the_vendor_message(fake):
    fake.outcome = "failed"
    client = client_for(fake)
    submission = client.submit(
        GenerationRequest(provider="apimart", model="wan2.6", mode=Mode.T2V, prompt="x")
    )

    final = poll_to_end(client, submission)[-1]
    assert final.status == Status.FAILED
    assert final.error.code == ErrorCode.VENDOR_FAILED and "generation failed" in final.error.message


def test_a_wrong_key_is_a_permanent_auth_error(fake):
    client = ApimartClient(api_key="sk-wrong", base_url=fake.server.url, environ={})
    with pytest.raises(ProviderError) as exc:
        client.submit(GenerationRequest(provider="apimart", model="wan2.6", mode=Mode.T2V, prompt="x"))
    assert exc.value.code == ErrorCode.AUTH and exc.value.permanent


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (
            (429, {"error": {"code": 429, "message": "slow down"}}, {"Retry-After": "3"}),
            ErrorCode.RATE_LIMITED,
        ),
        ((503, "<html>down for maintenance</html>", {"Content-Type": "text/html"}), ErrorCode.SERVER_ERROR),
        ((200, "<html>captive portal</html>", {"Content-Type": "text/html"}), ErrorCode.BAD_RESPONSE),
        ((302, b"", {"Location": "/v1/videos/generations"}), ErrorCode.BAD_RESPONSE),
    ],
)
def test_a_transient_fault_on_submit_can_be_retried_to_success(fake, answer, code):
    client = client_for(fake)
    request = GenerationRequest(
        provider="apimart", model="wan2.6", mode=Mode.T2V, prompt="x", idempotency_key="job-1"
    )
    fake.fail_next.append(answer)

    with pytest.raises(ProviderError) as exc:
        client.submit(request)
    assert exc.value.code == code and exc.value.transient

    submission = client.submit(request)
    assert poll_to_end(client, submission)[-1].status == Status.SUCCEEDED
    assert fake.server.requests_to("POST", "/v1/videos/generations")[-1].headers["idempotency-key"] == "job-1"
