"""A fake APIMart on loopback, following shared/providers/apimart.md (test code, not product code).

    with FakeServer() as server:
        fake = FakeApimart(server)
        client = ApimartClient(api_key=fake.api_key, base_url=server.url, environ={})

Tasks answer `pending` on the first poll, `processing` (with progress) on the next ones and
`completed` after `polls_to_finish` polls, with `result.videos[].url[]` pointing back at this server,
which serves a real tiny MP4. `fail_next` queues canned answers (e.g. a 429 or an HTML page) that
are returned, one per request, before the normal behaviour.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.media_files import tiny_mp4
from tests.fakes.server import FakeRequest, FakeServer

MODELS = {"wan2.6", "wan2.6-i2v-flash", "wan2.5-preview"}


@dataclass
class FakeTask:
    task_id: str
    body: dict[str, Any]
    polls: int = 0


@dataclass
class FakeApimart:
    server: FakeServer
    api_key: str = "sk-fake-apimart"
    polls_to_finish: int = 3
    outcome: str = "completed"  # or "failed" / "cancelled"
    tasks: dict[str, FakeTask] = field(default_factory=dict)
    fail_next: list[tuple] = field(default_factory=list)
    echo_auth: int | None = None  # see _guard
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.server.route("POST", "/v1/videos/generations", self._guard(self._create))
        self.server.route("GET", "/v1/tasks/(?P<task_id>[^/]+)", self._guard(self._query))
        # apimart.md §2 [sk]: the model list, what a key check calls.
        self.server.route(
            "GET", "/v1/models", self._guard(lambda request: (200, {"data": [{"id": "wan2.6"}]}))
        )
        self.server.route("GET", "/files/(?P<name>[^/]+)", self._file)

    def _guard(self, handler):
        def guarded(request: FakeRequest) -> tuple:
            if self.fail_next:
                return self.fail_next.pop(0)
            # Like some real APIs, the refused credential is quoted back in the body; `echo_auth`
            # (403 or 422) answers every authenticated call that way, right key or not.
            sent = request.headers.get("authorization", "")
            if self.echo_auth or sent != f"Bearer {self.api_key}":
                status = self.echo_auth or 401
                message = f"Invalid API key: Authorization: {sent}"
                return status, {"error": {"code": status, "message": message, "type": "authentication_error"}}
            return handler(request)

        return guarded

    def _create(self, request: FakeRequest) -> tuple:
        """apimart.md §4: `model` required; I2V by `image_urls` (exactly one); flash needs the image."""
        try:
            body = request.json()
        except ValueError:
            return 400, {
                "error": {"code": 400, "message": "Invalid request format", "type": "invalid_request_error"}
            }
        problem = _problem(body)
        if problem:
            return 400, {"error": {"code": 400, "message": problem, "type": "invalid_request_error"}}
        task_id = f"task_{next(self._ids):026d}"
        self.tasks[task_id] = FakeTask(task_id, body)
        return 200, {"code": 200, "data": [{"status": "submitted", "task_id": task_id}]}

    def _query(self, request: FakeRequest) -> tuple:
        task = self.tasks.get(request.match["task_id"])
        if task is None:
            return 404, {"error": {"code": 404, "message": "Task not found", "type": "not_found_error"}}
        task.polls += 1
        data: dict[str, Any] = {"id": task.task_id, "created": int(time.time()), "estimated_time": 60}
        if task.polls == 1:
            data.update(status="pending", progress=0)
        elif task.polls < self.polls_to_finish:
            data.update(status="processing", progress=min(99, 100 * task.polls // self.polls_to_finish))
        elif self.outcome == "failed":
            data.update(
                status="failed", progress=0, error={"code": 400, "message": "generation failed", "type": "x"}
            )
        elif self.outcome == "cancelled":
            data.update(status="cancelled", progress=0)
        else:
            completed = int(time.time())
            url = f"{self.server.url}/files/{task.task_id}.mp4"
            data.update(
                status="completed",
                progress=100,
                completed=completed,
                actual_time=1,
                result={"videos": [{"url": [url], "expires_at": completed + 86400}]},
            )
        return 200, {"code": 200, "data": data}

    def _file(self, request: FakeRequest) -> tuple:
        return 200, tiny_mp4(), {"Content-Type": "video/mp4"}


def _problem(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("model") not in MODELS:
        return "unknown or missing model"
    images = body.get("image_urls")
    if images is not None and (
        not isinstance(images, list) or len(images) != 1 or not isinstance(images[0], str)
    ):
        return "image_urls must hold exactly one image"
    if body["model"] == "wan2.6-i2v-flash" and images is None:
        return "image_urls is required"
    if images is None and not body.get("prompt"):
        return "prompt is required for text-to-video"
    if "duration" in body and not isinstance(body["duration"], int):
        return "duration must be an integer"
    return None
