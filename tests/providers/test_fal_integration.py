"""FalClient end to end against a fake fal on loopback (tests/fakes/fal.py): real HTTP, real files."""

from __future__ import annotations

import io
import json

import av
import pytest
from PIL import Image

from providers import fal
from providers.base import (
    ErrorCode,
    GenerationRequest,
    MediaInput,
    Mode,
    ProviderError,
    Status,
    Submission,
    Update,
    WebhookError,
)
from providers.download import fetch
from providers.fal import FalClient
from providers.registry import get_client
from tests.fakes.fal import FakeFal, tiny_png


@pytest.fixture(autouse=True)
def _fresh_jwks_cache():
    fal.clear_jwks_cache()
    yield
    fal.clear_jwks_cache()


@pytest.fixture
def fake():
    with FakeFal() as server:
        yield server


def poll_until_final(client: FalClient, submission: Submission, limit: int = 10) -> list[Update]:
    updates = []
    for _ in range(limit):
        updates.append(client.poll(submission))
        if updates[-1].status.is_final:
            return updates
    raise AssertionError(f"still not final after {limit} polls: {updates}")


def test_it_runs_a_text_to_video_job_from_submit_to_a_downloaded_mp4(fake):
    client = get_client("fal", environ=fake.environ)
    request = GenerationRequest(
        provider="fal",
        model="wan/v2.6/text-to-video",
        mode=Mode.T2V,
        prompt="A red fox in snow",
        params={"duration": 5, "resolution": "720p", "aspect_ratio": "16:9", "prompt_expansion": True},
    )

    submission = client.submit(request)
    updates = poll_until_final(client, submission)

    assert submission.state["status_url"] == f"{fake.url}/wan/v2.6/requests/{submission.vendor_job_id}/status"
    sent = fake.jobs[submission.vendor_job_id].input
    assert sent["duration"] == "5" and sent["enable_prompt_expansion"] is True
    assert [u.status for u in updates] == [Status.QUEUED, Status.RUNNING, Status.SUCCEEDED]
    final = updates[-1]
    assert (final.seed, final.actual_prompt) == (42, "A red fox in snow, cinematic")
    [output] = final.outputs
    assert (output.kind, output.content_type) == ("video", "video/mp4")

    downloaded = fetch(output.url, expected_kind="video", allow_private=True)

    assert downloaded.content_type == "video/mp4"
    with av.open(io.BytesIO(downloaded.data)) as container:
        assert container.streams.video[0].width == 32


def test_it_uploads_a_large_input_to_fal_storage_and_downloads_the_edited_png(fake):
    client = fake.client()
    big = tiny_png() + b"\x00" * (fal.DATA_URI_MAX_BYTES + 1)  # past the data-URI limit: goes to storage
    small = tiny_png((0, 0, 255))
    request = GenerationRequest(
        provider="fal",
        model="wan/v2.6/image-to-image",
        mode=Mode.EDIT,
        prompt="Make it blue",
        params={"num_outputs": 1},
        inputs=[
            MediaInput(slot="image", content_type="image/png", data=big, filename="big.png"),
            MediaInput(slot="image", content_type="image/png", data=small, filename="small.png"),
        ],
    )

    submission = client.submit(request)
    updates = poll_until_final(client, submission)

    first, second = fake.jobs[submission.vendor_job_id].input["image_urls"]
    assert first.startswith(f"{fake.url}/files/uploads/") and first.endswith("/big.png")
    assert fake.files[first.removeprefix(f"{fake.url}/files/")][0] == big
    assert second.startswith("data:image/png;base64,")
    [output] = updates[-1].outputs
    downloaded = fetch(output.url, expected_kind="image", allow_private=True)
    assert Image.open(io.BytesIO(downloaded.data)).size == (16, 16)


def test_it_verifies_a_signed_webhook_against_the_served_jwks(fake):
    client = fake.client()
    request = GenerationRequest(
        provider="fal",
        model="fal-ai/wan/v2.2-a14b/video-to-video",
        mode=Mode.V2V,
        prompt="Turn it into watercolour",
        inputs=[MediaInput(slot="video", content_type="video/mp4", url="https://cdn.example/in.mp4")],
        webhook_url="https://app.example/hooks/fal/abc",
    )
    submission = client.submit(request)
    assert fake.jobs[submission.vendor_job_id].webhook_url == "https://app.example/hooks/fal/abc"
    # §2: the status URL keeps only owner/app of fal-ai/wan/v2.2-a14b/video-to-video
    assert submission.state["status_url"].startswith(f"{fake.url}/fal-ai/wan/requests/")

    headers, body = fake.signed_webhook(submission.vendor_job_id)
    request_id, update = client.parse_webhook(headers=headers, body=body)

    assert request_id == submission.vendor_job_id
    assert update.status == Status.SUCCEEDED
    assert fetch(update.outputs[0].url, expected_kind="video", allow_private=True).data[4:8] == b"ftyp"

    tampered = body.replace(b'"seed": 42', b'"seed": 43')
    with pytest.raises(WebhookError):
        client.parse_webhook(headers=headers, body=tampered)

    error_headers, error_body = fake.signed_webhook(submission.vendor_job_id, status="ERROR")
    _, failed = client.parse_webhook(headers=error_headers, body=error_body)
    assert (failed.status, failed.error.code) == (Status.FAILED, ErrorCode.INVALID_REQUEST)


def test_it_cancels_a_queued_job_and_then_reports_it_canceled(fake):
    client = fake.client()
    request = GenerationRequest(provider="fal", model="wan/v2.6/text-to-video", mode=Mode.T2V, prompt="A fox")
    submission = client.submit(request)
    assert client.poll(submission).status == Status.QUEUED

    assert client.cancel(submission) is True
    assert client.poll(submission).status == Status.CANCELED


def test_it_reports_a_cancel_after_completion_as_refused(fake):
    client = fake.client()
    request = GenerationRequest(provider="fal", model="wan/v2.6/text-to-image", mode=Mode.T2I, prompt="A fox")
    submission = client.submit(request)
    poll_until_final(client, submission)

    assert client.cancel(submission) is False


def test_it_maps_the_fake_servers_validation_error_and_bad_key(fake):
    with pytest.raises(ProviderError) as exc:
        fake.client().submit(GenerationRequest(provider="fal", model="wan/v2.6/text-to-video", mode=Mode.T2V))
    assert (exc.value.code, exc.value.message) == (ErrorCode.INVALID_REQUEST, "fal: prompt: field required")

    wrong_key = FalClient(api_key="nope", base_url=fake.url, environ=fake.environ)
    with pytest.raises(ProviderError) as exc:
        wrong_key.submit(
            GenerationRequest(provider="fal", model="wan/v2.6/text-to-video", mode=Mode.T2V, prompt="x")
        )
    assert (exc.value.code, exc.value.transient) == (ErrorCode.AUTH, False)
    assert json.loads(json.dumps(exc.value.message))  # a plain string for the job row
