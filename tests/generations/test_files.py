"""Files are handed out after an access check: streamed from local storage, or as a short-lived
signed URL when the storage is remote (S3)."""

from __future__ import annotations

from django.core.files.storage import FileSystemStorage
from django.urls import reverse

from generations.models import Asset
from tests.factories import JobFactory, make_output


class SignedUrlStorage(FileSystemStorage):
    """Behaves like S3Storage for the view: no local paths, URLs that carry a signature."""

    def path(self, name):
        raise NotImplementedError("remote storage")

    def url(self, name, parameters=None, expire=None):
        disposition = (parameters or {}).get("ResponseContentDisposition", "")
        return (
            f"https://bucket.example/{name}?X-Amz-Expires=300&X-Amz-Signature=abc&disposition={disposition}"
        )


def test_a_remote_file_is_a_redirect_to_a_signed_url_after_the_access_check(
    client, bob, charlie, acme_project
):
    job = JobFactory(project=acme_project)
    asset = make_output(job)
    url = reverse("generations:asset-file", args=[asset.public_id])
    remote = SignedUrlStorage()

    original = Asset.file.field.storage
    Asset.file.field.storage = remote
    try:
        client.force_login(charlie)
        assert client.get(url).status_code == 404  # no signed URL for outsiders
        client.force_login(bob)
        response = client.get(url + "?download=1")
    finally:
        Asset.file.field.storage = original
    assert response.status_code == 302
    assert response["Location"].startswith(f"https://bucket.example/{asset.file.name}?X-Amz-Expires=300")
    assert "attachment" in response["Location"]
    assert response["Cache-Control"] == "private, no-store"


def test_a_local_file_streams_with_nosniff(client, bob, acme_project):
    asset = make_output(JobFactory(project=acme_project))
    client.force_login(bob)
    response = client.get(reverse("generations:asset-file", args=[asset.public_id]) + "?download=1")
    assert response.status_code == 200 and response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith('attachment; filename="wanweb-')


def test_a_signed_input_url_serves_that_input_and_nothing_else(client, acme_project, monkeypatch):
    from generations import files
    from generations.assets import UploadedInput, asset_save_input
    from providers import media
    from tests.factories import make_png

    job = JobFactory(project=acme_project, status="running")
    data = make_png(200, 100)
    source = asset_save_input(
        job=job, upload=UploadedInput("image", data, "a.png", media.probe(data)), index=0
    )
    output = make_output(job)
    url = files.input_url(source, base_url="https://studio.example")
    assert url.startswith("https://studio.example/inputs/")
    path = url.removeprefix("https://studio.example")

    answer = client.get(path)  # no login: the signature is the access check
    assert answer.status_code == 200 and answer["Referrer-Policy"] == "no-referrer"
    assert b"".join(answer.streaming_content).startswith(b"\x89PNG")

    token = path.split("/")[2]
    assert client.get(path.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))).status_code == 404
    # A validly signed id of an output is not an input: 404.
    assert (
        client.get(reverse("generations:input-file", args=[files.input_url_token(output)])).status_code == 404
    )
    monkeypatch.setattr(files, "INPUT_URL_MAX_AGE", -1)  # expired
    assert client.get(path).status_code == 404
