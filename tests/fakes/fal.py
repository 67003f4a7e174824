"""A fake fal.ai on loopback, following shared/providers/fal.md (test code, not product code).

    with FakeFal() as fake:
        client = fake.client()
        submission = client.submit(request)   # POST /{model id}
        client.poll(submission)               # 202 IN_QUEUE, 202 IN_PROGRESS, then 200 COMPLETED
        # the result names a file on this server: a real tiny MP4 (video modes) or PNG (image modes)

It serves the queue API (submit, status, result, cancel) with owner/app-only queue URLs (§2), fal
storage uploads (§5), result files, and a JWKS; `signed_webhook()` builds a delivery signed with
the fake's ED25519 key the way fal signs them (§4).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image

from providers.fal import FalClient, webhook_message
from tests.fakes.server import FakeRequest, FakeServer

API_KEY = "test-fal-key"
USER_ID = "fake-fal-user"
_REQUESTS = r"/(?P<owner>[^/]+)/(?P<app>[^/]+)/requests/(?P<id>[^/]+)"


def tiny_png(color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, format="PNG")
    return buffer.getvalue()


def tiny_mp4(frames: int = 8) -> bytes:
    """A real, decodable 32x32 MP4 (ffmpeg's native mpeg4 encoder is in every PyAV build)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(frames):
            pixels = np.full((32, 32, 3), index * 30 % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


@dataclass
class FakeJob:
    request_id: str
    model: str
    owner_app: str
    input: dict[str, Any]
    webhook_url: str | None
    status_calls: int = 0
    canceled: bool = False
    statuses_seen: list[str] = field(default_factory=list)

    @property
    def makes_images(self) -> bool:
        return self.model.endswith(("text-to-image", "image-to-image", "/edit"))


class FakeFal:
    def __init__(
        self, *, api_key: str = API_KEY, steps: tuple[str, ...] = ("IN_QUEUE", "IN_PROGRESS")
    ) -> None:
        self.api_key = api_key
        self.other_keys: set[str] = set()  # more accounts this fake serves (teams' own keys)
        self.echo_auth: int | None = None  # see _unauthorized
        self._last_auth = ""
        self.steps = steps  # the statuses answered before COMPLETED, one per status call
        self.server = FakeServer()
        self.signing_key = Ed25519PrivateKey.generate()
        self.jobs: dict[str, FakeJob] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.uploads: dict[str, str] = {}  # upload token -> path under /files/
        self._lock = threading.Lock()

    # lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> FakeFal:
        self.server.__enter__()
        route = self.server.route
        route("GET", r"/\.well-known/jwks\.json", self._jwks)
        route("POST", r"/storage/upload/initiate", self._initiate_upload)
        route("PUT", r"/uploads/(?P<token>[^/]+)", self._upload)
        route("GET", r"/files/(?P<path>.+)", self._file)
        route("GET", _REQUESTS + r"/status", self._status)
        route("PUT", _REQUESTS + r"/cancel", self._cancel)
        route("GET", _REQUESTS, self._result)
        route("POST", r"/(?P<model>.+)", self._submit)  # last: any other POST path is a model id
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def environ(self) -> dict[str, str]:
        return {
            "FAL_KEY": self.api_key,
            "FAL_QUEUE_URL": self.url,
            "FAL_REST_URL": self.url,
            "FAL_JWKS_URL": f"{self.url}/.well-known/jwks.json",
        }

    def client(self) -> FalClient:
        return FalClient(api_key=self.api_key, base_url=self.url, environ=self.environ)

    # webhooks -------------------------------------------------------------------------------------

    def signed_webhook(
        self,
        request_id: str,
        *,
        status: str = "OK",
        timestamp: float | None = None,
        payload: dict[str, Any] | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """(headers, body) of the delivery fal would POST to the job's `fal_webhook` URL (§4).

        `payload` replaces the result a successful delivery carries (a hostile but signed answer).
        """
        job = self.jobs[request_id]
        delivery: dict[str, Any] = {
            "request_id": request_id,
            "gateway_request_id": request_id,
            "status": status,
        }
        if status == "OK":
            delivery["payload"] = payload if payload is not None else self._output(job)
        else:
            delivery["error"] = "Invalid status code: 422"
            delivery["payload"] = {
                "detail": [
                    {"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}
                ]
            }
        body = json.dumps(delivery).encode()
        ts = str(int(time.time() if timestamp is None else timestamp))
        signature = self.signing_key.sign(webhook_message(request_id, USER_ID, ts, body))
        headers = {
            "X-Fal-Webhook-Request-Id": request_id,
            "X-Fal-Webhook-User-Id": USER_ID,
            "X-Fal-Webhook-Timestamp": ts,
            "X-Fal-Webhook-Signature": signature.hex(),
        }
        return headers, body

    # handlers -------------------------------------------------------------------------------------

    def _authorized(self, request: FakeRequest) -> bool:
        self._last_auth = request.headers.get("authorization", "")
        keys = {self.api_key, *self.other_keys}
        return self.echo_auth is None and self._last_auth in {f"Key {key}" for key in keys}

    def _unauthorized(self) -> tuple:
        # Like some real APIs, the refused credential is quoted back in the body; `echo_auth`
        # (403 or 422) answers every authenticated call that way, right key or not.
        quoted = f"Authorization: {self._last_auth}"
        if self.echo_auth == 422:
            return 422, {
                "detail": [{"loc": ["header"], "msg": f"bad header {quoted}", "type": "value_error"}]
            }
        return self.echo_auth or 401, {"detail": f"Invalid key: authentication failed ({quoted})"}

    def _submit(self, request: FakeRequest) -> tuple:
        if not self._authorized(request):
            return self._unauthorized()
        model = request.match["model"]
        try:
            body = request.json()
        except ValueError:
            return 422, {"detail": "Request body is not valid JSON"}
        if not isinstance(body, dict) or not body.get("prompt"):
            return 422, {
                "detail": [
                    {"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}
                ]
            }
        request_id = str(uuid.uuid4())
        owner_app = "/".join(model.split("/")[:2])
        webhook = request.query.get("fal_webhook", [None])[0]
        with self._lock:
            self.jobs[request_id] = FakeJob(request_id, model, owner_app, body, webhook)
        base = f"{self.url}/{owner_app}/requests/{request_id}"
        return 200, {
            "request_id": request_id,
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
            "queue_position": 0,
        }

    def _job(self, request: FakeRequest) -> FakeJob | None:
        job = self.jobs.get(request.match["id"])
        if job is None or job.owner_app != f"{request.match['owner']}/{request.match['app']}":
            return None
        return job

    def _status(self, request: FakeRequest) -> tuple:
        if not self._authorized(request):
            return self._unauthorized()
        job = self._job(request)
        if job is None:
            return 404, {"detail": "Request not found"}
        with self._lock:
            step = job.status_calls
            job.status_calls += 1
        status = "COMPLETED" if job.canceled or step >= len(self.steps) else self.steps[step]
        job.statuses_seen.append(status)
        urls = self._urls(job)
        if status == "IN_QUEUE":
            return 202, {"status": status, "queue_position": 0, "request_id": job.request_id, **urls}
        if status == "IN_PROGRESS":
            return 202, {"status": status, "logs": [], **urls}
        return 200, {"status": status, "logs": [], "metrics": {"inference_time": 1.5}, **urls}

    def _result(self, request: FakeRequest) -> tuple:
        if not self._authorized(request):
            return self._unauthorized()
        job = self._job(request)
        if job is None:
            return 404, {"detail": "Request not found"}
        if job.canceled:
            return (
                499,
                {"detail": "Request was cancelled", "error_type": "client_cancelled"},
                {"X-Fal-Error-Type": "client_cancelled"},
            )
        if job.status_calls <= len(self.steps):
            return 400, {"detail": "Request is still in progress"}
        return 200, self._output(job)

    def _cancel(self, request: FakeRequest) -> tuple:
        if not self._authorized(request):
            return self._unauthorized()
        job = self._job(request)
        if job is None:
            return 404, {"status": "NOT_FOUND"}
        if job.status_calls > len(self.steps):
            return 400, {"status": "ALREADY_COMPLETED"}
        job.canceled = True
        return 202, {"status": "CANCELLATION_REQUESTED"}

    def _output(self, job: FakeJob) -> dict[str, Any]:
        """The model output (§3 "Result"), naming a real file this server serves."""
        if job.makes_images:
            path = f"{job.request_id}/out.png"
            self.files.setdefault(path, (tiny_png(), "image/png"))
            file = {"url": f"{self.url}/files/{path}", "content_type": "image/png", "file_name": "out.png"}
            return {"images": [file], "seed": 42}
        path = f"{job.request_id}/out.mp4"
        self.files.setdefault(path, (tiny_mp4(), "video/mp4"))
        file = {"url": f"{self.url}/files/{path}", "content_type": "video/mp4", "file_name": "out.mp4"}
        return {"video": file, "seed": 42, "actual_prompt": f"{job.input.get('prompt')}, cinematic"}

    def _urls(self, job: FakeJob) -> dict[str, str]:
        base = f"{self.url}/{job.owner_app}/requests/{job.request_id}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    def _file(self, request: FakeRequest) -> tuple:
        found = self.files.get(request.match["path"])
        if found is None:
            return 404, {"detail": "File not found"}
        data, content_type = found
        return 200, data, {"Content-Type": content_type}

    def _initiate_upload(self, request: FakeRequest) -> tuple:
        if not self._authorized(request):
            return self._unauthorized()
        if request.query.get("storage_type") != ["fal-cdn-v3"]:
            return 400, {"detail": "unknown storage_type"}
        body = request.json()
        token = uuid.uuid4().hex
        self.uploads[token] = f"uploads/{token}/{body.get('file_name') or 'file'}"
        return 200, {
            "upload_url": f"{self.url}/uploads/{token}",
            "file_url": f"{self.url}/files/{self.uploads[token]}",
        }

    def _upload(self, request: FakeRequest) -> tuple:
        token = request.match["token"]
        if token not in self.uploads:
            return 404, {"detail": "unknown upload"}
        if "authorization" in request.headers:
            # The upload URL is pre-signed storage: a client sending its fal key here leaks it (§5).
            return 400, {"detail": "storage uploads take no Authorization header"}
        content_type = request.headers.get("content-type", "application/octet-stream")
        self.files[self.uploads[token]] = (request.body, content_type)
        return 200, b""

    def _jwks(self, request: FakeRequest) -> tuple:
        raw = self.signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return 200, {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "fake-fal"}]}
