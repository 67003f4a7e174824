"""Stored and served types come only from an allow-list sniffed from the bytes (shared/RELIABILITY.md §9).

A vendor's declared type is never trusted: a signed fal webhook carrying a `text/html` data URI
fails the job as `result_invalid` and nothing is stored; every file response is inline only for
media, with a safe filename, nosniff and a sandboxing CSP.
"""

from __future__ import annotations

import base64
import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from generations import sharing
from generations.assets import asset_save_output
from generations.models import Asset, AssetRole, Job, JobStatus
from providers.base import ErrorCode, GenerationRequest, Mode, ProviderError
from tests.factories import JobFactory, make_output
from wanweb.accounts.models import Membership

HTML = b"<!doctype html><html><body><script>fetch('/team/members/')</script></body></html>"


@pytest.fixture
def fake(fake_fal_server):
    return fake_fal_server


def test_a_signed_fal_webhook_with_an_html_data_uri_fails_the_job_and_stores_nothing(
    client, fake, acme_project, alice
):
    submission = fake.client().submit(
        GenerationRequest(provider="fal", model="wan/v2.6/text-to-image", mode=Mode.T2I, prompt="x")
    )
    job = Job.objects.create(
        team=acme_project.team,
        project=acme_project,
        created_by=alice,
        provider="fal",
        model="wan/v2.6/text-to-image",
        mode="t2i",
        status=JobStatus.RUNNING,
        vendor_job_id=submission.vendor_job_id,
        vendor_state=submission.state,
    )
    uri = "data:image/png;base64," + base64.b64encode(HTML).decode()  # it even claims to be a PNG
    headers, body = fake.signed_webhook(
        submission.vendor_job_id, payload={"images": [{"url": uri, "content_type": "text/html"}]}
    )

    response = client.post(
        reverse("generations:webhook", args=["fal"]),
        data=body,
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 200
    job.refresh_from_db()
    assert (job.status, job.error_code) == (JobStatus.FAILED, ErrorCode.RESULT_INVALID)
    assert not Asset.objects.filter(job=job).exists()
    assert not default_storage.exists(f"jobs/{job.public_id}")


@pytest.mark.parametrize(
    "data",
    [
        HTML,
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"%PDF-1.7\n" + b"x" * 80,
    ],
)
def test_saving_an_output_of_a_type_outside_the_allow_list_raises_and_writes_nothing(acme_project, data):
    job = JobFactory(project=acme_project, status="running")
    with pytest.raises(ProviderError) as excinfo:
        asset_save_output(job=job, index=0, data=data, content_type="image/png")
    assert excinfo.value.code == ErrorCode.RESULT_INVALID and excinfo.value.permanent
    assert not Asset.objects.filter(job=job).exists()
    assert not default_storage.exists(f"jobs/{job.public_id}/output-0.bin")


def test_a_png_a_vendor_calls_text_html_is_stored_as_a_png(acme_project):
    from tests.factories import make_png

    asset = asset_save_output(
        job=JobFactory(project=acme_project, status="running"),
        index=0,
        data=make_png(),
        content_type="text/html",
    )
    assert asset.content_type == "image/png" and asset.file.name.endswith(".png")


def _assert_sandboxed(response, *, disposition: str, filename: str):
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
    assert response["Content-Disposition"] == f'{disposition}; filename="{filename}"'


def test_a_members_file_is_inline_media_with_a_sandboxing_csp(client, bob, acme_project):
    asset = make_output(JobFactory(project=acme_project))
    client.force_login(bob)
    url = reverse("generations:asset-file", args=[asset.public_id])

    response = client.get(url)
    assert response["Content-Type"] == "image/png"
    _assert_sandboxed(response, disposition="inline", filename=f"output-{asset.index}.png")

    download = client.get(url + "?download=1")
    _assert_sandboxed(
        download, disposition="attachment", filename=f"wanweb-{asset.job.public_id}-{asset.index}.png"
    )
    thumb = client.get(reverse("generations:asset-thumb", args=[asset.public_id]))
    assert thumb["Content-Type"] == "image/webp"
    _assert_sandboxed(thumb, disposition="inline", filename=f"output-{asset.index}-thumb.webp")


def test_a_share_link_file_is_sandboxed_too(client, alice, acme_project):
    asset = make_output(JobFactory(project=acme_project))
    membership = Membership.objects.get(user=alice, team=acme_project.team)
    _, token = sharing.share_link_create(actor=membership, project=acme_project)

    response = client.get(reverse("share:file", args=[token, asset.public_id]))

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    _assert_sandboxed(response, disposition="inline", filename=f"output-{asset.index}.png")


def test_a_row_stored_before_the_allow_list_is_never_served_inline(client, bob, acme_project):
    """An HTML file that got in before the allow-list (or by hand) goes out as an attachment."""
    job = JobFactory(project=acme_project)
    name = default_storage.save(f"jobs/{job.public_id}/output-0.html", ContentFile(HTML))
    asset = Asset.objects.create(
        job=job,
        role=AssetRole.OUTPUT,
        index=0,
        kind="image",
        file=name,
        content_type="text/html",
        size_bytes=len(HTML),
        sha256="0" * 64,
    )
    client.force_login(bob)

    response = client.get(reverse("generations:asset-file", args=[asset.public_id]))

    assert response["Content-Type"] == "application/octet-stream"
    _assert_sandboxed(response, disposition="attachment", filename="output-0.html")


def test_hostile_filenames_are_made_safe():
    from generations.files import safe_filename

    assert safe_filename('../../etc/pass"wd\r\nX-Evil: 1.png') == "pass_wd_X-Evil_1.png"
    assert safe_filename("") == "file"
    assert len(safe_filename("a" * 500 + ".png")) <= 100


def test_random_bytes_are_not_stored_as_an_output(acme_project):
    with pytest.raises(ProviderError):
        asset_save_output(
            job=JobFactory(project=acme_project, status="running"), index=0, data=os.urandom(4096)
        )
