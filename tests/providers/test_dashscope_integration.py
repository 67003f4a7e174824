"""DashScope client end to end against a fake DashScope on loopback: submit, poll, download."""

from __future__ import annotations

import io

import av
import pytest
from PIL import Image

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
from providers.dashscope import DashScopeClient
from providers.download import fetch
from providers.http import recording
from tests.fakes.dashscope import FakeDashScope, tiny_png


@pytest.fixture(scope="module")
def fake():
    # One server per module: each test makes its own tasks, and shutting a server down costs 0.5 s.
    with FakeDashScope() as server:
        yield server


def client_for(fake: FakeDashScope, api_key: str | None = None) -> DashScopeClient:
    return DashScopeClient(api_key=api_key or fake.api_key, base_url=fake.url, environ={})


def run_until_done(client: DashScopeClient, submission: Submission, max_polls: int = 10) -> list[Update]:
    updates = []
    for _ in range(max_polls):
        updates.append(client.poll(submission))
        if updates[-1].status.is_final:
            return updates
    raise AssertionError(f"not finished after {max_polls} polls: {[u.status for u in updates]}")


def test_text_to_video_runs_from_submit_to_a_playable_download(fake):
    client = client_for(fake)
    request = GenerationRequest(
        provider="dashscope",
        model="wan2.6-t2v",
        mode=Mode.T2V,
        prompt="A red fox runs through snow",
        params={"size": "1280x720", "duration": 5, "prompt_expansion": True, "audio": False, "seed": 3},
    )
    with recording() as calls:
        submission = client.submit(request)
        updates = run_until_done(client, submission)
    assert [u.status for u in updates] == [Status.QUEUED, Status.RUNNING, Status.SUCCEEDED]
    final = updates[-1]
    assert final.actual_prompt == "(extended) A red fox runs through snow"
    assert final.seed == 3
    assert [c.status for c in calls] == [200, 200, 200, 200]

    downloaded = fetch(final.outputs[0].url, expected_kind="video", allow_private=True)
    assert downloaded.content_type == "video/mp4"
    with av.open(io.BytesIO(downloaded.data)) as container:
        assert container.streams.video[0].width == 64


def test_image_to_video_sends_an_uploaded_frame_as_a_data_uri(fake):
    client = client_for(fake)
    frame = MediaInput(slot="image", content_type="image/png", data=tiny_png())
    request = GenerationRequest(
        provider="dashscope",
        model="wan2.6-i2v-flash",
        mode=Mode.I2V,
        prompt="The cat blinks",
        params={"resolution": "720p", "duration": 5},
        inputs=[frame],
    )
    update = run_until_done(client, client.submit(request))[-1]
    assert update.status == Status.SUCCEEDED
    create = fake.server.requests_to("POST", r"/api/v1/services/aigc/video-generation/video-synthesis")[-1]
    assert create.json()["input"]["img_url"].startswith("data:image/png;base64,")
    assert create.json()["parameters"]["resolution"] == "720P"


@pytest.mark.parametrize("model", ["wan2.6-r2v", "wan2.6-r2v-flash"])
def test_reference_to_video_runs_with_public_reference_urls(fake, model):
    client = client_for(fake)
    refs = [MediaInput(slot="video", content_type="video/mp4", url=f"{fake.url}/results/ref.mp4")]
    request = GenerationRequest(
        provider="dashscope", model=model, mode=Mode.R2V, prompt="character1 waves", inputs=refs
    )
    assert run_until_done(client, client.submit(request))[-1].status == Status.SUCCEEDED


@pytest.mark.parametrize(("mode", "model"), [(Mode.T2I, "wan2.6-t2i"), (Mode.EDIT, "wan2.6-image")])
def test_images_run_as_async_tasks_to_a_real_png(fake, mode, model):
    client = client_for(fake)
    inputs = (
        [MediaInput(slot="image", content_type="image/png", data=tiny_png())] if mode == Mode.EDIT else []
    )
    request = GenerationRequest(
        provider="dashscope",
        model=model,
        mode=mode,
        prompt="A flower shop",
        params={"size": "1280x1280"},
        inputs=inputs,
    )
    submission = client.submit(request)
    assert submission.update is None
    update = run_until_done(client, submission)[-1]
    assert update.status == Status.SUCCEEDED
    downloaded = fetch(update.outputs[0].url, expected_kind="image", allow_private=True)
    assert Image.open(io.BytesIO(downloaded.data)).size == (64, 48)


def test_sync_images_come_back_finished_from_submit(fake):
    client = client_for(fake)
    client.sync_images = True
    submission = client.submit(
        GenerationRequest(provider="dashscope", model="wan2.6-t2i", mode=Mode.T2I, prompt="x")
    )
    assert submission.update.status == Status.SUCCEEDED
    assert (
        fetch(submission.update.outputs[0].url, expected_kind="image", allow_private=True).content_type
        == "image/png"
    )


def test_a_pending_task_can_be_canceled_and_a_running_one_cannot(fake):
    client = client_for(fake)
    request = GenerationRequest(provider="dashscope", model="wan2.6-t2v", mode=Mode.T2V, prompt="x")
    pending = client.submit(request)
    assert client.cancel(pending) is True
    assert client.poll(pending).status == Status.CANCELED

    running = client.submit(request)
    client.poll(running)
    assert client.poll(running).status == Status.RUNNING
    assert client.cancel(running) is False


def test_a_failed_task_reports_the_vendor_code():
    with FakeDashScope(fail_code="DataInspectionFailed") as fake:
        client = client_for(fake)
        submission = client.submit(
            GenerationRequest(provider="dashscope", model="wan2.6-t2v", mode=Mode.T2V, prompt="x")
        )
        update = run_until_done(client, submission)[-1]
    assert update.status == Status.FAILED
    assert (update.error.code, update.error.vendor_code) == (ErrorCode.CONTENT_POLICY, "DataInspectionFailed")


def test_an_unknown_task_fails_as_not_found(fake):
    update = client_for(fake).poll(
        Submission("dashscope", "gone", state={"task_id": "gone", "output_kind": "video"})
    )
    assert update.status == Status.FAILED
    assert update.error.code == ErrorCode.NOT_FOUND


def test_a_wrong_key_is_a_permanent_auth_failure(fake):
    with pytest.raises(ProviderError) as exc:
        client_for(fake, api_key="sk-wrong").submit(
            GenerationRequest(provider="dashscope", model="wan2.6-t2v", mode=Mode.T2V, prompt="x")
        )
    assert (exc.value.code, exc.value.permanent, exc.value.vendor_code) == (
        ErrorCode.AUTH,
        True,
        "InvalidApiKey",
    )


def test_a_body_the_vendor_rejects_is_an_invalid_request(fake):
    request = GenerationRequest(provider="dashscope", model="wan2.6-t2v", mode=Mode.T2V, prompt="")
    with pytest.raises(ProviderError) as exc:
        client_for(fake).submit(request)
    assert (exc.value.code, exc.value.vendor_code) == (ErrorCode.INVALID_REQUEST, "InvalidParameter")
