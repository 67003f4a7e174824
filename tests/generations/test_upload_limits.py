"""Upload limits are enforced while the body is parsed, before the files are read (RELIABILITY.md §5).

Too many files, too many bytes in all, or a Content-Length over the request cap: the form shows a
clear error on the file field, nothing is probed or stored, no job is created.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from generations.models import Job
from providers import media
from tests.factories import make_png

HX = {"HX-Request": "true"}
FIELDS = {"provider": "simulator", "mode": "i2v", "model": "wan-sim", "prompt": "animate it"}


@pytest.fixture
def no_probing(monkeypatch):
    """Fail loudly if any upload is read and probed."""

    def refuse(*args, **kwargs):
        raise AssertionError("an upload was probed")

    monkeypatch.setattr(media, "probe", refuse)


def _url(project) -> str:
    return reverse("generations:job-create", args=[project.public_id])


def _pngs(count: int, size: int = 64) -> list[SimpleUploadedFile]:
    return [
        SimpleUploadedFile(f"f{i}.png", make_png(size, size), content_type="image/png") for i in range(count)
    ]


def test_more_files_than_a_request_may_carry_is_a_field_error(
    client, bob, acme_project, settings, no_probing
):
    settings.UPLOAD_MAX_FILES = 5
    client.force_login(bob)

    response = client.post(_url(acme_project), {**FIELDS, "input_image": _pngs(8)}, headers=HX)

    assert response.status_code == 200
    assert b"Too many files: at most 5 can be sent at once." in response.content
    assert b"invalid-feedback" in response.content
    assert not Job.objects.exists()


def test_files_adding_up_past_the_total_cap_are_refused(client, bob, acme_project, settings, no_probing):
    settings.UPLOAD_MAX_TOTAL_BYTES = 100_000
    client.force_login(bob)
    big = SimpleUploadedFile("big.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 150_000, content_type="image/png")

    response = client.post(_url(acme_project), {**FIELDS, "input_image": big}, headers=HX)

    assert b"The files add up to more than" in response.content
    assert not Job.objects.exists()


def test_a_body_over_the_request_cap_is_refused_from_its_content_length_before_it_is_read(
    client, bob, acme_project, settings, no_probing
):
    settings.UPLOAD_MAX_REQUEST_BYTES = 1000
    client.force_login(bob)
    body = encode_multipart(BOUNDARY, {**FIELDS, "input_image": _pngs(1, 400)})
    assert len(body) > 1000

    class Unreadable:
        """The body as wsgi.input: reading any of it fails the test."""

        def read(self, *args):
            raise AssertionError("the body was read")

        readline = read

    response = client.generic(
        "POST",
        _url(acme_project),
        b"",
        headers=HX,
        CONTENT_TYPE=MULTIPART_CONTENT,  # generic() sets it only with a body, and this one has none
        CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": Unreadable()},
    )

    assert response.status_code == 200
    assert b"a request may carry at most" in response.content
    assert not Job.objects.exists()


def test_more_files_than_the_model_takes_is_refused_by_count_before_any_is_read(
    client, bob, acme_project, no_probing
):
    client.force_login(bob)

    response = client.post(_url(acme_project), {**FIELDS, "input_image": _pngs(3)}, headers=HX)

    assert b"this model takes at most 1 (got 3)" in response.content
    assert not Job.objects.exists()


def test_uploads_within_the_limits_still_work(client, bob, acme_project):
    from unittest import mock

    client.force_login(bob)
    with mock.patch("generations.services.job_submit_task.delay"):
        client.post(_url(acme_project), {**FIELDS, "input_image": _pngs(1)}, headers=HX)
    assert Job.objects.get().assets.count() == 1
