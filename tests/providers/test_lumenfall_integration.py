"""Lumenfall client end to end against a fake Lumenfall on loopback: submit -> poll -> download."""

from __future__ import annotations

import io
import time

import av
import pytest
from PIL import Image

from providers import lumenfall
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
from providers.lumenfall import LumenfallClient
from tests.fakes.lumenfall import FakeLumenfall
from tests.fakes.media_files import tiny_mp4, tiny_png
from tests.fakes.server import FakeServer


@pytest.fixture
def fake():
    with FakeServer() as server:
        yield FakeLumenfall(server)


def client_for(fake: FakeLumenfall, environ: dict | None = None) -> LumenfallClient:
    environ = {"LUMENFALL_WEBHOOK_SECRET": fake.secret} if environ is None else environ
    return LumenfallClient(api_key=fake.api_key, base_url=fake.server.url, environ=environ)


def request(mode: Mode, **kwargs) -> GenerationRequest:
    kwargs.setdefault("prompt", "A lighthouse at dusk")
    return GenerationRequest(provider="lumenfall", model="wan-2.6", mode=mode, **kwargs)


def poll_to_end(client: LumenfallClient, submission: Submission, max_polls: int = 10) -> list[Update]:
    updates = []
    for _ in range(max_polls):
        updates.append(client.poll(submission))
        if updates[-1].status.is_final:
            return updates
    raise AssertionError(f"not finished after {max_polls} polls: {updates}")


def assert_png(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()


def assert_playable_mp4(data: bytes) -> None:
    with av.open(io.BytesIO(data)) as container:
        assert sum(1 for _ in container.decode(video=0)) > 0


def test_text_to_image_finishes_inside_submit_with_a_downloadable_png(fake):
    submission = client_for(fake).submit(request(Mode.T2I, params={"size": "1024x1024", "num_outputs": 2}))

    update = submission.update
    assert update.status == Status.SUCCEEDED and len(update.outputs) == 2
    assert submission.vendor_job_id.startswith("req_")
    for output in update.outputs:
        downloaded = fetch(output.url, expected_kind="image", allow_private=True)
        assert downloaded.content_type == "image/png"
        assert_png(downloaded.data)


def test_text_to_image_with_b64_json_returns_the_png_bytes_inline(fake):
    submission = client_for(fake).submit(request(Mode.T2I, params={"response_format": "b64_json"}))

    (output,) = submission.update.outputs
    assert output.url is None and output.content_type == "image/png"
    assert_png(output.data)


def test_an_image_edit_uploads_the_images_as_multipart_files(fake):
    images = [
        MediaInput(slot="image", content_type="image/png", data=tiny_png(), filename="a.png"),
        MediaInput(slot="image", content_type="image/png", data=tiny_png(8, 8), filename="b.png"),
    ]
    submission = client_for(fake).submit(request(Mode.EDIT, inputs=images, params={"seed": 4}))

    (parts,) = fake.edits
    assert [(name, filename) for name, filename, _, _ in parts if filename] == [
        ("image", "a.png"),
        ("image", "b.png"),
    ]
    assert {name for name, filename, _, _ in parts if not filename} == {"model", "prompt", "seed"}
    (output,) = submission.update.outputs
    assert_png(fetch(output.url, expected_kind="image", allow_private=True).data)


@pytest.mark.parametrize("mode", [Mode.T2V, Mode.I2V, Mode.V2V])
def test_a_video_job_runs_from_submit_to_a_downloaded_mp4(fake, mode):
    client = client_for(fake)
    inputs = {
        Mode.T2V: [],
        Mode.I2V: [MediaInput(slot="image", content_type="image/png", data=tiny_png())],
        Mode.V2V: [
            MediaInput(
                slot="video", content_type="video/mp4", data=tiny_mp4(), url="https://cdn.example/in.mp4"
            )
        ],
    }[mode]
    submission = client.submit(request(mode, inputs=inputs, params={"duration": 5, "resolution": "720p"}))
    updates = poll_to_end(client, submission)

    assert [u.status for u in updates] == [Status.QUEUED, Status.RUNNING, Status.SUCCEEDED]
    (output,) = updates[-1].outputs
    assert output.expires_at is not None
    downloaded = fetch(output.url, expected_kind="video", allow_private=True)
    assert downloaded.content_type == "video/mp4"
    assert_playable_mp4(downloaded.data)
    sent = fake.videos[submission.vendor_job_id].body
    assert sent["seconds"] == 5
    assert ("input_reference" in sent, "input_video" in sent) == (mode == Mode.I2V, mode == Mode.V2V)


def test_a_failed_video_ends_failed_with_the_vendor_message(fake):
    fake.outcome = "failed"
    client = client_for(fake)
    final = poll_to_end(client, client.submit(request(Mode.T2V)))[-1]
    assert final.status == Status.FAILED and "generation failed" in final.error.message


def test_a_signed_completion_webhook_finishes_the_video(fake):
    client = client_for(fake)
    submission = client.submit(request(Mode.T2V))
    headers, body = fake.signed_event(submission.vendor_job_id)

    video_id, update = client.parse_webhook(headers=headers, body=body)

    assert video_id == submission.vendor_job_id and update.status == Status.SUCCEEDED
    assert_playable_mp4(fetch(update.outputs[0].url, expected_kind="video", allow_private=True).data)


def test_the_webhook_secret_is_fetched_from_lumenfall_when_not_configured(fake):
    lumenfall._secret_cache.clear()
    client = client_for(fake, environ={})
    headers, body = fake.signed_event("video_000001", "video.failed")

    assert client.parse_webhook(headers=headers, body=body)[1].status == Status.FAILED
    assert len(fake.server.requests_to("GET", "/v1/webhooks/secret")) == 1
    lumenfall._secret_cache.clear()


def test_a_stale_webhook_from_the_fake_is_refused(fake):
    headers, body = fake.signed_event("video_000001", timestamp=int(time.time()) - 600)
    with pytest.raises(lumenfall.WebhookError):
        client_for(fake).parse_webhook(headers=headers, body=body)


def test_a_transient_fault_while_polling_recovers_on_the_next_poll(fake):
    client = client_for(fake)
    submission = client.submit(request(Mode.T2V))
    fake.fail_next.append(
        (502, {"error": {"message": "try later", "type": "server_error", "code": "ALL_PROVIDERS_EXHAUSTED"}})
    )

    with pytest.raises(ProviderError) as exc:
        client.poll(submission)
    assert exc.value.code == ErrorCode.SERVER_ERROR and exc.value.transient
    assert poll_to_end(client, submission)[-1].status == Status.SUCCEEDED
