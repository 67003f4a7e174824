"""Lumenfall on the wire after the catalog has cleaned the request, as the app sends it (issue 13).

The official OpenAI SDK sends only what the caller gives; these bodies must match that: an exact
`size` as given, no `aspect_ratio` / `resolution` the user never chose, `n` kept for emulation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import pytest

from providers import catalog
from providers.base import ErrorCode, GenerationRequest, MediaInput, Mode, ProviderError
from providers.lumenfall import LumenfallClient, _secret_key
from tests.providers.conftest import load_fixture

BASE = "https://api.lumenfall.ai"
IMAGES_URL = f"{BASE}/openai/v1/images/generations"
EDITS_URL = f"{BASE}/openai/v1/images/edits"
PNG = base64.b64decode(load_fixture("lumenfall", "images_b64.json")["data"][0]["b64_json"])
RAW_KEY = b"0123456789abcdef0123456789abcde"  # 31 bytes: its base64 has one `=` of padding


def _client(environ: dict | None = None) -> LumenfallClient:
    return LumenfallClient(api_key="lmnfl_test", base_url=BASE, environ=environ or {})


def _cleaned(mode: Mode, params: dict, inputs: list | None = None) -> GenerationRequest:
    return catalog.validate_request(
        GenerationRequest(
            provider="lumenfall",
            model="wan-2.6",
            mode=mode,
            prompt="a lighthouse",
            params=params,
            inputs=inputs or [],
        )
    )


def _images_ok(respx_mock, url: str):
    return respx_mock.post(url).mock(
        return_value=httpx.Response(200, json=load_fixture("lumenfall", "images_url.json"))
    )


@pytest.mark.parametrize("size", ["1024x1024", "1280x720"])
def test_an_exact_size_is_sent_as_size_and_nothing_else_about_shape(respx_mock, size):
    route = _images_ok(respx_mock, IMAGES_URL)
    _client().submit(_cleaned(Mode.T2I, {"size": size}))
    body = json.loads(route.calls.last.request.content)
    assert body["size"] == size
    assert "aspect_ratio" not in body and "resolution" not in body


def test_text_to_image_without_a_choice_sends_no_unchosen_shape(respx_mock):
    route = _images_ok(respx_mock, IMAGES_URL)
    _client().submit(_cleaned(Mode.T2I, {}))
    body = json.loads(route.calls.last.request.content)
    assert not {"size", "aspect_ratio", "resolution"} & set(body)
    assert body["n"] == 1  # `n` is still sent: Lumenfall emulates it with parallel calls


def test_chosen_ratio_and_tier_are_sent_as_chosen(respx_mock):
    route = _images_ok(respx_mock, IMAGES_URL)
    _client().submit(_cleaned(Mode.T2I, {"aspect_ratio": "16:9", "resolution": "2K", "num_outputs": 3}))
    body = json.loads(route.calls.last.request.content)
    assert (body["aspect_ratio"], body["resolution"], body["n"]) == ("16:9", "2K", 3)
    assert "size" not in body


def test_a_ratio_written_as_size_becomes_the_aspect_ratio(respx_mock):
    route = _images_ok(respx_mock, IMAGES_URL)
    _client().submit(_cleaned(Mode.T2I, {"size": "9:16"}))
    body = json.loads(route.calls.last.request.content)
    assert body["aspect_ratio"] == "9:16" and "size" not in body


def test_an_edit_keeps_the_inputs_shape_no_square_default(respx_mock):
    route = _images_ok(respx_mock, EDITS_URL)
    photo = MediaInput(slot="image", content_type="image/png", data=PNG, filename="a.png")
    _client().submit(_cleaned(Mode.EDIT, {}, [photo]))
    sent = route.calls.last.request.content
    assert b'name="aspect_ratio"' not in sent and b'name="resolution"' not in sent
    assert b'name="size"' not in sent and b'name="n"' in sent


def _sign(key: bytes, body: bytes, msg_id: str = "msg_1", stamp: int = 1_702_345_800) -> dict:
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def test_an_unpadded_whsec_secret_verifies_like_the_reference_library():
    padded = base64.b64encode(RAW_KEY).decode()
    assert padded.endswith("=")
    unpadded = "whsec_" + padded.rstrip("=")
    assert _secret_key(unpadded) == RAW_KEY == _secret_key("whsec_" + padded)
    body = json.dumps(load_fixture("lumenfall", "webhook_completed.json")).encode()
    video_id, update = _client({"LUMENFALL_WEBHOOK_SECRET": unpadded}).parse_webhook(
        headers=_sign(RAW_KEY, body), body=body, now=1_702_345_800
    )
    assert video_id and update.status == "succeeded"


@pytest.mark.parametrize("secret", ["whsec_***", "whsec_", "whsec_a"])
def test_an_undecodable_secret_is_a_permanent_configuration_error(secret):
    with pytest.raises(ProviderError) as exc:
        _secret_key(secret)
    assert exc.value.code == ErrorCode.NOT_CONFIGURED
    assert exc.value.permanent
