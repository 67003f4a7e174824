"""The typed parameter readers, and the two URLs issue 10 found answering 500."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from wanweb import params


@pytest.mark.parametrize("value", ["not-a-uuid", "", "\x00", "9" * 100, "{}"])
def test_get_uuid_reads_nothing_from_garbage(value):
    assert params.get_uuid({"x": value}, "x") is None


def test_get_uuid_reads_a_uuid():
    value = uuid.uuid4()
    assert params.get_uuid({"x": f" {value} "}, "x") == value


@pytest.mark.parametrize("value", ["garbage", "2024-13-45T25:61:00", "2024-02-30T10:00:00", "\x00"])
def test_get_datetime_reads_nothing_from_garbage(value):
    assert params.get_datetime({"x": value}, "x") is None


def test_get_datetime_makes_naive_times_utc():
    parsed = params.get_datetime({"x": "2024-05-01T10:00:00"}, "x")
    assert parsed is not None and parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "value", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", "/ok\x00", "/" + "a" * 3000]
)
def test_safe_next_refuses_anything_but_a_same_site_path(value):
    assert params.safe_next(value, host="testserver", fallback="/home/") == "/home/"
    assert params.safe_next("/gallery/?q=1", host="testserver", fallback="/") == "/gallery/?q=1"


def test_a_gallery_page_with_a_cursor_that_is_not_a_job_id_is_a_400(client, alice, acme_project):
    client.force_login(alice)
    url = reverse("generations:gallery-page", args=[acme_project.public_id])
    assert client.get(url, {"before": "not-a-uuid"}).status_code == 400
    assert client.get(url, {"before": str(uuid.uuid4())}).status_code == 200


@pytest.mark.parametrize("since", ["garbage", "2024-13-45T25:61:00"])
def test_gallery_changes_with_an_unreadable_since_answers_as_if_asked_now(client, alice, acme_project, since):
    client.force_login(alice)
    url = reverse("generations:gallery-changes", args=[acme_project.public_id])
    assert client.get(url, {"since": since}).status_code in (200, 204)
