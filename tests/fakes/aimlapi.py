"""A fake AI/ML API on loopback, following shared/providers/aimlapi.md (test code).

    with FakeAimlapi() as fake:
        client = AimlapiClient(api_key=fake.api_key, base_url=fake.url)

Video generations are `queued` at create and for `queued_polls` polls, `generating` for one
poll, then `completed` with a URL on this server serving a real tiny MP4 (or `error` when told
to fail). Images answer synchronously with a URL serving a real tiny PNG.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from tests.fakes.dashscope import tiny_mp4, tiny_png
from tests.fakes.server import FakeRequest, FakeServer

VIDEO_PATH = "/v2/video/generations"
IMAGE_PATH = "/v1/images/generations"
VIDEO_FIELDS = {
    "model",
    "prompt",
    "image_url",
    "video_urls",
    "audio_url",
    "aspect_ratio",
    "resolution",
    "duration",
    "negative_prompt",
    "shot_type",
    "generate_audio",
    "seed",
    "enhance_prompt",
}


class FakeAimlapi:
    def __init__(self, *, api_key: str = "aiml-fake", queued_polls: int = 1, fail: bool = False) -> None:
        self.api_key = api_key
        self.echo_auth: int | None = None  # see _auth
        self.queued_polls = queued_polls
        self.fail = fail
        self.server = FakeServer()
        self.generations: dict[str, dict[str, Any]] = {}
        self.files = {"png": tiny_png(), "mp4": tiny_mp4()}

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> FakeAimlapi:
        self.server.__enter__()
        self.server.route("POST", VIDEO_PATH, self._create)
        self.server.route("GET", VIDEO_PATH, self._poll)
        self.server.route("POST", IMAGE_PATH, self._image)
        self.server.route("GET", r"/results/(?P<name>[\w-]+)\.(?P<ext>png|mp4)", self._result)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def _create(self, request: FakeRequest) -> tuple:
        refused = self._auth(request, VIDEO_PATH)
        if refused:
            return refused
        body = request.json()
        problem = _video_problem(body)
        if problem:
            return _error(400, f"Body validation error! {problem}", VIDEO_PATH)
        generation_id = secrets.token_urlsafe(15)
        self.generations[generation_id] = {"body": body, "status": "queued", "polls": 0}
        return 200, {"id": generation_id, "status": "queued", "meta": {"usage": {"credits_used": 1575000}}}

    def _poll(self, request: FakeRequest) -> tuple:
        refused = self._auth(request, VIDEO_PATH)
        if refused:
            return refused
        generation_id = (request.query.get("generation_id") or [""])[0]
        generation = self.generations.get(generation_id)
        if generation is None:
            return _error(404, "Generation not found", VIDEO_PATH)
        generation["polls"] += 1
        if generation["status"] == "queued" and generation["polls"] > self.queued_polls:
            generation["status"] = "generating"
        elif generation["status"] == "generating":
            generation["status"] = "error" if self.fail else "completed"
        answer: dict[str, Any] = {"id": generation_id, "status": generation["status"]}
        if generation["status"] == "completed":
            answer["video"] = {"url": f"{self.url}/results/{generation_id}.mp4?Expires=4102444800"}
        elif generation["status"] == "error":
            answer["error"] = {"name": "GenerationError", "message": "The fake was told to fail."}
        return 200, answer

    def _image(self, request: FakeRequest) -> tuple:
        refused = self._auth(request, IMAGE_PATH)
        if refused:
            return refused
        body = request.json()
        if not isinstance(body.get("prompt"), str) or not body.get("model"):
            return _error(400, "Body validation error! prompt is required", IMAGE_PATH)
        urls = body.get("image_urls", [])
        if not isinstance(urls, list) or len(urls) > 3:
            return _error(400, "Body validation error! image_urls takes 1-3 images", IMAGE_PATH)
        name = secrets.token_hex(8)
        return 200, {
            "created": 1775594707122,
            "data": [{"url": f"{self.url}/results/{name}.png?Expires=4102444800", "b64_json": None}],
            "meta": {"usage": {"credits_used": 120000}},
        }

    def _result(self, request: FakeRequest) -> tuple:
        ext = request.match["ext"]
        return 200, self.files[ext], {"Content-Type": "video/mp4" if ext == "mp4" else "image/png"}

    def _auth(self, request: FakeRequest, path: str) -> tuple | None:
        # Like some real APIs, the refused credential is quoted back in the body; `echo_auth`
        # (403 or 422) answers every authenticated call that way, right key or not.
        sent = request.headers.get("authorization", "")
        if self.echo_auth:
            return _error(self.echo_auth, f"Request refused for Authorization: {sent}", path)
        if sent != f"Bearer {self.api_key}":
            return _error(401, f"This request requires a valid API key, not {sent}.", path)
        return None


def _error(status: int, message: str, path: str) -> tuple:
    """§7's error body."""
    return status, {
        "message": message,
        "path": path,
        "requestId": secrets.token_hex(16),
        "statusCode": status,
        "timestamp": datetime.now(tz=UTC).isoformat(),
    }


def _video_problem(body: dict[str, Any]) -> str | None:
    unknown = set(body) - VIDEO_FIELDS
    if unknown:
        return f"unknown fields {sorted(unknown)}"
    if not isinstance(body.get("prompt"), str):
        return "prompt is required"
    model = body.get("model", "")
    if ("i2v" in model or "image-to-video" in model) and not body.get("image_url"):
        return "image_url is required"
    if "r2v" in model and not (
        isinstance(body.get("video_urls"), list) and 1 <= len(body["video_urls"]) <= 3
    ):
        return "video_urls takes 1-3 URLs"
    if "duration" in body and body["duration"] not in (5, 10, 15):
        return f"Invalid enum value. Expected 5 | 10 | 15, received '{body['duration']}'"
    if "resolution" in body and body["resolution"] not in ("720p", "1080p"):
        return f"Invalid enum value. Expected '720p' | '1080p', received '{body['resolution']}'"
    return None
