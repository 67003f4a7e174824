"""Files in S3 (S3_BUCKET, django-storages' S3Storage) against moto's in-process S3 API.

The same storage settings wanweb/settings.py builds for S3_BUCKET: outputs are written under
their deterministic names (a second store overwrites, no renamed orphan), served as a redirect to
a short-lived signed URL carrying the sniffed type and disposition, and zipped by streaming each
object out of the bucket. tests/test_scaleout.py does the same through gunicorn and moto_server.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

pytest.importorskip("storages.backends.s3")
moto = pytest.importorskip("moto")

from generations import gallery  # noqa: E402
from generations.assets import asset_save_output  # noqa: E402
from tests.factories import JobFactory, make_png  # noqa: E402

BUCKET = "wanweb-test-bucket"


@pytest.fixture
def s3(settings, monkeypatch):
    """The S3 storage of settings.py's S3_BUCKET branch, on moto's in-process S3; yields the boto3 client."""
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": BUCKET,
                    "region_name": "us-east-1",
                    "querystring_auth": True,
                    "querystring_expire": 300,
                    "file_overwrite": True,
                    "default_acl": None,
                },
            },
        }
        yield client


def _objects(client) -> dict[str, bytes]:
    listing = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listing}


def test_an_output_stored_twice_is_one_object_and_its_thumbnail_in_the_bucket(s3, acme_project):
    job = JobFactory(project=acme_project)
    first = asset_save_output(job=job, index=0, data=make_png(), content_type="image/png")
    data = make_png(color=(10, 200, 30))
    again = asset_save_output(job=job, index=0, data=data, content_type="image/png")  # a redelivered store

    objects = _objects(s3)
    assert sorted(objects) == [
        f"jobs/{job.public_id}/output-0-thumb.webp",
        f"jobs/{job.public_id}/output-0.png",
    ]
    assert again.pk == first.pk and again.file.name == f"jobs/{job.public_id}/output-0.png"
    assert hashlib.sha256(objects[again.file.name]).hexdigest() == again.sha256
    assert objects[again.thumbnail.name][:4] == b"RIFF"  # WebP


def test_an_s3_file_is_a_redirect_to_a_signed_url_with_the_sniffed_type_after_the_access_check(
    s3, client, bob, charlie, acme_project
):
    asset = asset_save_output(job=JobFactory(project=acme_project), index=0, data=make_png())
    url = reverse("generations:asset-file", args=[asset.public_id])
    client.force_login(charlie)
    assert client.get(url).status_code == 404  # an outsider gets no signed URL

    client.force_login(bob)
    response = client.get(url + "?download=1")
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    location = urlsplit(response["Location"])
    query = parse_qs(location.query)
    assert location.path.endswith(asset.file.name)
    # Signed (SigV2 or SigV4 query parameters, whichever boto3 picks) and short-lived.
    assert query.get("Signature") or query.get("X-Amz-Signature")
    assert query.get("X-Amz-Expires") == ["300"] or int(query["Expires"][0]) - time.time() <= 300
    assert query["response-content-type"] == ["image/png"]
    assert query["response-content-disposition"][0].startswith('attachment; filename="')


def test_the_zip_streams_every_output_out_of_the_bucket_with_a_manifest(s3, acme_project):
    from generations.models import Asset

    jobs = [JobFactory(project=acme_project) for _ in range(3)]
    for job in jobs:
        asset_save_output(job=job, index=0, data=make_png())
    assets = list(Asset.objects.filter(role="output").select_related("job", "job__project"))

    chunks = list(gallery.zip_stream(assets, chunk_size=1024))
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        stored = {n: archive.read(n) for n in archive.namelist() if n != "manifest.json"}
    assert manifest["count"] == 3 and manifest["missing"] == []
    assert sorted(hashlib.sha256(b).hexdigest() for b in stored.values()) == sorted(a.sha256 for a in assets)
