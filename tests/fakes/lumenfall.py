"""A fake Lumenfall on loopback, following shared/providers/lumenfall.md (test code, not product code).

    with FakeServer() as server:
        fake = FakeLumenfall(server)
        client = LumenfallClient(api_key=fake.api_key, base_url=server.url,
                                 environ={"LUMENFALL_WEBHOOK_SECRET": fake.secret})

Images answer synchronously (URL or `b64_json` of a real PNG); videos answer 202 and then go
`queued` -> `in_progress` -> `completed` over polls, with `output.url` pointing back at this server,
which serves a real tiny MP4. `signed_event()` builds a Standard Webhooks delivery the way Lumenfall
signs one (§5), for testing webhook handlers without a public URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from tests.fakes.media_files import tiny_mp4, tiny_png
from tests.fakes.server import FakeRequest, FakeServer

MODEL = "wan-2.6"


@dataclass
class FakeVideo:
    video_id: str
    body: dict[str, Any]
    polls: int = 0


@dataclass
class FakeLumenfall:
    server: FakeServer
    api_key: str = "lmnfl_fake"
    secret: str = "whsec_" + base64.b64encode(b"fake-lumenfall-signing-key-32byt").decode()
    polls_to_finish: int = 3
    outcome: str = "completed"  # or "failed"
    videos: dict[str, FakeVideo] = field(default_factory=dict)
    edits: list[list[tuple[str, str | None, str | None, bytes]]] = field(default_factory=list)
    fail_next: list[tuple] = field(default_factory=list)
    echo_auth: int | None = None  # see _guard
    other_keys: set[str] = field(default_factory=set)  # more accounts this fake serves (teams' keys)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.server.route("POST", "/openai/v1/images/generations", self._guard(self._generate))
        self.server.route("POST", "/openai/v1/images/edits", self._guard(self._edit))
        self.server.route("POST", "/openai/v1/videos", self._guard(self._create_video))
        self.server.route("GET", "/openai/v1/videos/(?P<video_id>[^/]+)", self._guard(self._get_video))
        self.server.route(
            "GET", "/v1/webhooks/secret", self._guard(lambda request: (200, {"key": self.secret}))
        )
        self.server.route("GET", "/media/(?P<name>[^/]+)", self._media)

    # -- webhooks ----------------------------------------------------------------------------------

    def signed_event(
        self, video_id: str, event: str = "video.completed", *, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """(headers, body) of a delivery signed like lumenfall.md §5 (`id.timestamp.body`, HMAC-SHA256)."""
        data: dict[str, Any] = {"object": "video.generation", "id": video_id, "model": MODEL}
        if event == "video.completed":
            data.update(status="completed", output={"url": f"{self.server.url}/media/{video_id}.mp4"})
        else:
            data.update(status=event.split(".", 1)[1])
        body = json.dumps({"type": event, "data": data}).encode()
        msg_id = f"msg_{video_id}"
        stamp = int(time.time()) if timestamp is None else timestamp
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
        }
        return headers, body

    # -- handlers ----------------------------------------------------------------------------------

    def _guard(self, handler):
        def guarded(request: FakeRequest) -> tuple:
            if self.fail_next:
                return self.fail_next.pop(0)
            # Like some real APIs, the refused credential is quoted back in the body; `echo_auth`
            # (403 or 422) answers every authenticated call that way, right key or not.
            sent = request.headers.get("authorization", "")
            if self.echo_auth or sent not in {f"Bearer {key}" for key in {self.api_key, *self.other_keys}}:
                message = f"Invalid API key (Authorization: {sent})"
                return self.echo_auth or 401, _error(message, "authentication_error", "AUTHENTICATION_FAILED")
            return handler(request)

        return guarded

    def _generate(self, request: FakeRequest) -> tuple:
        try:
            body = request.json()
        except ValueError:
            return 400, _error("Body is not JSON", "invalid_request_error", "INVALID_REQUEST")
        if body.get("model") != MODEL or not body.get("prompt"):
            return 400, _error("model and prompt are required", "invalid_request_error", "INVALID_REQUEST")
        return self._images(int(body.get("n", 1)), body.get("response_format", "url"), body["prompt"])

    def _edit(self, request: FakeRequest) -> tuple:
        """§3.2: multipart with `model`, `prompt` and one or more `image` file parts."""
        parts = _multipart(request)
        self.edits.append(parts)
        fields = {name: value.decode() for name, filename, _, value in parts if filename is None}
        images = [value for name, filename, _, value in parts if name == "image" and filename is not None]
        if fields.get("model") != MODEL or not fields.get("prompt") or not images:
            return 400, _error(
                "model, prompt and image are required", "invalid_request_error", "INVALID_REQUEST"
            )
        return self._images(int(fields.get("n", "1")), fields.get("response_format", "url"), fields["prompt"])

    def _images(self, count: int, response_format: str, prompt: str) -> tuple:
        data = []
        for _ in range(count):
            if response_format == "b64_json":
                data.append({"b64_json": base64.b64encode(tiny_png()).decode(), "revised_prompt": prompt})
            else:
                data.append(
                    {"url": f"{self.server.url}/media/img_{next(self._ids)}.png", "revised_prompt": prompt}
                )
        headers = {"X-Lumenfall-Request-Id": f"req_{next(self._ids)}", "X-Lumenfall-Model": MODEL}
        metadata = {"model": MODEL, "provider": "fal", "cost": 0.03 * count, "cost_currency": "USD"}
        return 200, {"created": int(time.time()), "data": data, "metadata": metadata}, headers

    def _create_video(self, request: FakeRequest) -> tuple:
        try:
            body = request.json()
        except ValueError:
            return 400, _error("Body is not JSON", "invalid_request_error", "INVALID_REQUEST")
        if body.get("model") != MODEL or not body.get("prompt"):
            return 400, _error("model and prompt are required", "invalid_request_error", "INVALID_REQUEST")
        webhook = body.get("webhook_url")
        if webhook is not None and not str(webhook).startswith("https://"):
            return 400, _error("webhook_url must use https", "invalid_request_error", "INVALID_REQUEST")
        video_id = f"video_{next(self._ids):06d}"
        self.videos[video_id] = FakeVideo(video_id, body)
        return 202, self._video_object(self.videos[video_id], "queued")

    def _get_video(self, request: FakeRequest) -> tuple:
        video = self.videos.get(request.match["video_id"])
        if video is None:
            return 404, _error("Video not found", "invalid_request_error", "NOT_FOUND")
        video.polls += 1
        if video.polls == 1:
            return 200, self._video_object(video, "queued")
        if video.polls < self.polls_to_finish:
            return 200, self._video_object(video, "in_progress")
        return 200, self._video_object(video, self.outcome)

    def _video_object(self, video: FakeVideo, status: str) -> dict[str, Any]:
        now = int(time.time())
        finished = status in ("completed", "failed")
        return {
            "id": video.video_id,
            "object": "video",
            "created_at": now,
            "completed_at": now if finished else None,
            "expires_at": now + 86400 if status == "completed" else None,
            "status": status,
            "model": MODEL,
            "prompt": video.body.get("prompt"),
            "seconds": str(video.body.get("seconds", 5)),
            "size": video.body.get("size", "1280x720"),
            "output": {"url": f"{self.server.url}/media/{video.video_id}.mp4"}
            if status == "completed"
            else None,
            "error": {"message": "generation failed", "type": "upstream_error", "code": "UPSTREAM_ERROR"}
            if status == "failed"
            else None,
            "metadata": {"model": MODEL, "provider": "fal", "cost_estimate": 0.21, "cost_currency": "USD"},
        }

    def _media(self, request: FakeRequest) -> tuple:
        name = request.match["name"]
        if name.endswith(".png"):
            return 200, tiny_png(), {"Content-Type": "image/png"}
        return 200, tiny_mp4(), {"Content-Type": "video/mp4"}


def _error(message: str, kind: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code}}


def _multipart(request: FakeRequest) -> list[tuple[str, str | None, str | None, bytes]]:
    """(field name, filename, content type, bytes) for each part of a multipart/form-data body."""
    raw = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode() + request.body
    message = BytesParser(policy=HTTP).parsebytes(raw)
    if not message.is_multipart():
        return []
    parts = []
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition")
        params = dict(disposition.params) if disposition else {}
        content_type = part.get_content_type() if part.get("Content-Type") else None
        parts.append(
            (params.get("name"), params.get("filename"), content_type, part.get_payload(decode=True) or b"")
        )
    return parts
