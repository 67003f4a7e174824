"""A fake DashScope native API on loopback, following shared/providers/dashscope.md (test code).

    with FakeDashScope() as fake:
        client = DashScopeClient(api_key=fake.api_key, base_url=fake.url)

Async tasks start PENDING, stay PENDING for `pending_polls` polls, are RUNNING for one poll, then
SUCCEEDED with a result URL on this server serving a real tiny MP4 or PNG (or FAILED with
`fail_code`). Cancel works only while PENDING, as on DashScope. Also the media helpers
`tiny_png()` and `tiny_mp4()`, used by the other fakes too.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
from PIL import Image

from tests.fakes.server import FakeRequest, FakeServer

VIDEO_PATH = "/api/v1/services/aigc/video-generation/video-synthesis"
IMAGE_ASYNC_PATH = "/api/v1/services/aigc/image-generation/generation"
IMAGE_SYNC_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
SIZE = re.compile(r"^\d+\*\d+$")


def tiny_png(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A real PNG that Pillow can open."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def tiny_mp4(width: int = 64, height: int = 48, frames: int = 6, fps: int = 6) -> bytes:
    """A real H.264 MP4 (mpeg4 if no H.264 encoder) that PyAV can decode."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for index in range(frames):
            pixels = np.full((height, width, 3), (index * 40) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return out.getvalue()


@dataclass
class FakeTask:
    task_id: str
    kind: str  # "video" | "image"
    body: dict[str, Any]
    status: str = "PENDING"
    polls: int = 0


class FakeDashScope:
    def __init__(
        self, *, api_key: str = "sk-fake", pending_polls: int = 1, fail_code: str | None = None
    ) -> None:
        self.api_key = api_key
        self.echo_auth: int | None = None  # see _auth
        self.pending_polls = pending_polls
        self.fail_code = fail_code
        self.server = FakeServer()
        self.tasks: dict[str, FakeTask] = {}
        self.files = {"png": tiny_png(), "mp4": tiny_mp4()}

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> FakeDashScope:
        self.server.__enter__()
        self.server.route("POST", VIDEO_PATH, lambda r: self._create(r, "video"))
        self.server.route("POST", IMAGE_ASYNC_PATH, lambda r: self._create(r, "image"))
        self.server.route("POST", IMAGE_SYNC_PATH, self._sync_image)
        self.server.route("GET", r"/api/v1/tasks/(?P<id>[^/]+)", self._task)
        self.server.route("POST", r"/api/v1/tasks/(?P<id>[^/]+)/cancel", self._cancel)
        self.server.route("GET", r"/results/(?P<name>[\w-]+)\.(?P<ext>png|mp4)", self._result)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    # -- handlers ------------------------------------------------------------------------------

    def _create(self, request: FakeRequest, kind: str) -> tuple:
        refused = self._auth(request)
        if refused:
            return refused
        if request.headers.get("x-dashscope-async") != "enable":
            return _error(403, "AccessDenied", "current user api does not support synchronous calls")
        body = request.json()
        problem = _video_problem(body) if kind == "video" else _image_problem(body)
        if problem:
            return _error(400, "InvalidParameter", problem)
        task = FakeTask(task_id=str(uuid.uuid4()), kind=kind, body=body)
        self.tasks[task.task_id] = task
        return 200, {
            "request_id": str(uuid.uuid4()),
            "output": {"task_id": task.task_id, "task_status": "PENDING"},
        }

    def _sync_image(self, request: FakeRequest) -> tuple:
        refused = self._auth(request)
        if refused:
            return refused
        problem = _image_problem(request.json())
        if problem:
            return _error(400, "InvalidParameter", problem)
        task_id = str(uuid.uuid4())
        return 200, {"request_id": str(uuid.uuid4()), **self._image_output(task_id, sync=True)}

    def _task(self, request: FakeRequest) -> tuple:
        refused = self._auth(request)
        if refused:
            return refused
        task = self.tasks.get(request.match["id"])
        if task is None:
            # §5: an unknown or expired task id answers 200 with UNKNOWN.
            return 200, {
                "request_id": str(uuid.uuid4()),
                "output": {"task_id": request.match["id"], "task_status": "UNKNOWN"},
            }
        self._advance(task)
        output: dict[str, Any] = {
            "task_id": task.task_id,
            "task_status": task.status,
            "submit_time": "2025-10-11 18:55:56.952",
        }
        if task.status == "FAILED":
            output.update(code=self.fail_code, message="The fake was told to fail this task.")
        elif task.status == "SUCCEEDED" and task.kind == "video":
            output.update(
                video_url=f"{self.url}/results/{task.task_id}.mp4?Expires=4102444800&Signature=fake",
                orig_prompt=task.body["input"].get("prompt", ""),
                actual_prompt="(extended) " + task.body["input"].get("prompt", ""),
            )
            return 200, {
                "request_id": str(uuid.uuid4()),
                "output": output,
                "usage": {"duration": 5, "video_count": 1, "SR": 720},
            }
        elif task.status == "SUCCEEDED":
            output.update(self._image_output(task.task_id)["output"])
        return 200, {"request_id": str(uuid.uuid4()), "output": output}

    def _cancel(self, request: FakeRequest) -> tuple:
        refused = self._auth(request)
        if refused:
            return refused
        task = self.tasks.get(request.match["id"])
        if task is None or task.status != "PENDING":
            return _error(
                400,
                "UnsupportedOperation",
                "Failed to cancel the task, please confirm if the task is in PENDING status.",
            )
        task.status = "CANCELED"
        return 200, {"request_id": str(uuid.uuid4())}

    def _result(self, request: FakeRequest) -> tuple:
        ext = request.match["ext"]
        return 200, self.files[ext], {"Content-Type": "video/mp4" if ext == "mp4" else "image/png"}

    # -- helpers -------------------------------------------------------------------------------

    def _auth(self, request: FakeRequest) -> tuple | None:
        # Like some real APIs, the refused credential is quoted back in the body; `echo_auth`
        # (403 or 422) answers every authenticated call that way, right key or not.
        sent = request.headers.get("authorization", "")
        if self.echo_auth:
            return _error(self.echo_auth, "InvalidParameter", f"header rejected: Authorization: {sent}")
        if sent != f"Bearer {self.api_key}":
            return _error(401, "InvalidApiKey", f"Invalid API-key provided: {sent}")
        return None

    def _advance(self, task: FakeTask) -> None:
        task.polls += 1
        if task.status == "PENDING" and task.polls > self.pending_polls:
            task.status = "RUNNING"
        elif task.status == "RUNNING":
            task.status = "FAILED" if self.fail_code else "SUCCEEDED"

    def _image_output(self, task_id: str, *, sync: bool = False) -> dict[str, Any]:
        content = [{"image": f"{self.url}/results/{task_id}.png?Expires=4102444800", "type": "image"}]
        output: dict[str, Any] = {
            "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "finished": True,
        }
        return {"output": output, "usage": {"image_count": 1, "size": "1280*1280"}}


def _error(status: int, code: str, message: str) -> tuple:
    return status, {"request_id": str(uuid.uuid4()), "code": code, "message": message}


def _video_problem(body: dict[str, Any]) -> str | None:
    """The checks DashScope documents for a video body (§4); None when it is acceptable."""
    model, inputs, parameters = body.get("model", ""), body.get("input"), body.get("parameters", {})
    if not isinstance(inputs, dict) or not isinstance(parameters, dict):
        return "input and parameters must be objects"
    if "i2v" in model:
        if not str(inputs.get("img_url", "")).startswith(("http://", "https://", "data:image/")):
            return "input.img_url must be a URL or a data URI"
        if parameters.get("resolution", "1080P") not in ("720P", "1080P"):
            return "resolution must be 720P or 1080P"
    else:
        if not SIZE.match(str(parameters.get("size", ""))):
            return "size must be W*H"
        if "r2v" in model and not inputs.get("reference_urls"):
            return "input.reference_urls is required"
        if "t2v" in model and not inputs.get("prompt"):
            return "input.prompt is required"
    if "duration" in parameters and not isinstance(parameters["duration"], int):
        return "duration must be an integer"
    return None


def _image_problem(body: dict[str, Any]) -> str | None:
    """§6: one user message whose content has exactly one text item."""
    try:
        [message] = body["input"]["messages"]
        texts = [item for item in message["content"] if "text" in item]
    except (KeyError, TypeError, ValueError):
        return "input.messages must hold one user message"
    if len(texts) != 1 or message.get("role") != "user":
        return "content must hold exactly one text item"
    return None
