from __future__ import annotations

import logging

import pytest

from providers.redact import REDACTED, redact
from wanweb.redaction import RedactingFilter, known_secrets, register_secret_source, unregister_secret_source


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abc.def-ghi",
        "Authorization: Key 1a2b3c4d-aaaa-bbbb-cccc-123456789012:0123456789abcdef",
        "Incorrect API key provided: sk-proj-AbCd1234efgh",
        "secret whsec_ZmFrZS1sdW1lbmZhbGwtc2lnbmluZy1rZXk= is wrong",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
        "api_key=9f8e7d6c5b4a",
        "the value Zx8Qw2Lp9Rt4Yu7Io1Pa3Sd6Fg0Hj5Kk is not allowed",
        "hex key 0123456789abcdef0123456789abcdef0123 refused",
    ],
)
def test_it_replaces_credential_shaped_tokens(text):
    out = redact(text)
    assert REDACTED in out
    for word in (
        "abc.def",
        "1a2b3c4d-aaaa",
        "AbCd1234",
        "ZmFrZS1",
        "eyJhbGci",
        "9f8e7d6c",
        "Zx8Qw2",
        "0123456789abcdef0",
    ):
        assert word not in out


@pytest.mark.parametrize(
    "text",
    [
        "Invalid key: authentication failed",
        "fal: Request 7c1c2c7e-58f5-4d34-a2a7-4f4f1c1e1b6a failed",
        "model fal-ai/wan-25-preview/image-to-video is not available for text-to-video-generation",
        "DashScope HTTP 400 InvalidParameter: size must be 1280*720",
    ],
)
def test_it_keeps_ordinary_vendor_words(text):
    assert redact(text) == text


def test_a_known_secret_is_replaced_wherever_it_appears_even_when_not_token_shaped():
    out = redact("key canary-one was refused (canary-one)", ["canary-one"])
    assert out == f"key {REDACTED} was refused ({REDACTED})"


def test_the_start_of_a_known_secret_counts_too():
    # A vendor quoting a masked or truncated key, or our own cap cutting it.
    assert redact("refused: plainsecretvalue-xy…", ["plainsecretvalue-xyz-123"]) == f"refused: {REDACTED}"


def test_the_cap_applies_after_redaction_so_no_part_of_a_secret_survives_a_cut():
    secret = "longsecretvaluenumberone"
    out = redact("x" * 10 + secret, [secret], limit=15)
    assert len(out) == 15 and "longsec" not in out


def test_short_secrets_are_ignored_so_ordinary_words_stay():
    assert redact("the key is on", ["on"]) == "the key is on"


def test_the_app_knows_every_vendor_key_the_webhook_secret_and_registered_sources(monkeypatch):
    monkeypatch.setenv("FAL_KEY", "fal-value-1")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "dash-value-2")
    monkeypatch.setenv("LUMENFALL_WEBHOOK_SECRET", "hook-value-3")
    monkeypatch.setenv("DATABASE_URL", "postgres://app:db-password-4@db/app")

    def team_keys():
        return ["team-value-5"]

    register_secret_source(team_keys)
    try:
        found = known_secrets()
    finally:
        unregister_secret_source(team_keys)
    for value in ("fal-value-1", "dash-value-2", "hook-value-3", "db-password-4", "team-value-5"):
        assert value in found


def test_the_logging_filter_redacts_message_arguments_and_traceback(monkeypatch):
    monkeypatch.setenv("APIMART_API_KEY", "apimart-canary-value")
    try:
        raise ValueError("echoed apimart-canary-value")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "said %s", ("apimart-canary-value",), sys.exc_info()
        )
    assert RedactingFilter().filter(record) is True
    text = logging.Formatter().format(record)
    assert "apimart-canary-value" not in text
    assert "said [redacted]" in text and "ValueError: echoed [redacted]" in text


def test_known_secrets_follow_the_environment_as_it_changes(monkeypatch):
    # The variable names are matched once per set of names (a cache): values must still be current.
    monkeypatch.setenv("FAL_KEY", "fal-first-value")
    assert "fal-first-value" in known_secrets()
    monkeypatch.setenv("FAL_KEY", "fal-second-value")
    found = known_secrets()
    assert "fal-second-value" in found and "fal-first-value" not in found
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "token-added-later")
    assert "token-added-later" in known_secrets()
    monkeypatch.delenv("SOME_SERVICE_TOKEN")
    assert "token-added-later" not in known_secrets()
