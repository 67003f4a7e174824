"""The provider interface every vendor module implements, and the types that cross it.

Nothing here imports Django: the app turns its rows into these objects and back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


class Mode(enum.StrEnum):
    T2I = "t2i"
    EDIT = "edit"
    T2V = "t2v"
    I2V = "i2v"
    V2V = "v2v"
    R2V = "r2v"
    S2V = "s2v"

    @property
    def makes_video(self) -> bool:
        return self not in (Mode.T2I, Mode.EDIT)


# shared/DESIGN.md "Normalised parameter names": the names every request uses; vendor modules
# translate them, and pass any other (vendor-only) field through under its own name.
NORMALISED_PARAMS = frozenset(
    {
        "negative_prompt",
        "seed",
        "size",
        "aspect_ratio",
        "resolution",
        "duration",
        "audio",
        "multi_shot",
        "prompt_expansion",
        "safety_checker",
        "watermark",
        "num_outputs",
        "loras",
        "strength",
        "num_frames",
        "fps",
    }
)


MODE_LABELS: dict[Mode, str] = {
    Mode.T2I: "Text to image",
    Mode.EDIT: "Image edit",
    Mode.T2V: "Text to video",
    Mode.I2V: "Image to video",
    Mode.V2V: "Video to video",
    Mode.R2V: "Reference to video",
    Mode.S2V: "Speech to video",
}


class Status(enum.StrEnum):
    """The common status every vendor status maps to (shared/providers/README.md)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)


class ErrorCode(enum.StrEnum):
    """Our own typed error codes; the vendor's code travels beside them in `vendor_code`."""

    TIMEOUT = "timeout"  # connect/read timeout: transient
    CONNECTION = "connection_error"  # refused, reset, DNS: transient
    RATE_LIMITED = "rate_limited"  # 429: transient, honour retry_after
    SERVER_ERROR = "server_error"  # 5xx: transient
    BAD_RESPONSE = "bad_response"  # HTML, malformed JSON, truncated body, redirect loop: transient
    UNKNOWN_STATUS = "unknown_status"  # a status value the vendor file does not list: transient
    AUTH = "auth_failed"  # 401/403: permanent
    INVALID_REQUEST = "invalid_request"  # 400/422 validation: permanent
    CONTENT_POLICY = "content_policy"  # safety filter: permanent
    NOT_FOUND = "not_found"  # vendor forgot the task: permanent
    VENDOR_FAILED = "vendor_failed"  # the vendor ran the job and it failed: permanent
    RESULT_MISSING = "result_missing"  # succeeded but no output URL: permanent
    RESULT_EXPIRED = "result_expired"  # output URL answered 403/404: permanent
    RESULT_INVALID = "result_invalid"  # output bytes are not a media type we store: permanent
    DOWNLOAD_REFUSED = "download_refused"  # SSRF guard, wrong scheme, wrong magic bytes: permanent
    TOO_LARGE = "too_large"  # byte cap: permanent
    CANCELED = "canceled"
    NOT_CONFIGURED = "not_configured"  # no API key for this vendor: permanent


TRANSIENT_CODES = frozenset(
    {
        ErrorCode.TIMEOUT,
        ErrorCode.CONNECTION,
        ErrorCode.RATE_LIMITED,
        ErrorCode.SERVER_ERROR,
        ErrorCode.BAD_RESPONSE,
        ErrorCode.UNKNOWN_STATUS,
    }
)


class ProviderError(Exception):
    """The one error type provider code raises.

    `transient` means retrying the same call later can help (timeouts, 429, 5xx, vendor says
    retryable); otherwise retrying cannot help (bad key, rejected input, content policy).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = ErrorCode.VENDOR_FAILED,
        transient: bool | None = None,
        vendor_code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = str(code)
        self.transient = (code in TRANSIENT_CODES) if transient is None else transient
        self.vendor_code = vendor_code
        self.http_status = http_status
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        return not self.transient

    def __repr__(self) -> str:
        kind = "transient" if self.transient else "permanent"
        return f"ProviderError({self.code!r}, {self.message!r}, {kind}, vendor_code={self.vendor_code!r})"


class RequestValidationError(Exception):
    """A request the catalog refuses before any network call: one or more messages per field.

    Field names are the normalised parameter names, `prompt`, a media slot name, or `__all__`.
    """

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {name: list(messages) for name, messages in errors.items()}
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items()))


class WebhookError(Exception):
    """A webhook delivery that must be refused with 401 (bad or stale signature, unknown body)."""


@dataclass(frozen=True)
class MediaInfo:
    """What probing a file's bytes found (providers.media.probe)."""

    kind: str  # "image" | "video" | "audio"
    format: str  # "png", "jpeg", "webp", "bmp", "mp4", "mov", "webm", "mp3", "wav", ...
    content_type: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    duration: float | None = None  # seconds
    fps: float | None = None
    has_alpha: bool = False


@dataclass(frozen=True)
class MediaInput:
    """One input file for a job, in the catalog slot it fills (`image`, `end_image`, `video`, `audio`).

    `data` holds the bytes; `url` is a public URL for them when the app has one. The vendor
    client decides whether to send a data URI, the URL, or (fal) upload to the vendor's storage.
    """

    slot: str
    content_type: str
    data: bytes | None = None
    url: str | None = None
    filename: str = ""
    info: MediaInfo | None = None


@dataclass
class GenerationRequest:
    """One normalised request, the same for every vendor.

    `params` uses the normalised names of shared/DESIGN.md (negative_prompt, seed, size, aspect_ratio,
    resolution, duration, audio, multi_shot, prompt_expansion, safety_checker, watermark,
    num_outputs, loras, strength, num_frames, fps); vendor-only fields keep the vendor's name.
    """

    provider: str
    model: str
    mode: Mode
    prompt: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[MediaInput] = field(default_factory=list)
    idempotency_key: str = ""  # the job's public id: passed wherever a vendor accepts one
    webhook_url: str | None = None

    def inputs_for(self, slot: str) -> list[MediaInput]:
        return [media for media in self.inputs if media.slot == slot]


@dataclass
class Output:
    """One result file: a vendor URL to download, or inline bytes (b64_json, simulator)."""

    kind: str  # "image" | "video" | "audio"
    url: str | None = None
    data: bytes | None = None
    content_type: str = ""
    expires_at: datetime | None = None


@dataclass
class Update:
    """What a poll, a webhook or a synchronous submit learned about a job."""

    status: Status
    progress: int | None = None  # 0-100 when the vendor says
    queue_position: int | None = None  # jobs ahead of this one in the vendor's queue, when it says
    outputs: list[Output] = field(default_factory=list)
    error: ProviderError | None = None  # set when status is FAILED
    seed: int | None = None
    actual_prompt: str | None = None  # the vendor's rewritten prompt (prompt expansion)
    cost_usd: Decimal | None = None  # the vendor's reported cost, when it gives one
    vendor_status: str = ""  # the raw status value, for the call log


@dataclass
class Submission:
    """What a vendor accepted: its job id plus whatever later calls need, kept as JSON on the job.

    Synchronous vendors (image endpoints) also fill `update` with the finished result.
    """

    provider: str
    vendor_job_id: str
    state: dict[str, Any] = field(default_factory=dict)
    update: Update | None = None


@runtime_checkable
class Client(Protocol):
    """A vendor client. One instance per configuration; methods are safe to call from tasks."""

    name: str

    def submit(self, request: GenerationRequest) -> Submission:
        """Send the request; raises ProviderError."""
        ...

    def poll(self, submission: Submission) -> Update:
        """Ask the vendor how the job is doing; raises ProviderError for call failures."""
        ...

    def cancel(self, submission: Submission) -> bool:
        """Ask the vendor to cancel; True when it accepted, False when it has no cancel or refused."""
        ...


@runtime_checkable
class WebhookClient(Protocol):
    """A vendor that calls us back when a job finishes (fal, Lumenfall)."""

    def parse_webhook(self, *, headers: Mapping[str, str], body: bytes) -> tuple[str, Update]:
        """Verify a delivery and return (vendor job id, update).

        Raises WebhookError for a bad or stale signature (answer 401), ProviderError(transient)
        when the verification keys cannot be fetched (answer 5xx so the vendor retries).
        """
        ...
