"""Results are streamed to a temporary file, stored from it, and the file is deleted on every path."""

from __future__ import annotations

import hashlib
import io
import tempfile

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from generations import assets, services
from generations.models import AssetRole, JobStatus
from providers import download
from providers.base import ErrorCode, ProviderError
from tests.factories import job_waiting_for_its_store
from tests.fakes.slow import TrickleServer
from wanweb.quotas.models import HoldStatus


def _noisy_png(size: int = 128) -> bytes:
    pixels = np.random.default_rng(3).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _noisy_png()


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    """The system temporary directory, for this test only: what is left there is ours."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def files():
    with TrickleServer() as server:
        yield server


def test_a_download_lands_in_a_temporary_file_that_closing_deletes(files, temp_dir):
    url = files.add("out.png", PNG, "application/octet-stream")

    with download.fetch_to_file(url, expected_kind="image", allow_private=True) as fetched:
        assert fetched.content_type == "image/png"  # from the bytes, not the header
        assert fetched.size == len(PNG) and fetched.sha256 == hashlib.sha256(PNG).hexdigest()
        assert [p.name for p in temp_dir.iterdir()] == [fetched.path.rsplit("/", 1)[-1]]
        with fetched.open() as handle:
            assert handle.read() == PNG

    assert list(temp_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("data", "kind", "max_bytes", "code"),
    [
        (PNG, "image", len(PNG) - 1, ErrorCode.TOO_LARGE),  # the byte cap still refuses
        (b"<html>" + b"x" * 5000, "image", None, ErrorCode.RESULT_INVALID),  # sniffed from the first chunk
        (PNG, "video", None, ErrorCode.DOWNLOAD_REFUSED),  # an image where a video was expected
    ],
)
def test_a_refused_download_leaves_no_temporary_file(files, temp_dir, data, kind, max_bytes, code):
    url = files.add("out.bin", data)
    with pytest.raises(ProviderError) as caught:
        download.fetch_to_file(
            url, expected_kind=kind, allow_private=True, **({"max_bytes": max_bytes} if max_bytes else {})
        )
    assert caught.value.code == code
    assert list(temp_dir.iterdir()) == []


def test_the_byte_cap_refuses_a_body_without_content_length_before_it_is_all_read(temp_dir):
    """A chunked body with no Content-Length: the cap stops the stream itself."""
    from tests.providers.test_download import RawServer

    def endless(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = PNG[:1024]
        for _ in range(10_000):
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    server = RawServer(endless)
    server.thread.start()
    try:
        with pytest.raises(ProviderError) as caught:
            download.fetch_to_file(f"{server.url}/x.png", allow_private=True, max_bytes=64 * 1024)
    finally:
        server.stop.set()
        server.sock.close()
    assert caught.value.code == ErrorCode.TOO_LARGE
    assert list(temp_dir.iterdir()) == []


@pytest.mark.django_db
def test_storing_a_result_copies_it_from_the_temporary_file_and_deletes_the_file(
    files, temp_dir, settings, alice, acme_project
):
    settings.ALLOW_PRIVATE_URLS = True
    job = job_waiting_for_its_store(alice, acme_project, files.add("out.png", PNG, "image/png"))

    services.job_store_outputs(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.hold.status == HoldStatus.SETTLED
    [output] = job.assets.filter(role=AssetRole.OUTPUT)
    with default_storage.open(output.file.name) as handle:
        assert handle.read() == PNG
    assert output.sha256 == hashlib.sha256(PNG).hexdigest() and output.size_bytes == len(PNG)
    assert (output.width, output.height) == (128, 128) and output.thumbnail.name.endswith("-thumb.webp")
    assert list(temp_dir.iterdir()) == []


@pytest.mark.django_db
def test_a_failure_while_storing_the_result_still_deletes_the_temporary_file(
    files, temp_dir, settings, alice, acme_project, monkeypatch
):
    settings.ALLOW_PRIVATE_URLS = True
    job = job_waiting_for_its_store(alice, acme_project, files.add("out.png", PNG, "image/png"))

    def full_disk(**kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(services, "asset_save_output_file", full_disk)
    with pytest.raises(OSError, match="No space left"):
        services.job_store_outputs(job_id=job.pk)

    assert list(temp_dir.iterdir()) == []
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING  # the task's retry (or the reconciler) tries again


@pytest.mark.django_db
def test_a_refused_result_fails_the_job_and_leaves_no_temporary_file(
    files, temp_dir, settings, alice, acme_project
):
    settings.ALLOW_PRIVATE_URLS = True
    job = job_waiting_for_its_store(alice, acme_project, files.add("out.png", b"<html>" * 100, "image/png"))

    services.job_store_outputs(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == ErrorCode.RESULT_INVALID
    assert list(temp_dir.iterdir()) == []


def test_a_video_poster_is_made_from_the_file_in_place():
    from providers import simulator

    data = simulator.render_video({"seed": 1, "prompt": "x", "duration": 1}, 64, 48)
    with tempfile.TemporaryFile() as handle:
        handle.write(data)
        poster, duration, width, height = assets.media.video_poster(handle)
    assert (width, height) == (64, 48) and duration > 0 and poster.startswith(b"\x89PNG")
