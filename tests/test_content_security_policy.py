"""The policy every page carries (django-csp); the browser tests prove the pages work under it."""

from __future__ import annotations

import importlib

import pytest

pytestmark = pytest.mark.django_db


def _directives(header: str) -> dict[str, list[str]]:
    parts = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in parts}


def test_pages_carry_a_strict_policy(client, alice):
    client.force_login(alice)
    for url in ("/login/", "/projects/", "/admin/login/"):
        policy = _directives(client.get(url).headers["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"], url
        assert policy["default-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["base-uri"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["form-action"] == ["'self'"]
        assert policy["img-src"] == ["'self'", "data:", "blob:"]
        assert not any("unsafe-eval" in v for values in policy.values() for v in values)


def test_with_s3_the_bucket_host_may_serve_images_and_media(monkeypatch):
    import wanweb.settings as settings_module

    monkeypatch.setenv("S3_BUCKET", "wan-outputs")
    monkeypatch.setenv("S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    try:
        fresh = importlib.reload(settings_module)
        directives = fresh.CONTENT_SECURITY_POLICY["DIRECTIVES"]
        assert "http://127.0.0.1:9000" in directives["img-src"]
        assert "http://wan-outputs.127.0.0.1:9000" in directives["media-src"]
        monkeypatch.delenv("S3_ENDPOINT_URL")
        monkeypatch.setenv("S3_REGION", "eu-west-1")
        directives = importlib.reload(settings_module).CONTENT_SECURITY_POLICY["DIRECTIVES"]
        assert "https://wan-outputs.s3.eu-west-1.amazonaws.com" in directives["img-src"]
        assert "https://wan-outputs.s3.amazonaws.com" in directives["media-src"]
    finally:
        monkeypatch.delenv("S3_BUCKET")
        monkeypatch.delenv("S3_REGION", raising=False)
        importlib.reload(settings_module)
