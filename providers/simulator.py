"""The offline simulator: a provider with no network and no key that makes real PNG and MP4 files.

A job "runs" for `params["sim_delay"]` seconds (default 5) of wall-clock time counted from submit:
queued for the first 10%, then running with progress rising with elapsed time, then succeeded with
media made in memory that shows the prompt and parameters. Everything a later call needs lives in
`submission.state` (plain JSON, persisted by the app after every call, even one that raised), so
any worker process can poll any job.

Faults on demand (`params["sim_fault"]`), each raising or returning exactly what a real client does
for that fault (providers/base.py ErrorCode comments, shared/RELIABILITY.md section 7):

- at submit, transient, failing the first `sim_fault_count` (default 1) submits of a request, counted
  per `request.idempotency_key` in a small state directory so the count holds across processes
  (`SIMULATOR_STATE_DIR`, default <tmp>/wanweb-simulator): `rate_limited` (429, retry_after),
  `server_error` (503).
- at poll, transient, failing the first `sim_fault_count` polls, counted in `submission.state`:
  `timeout`, `html_body`, `malformed_json`, `truncated_body`, `slow_body` (ends as a read timeout),
  `redirect_loop`, `unknown_status`.
- at completion (the poll that would have succeeded), permanent: `content_policy` and
  `vendor_failed` return a FAILED Update; `missing_result` raises RESULT_MISSING (the vendor said
  succeeded with no output); `result_expired` raises RESULT_EXPIRED (the result URL answered 404).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import random
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from providers.base import (
    ErrorCode,
    GenerationRequest,
    Mode,
    Output,
    ProviderError,
    Status,
    Submission,
    Update,
)

NAME = "simulator"
DEFAULT_DELAY = 5.0
MAX_DELAY = 3600.0
QUEUED_FRACTION = 0.1
DEFAULT_VIDEO_SECONDS = 5.0
MAX_VIDEO_SECONDS = 60.0
MAX_IMAGE_SIDE = 2048
MAX_VIDEO_SIDE = 1920
MAX_OUTPUTS = 4
VIDEO_FPS = 8  # low on purpose: the clip is a placeholder, and encoding time scales with frames
FRAME_BUDGET = 48  # frames at 480p; fewer at higher resolutions, at least MIN_FRAMES
MIN_FRAMES = 10
AUDIO_RATE = 24000
RETRY_AFTER = 2.0

SUBMIT_FAULTS = frozenset({"rate_limited", "server_error"})
POLL_FAULTS = frozenset(
    {
        "timeout",
        "html_body",
        "malformed_json",
        "truncated_body",
        "slow_body",
        "redirect_loop",
        "unknown_status",
    }
)
FINAL_FAULTS = frozenset({"content_policy", "vendor_failed", "missing_result", "result_expired"})
FAULTS = frozenset({"none"}) | SUBMIT_FAULTS | POLL_FAULTS | FINAL_FAULTS


def fault_error(fault: str) -> ProviderError:
    """The ProviderError a real client raises for this fault (a FAILED Update's error for the final ones)."""
    if fault == "rate_limited":
        return ProviderError(
            "HTTP 429 from simulator: too many requests",
            code=ErrorCode.RATE_LIMITED,
            http_status=429,
            retry_after=RETRY_AFTER,
            vendor_code="Throttling",
        )
    if fault == "server_error":
        return ProviderError("HTTP 503 from simulator", code=ErrorCode.SERVER_ERROR, http_status=503)
    if fault == "timeout":
        return ProviderError("GET simulator/status timed out", code=ErrorCode.TIMEOUT)
    if fault == "html_body":
        return ProviderError(
            "expected JSON from simulator, got '<html><head><title>502 Bad Gateway'",
            code=ErrorCode.BAD_RESPONSE,
            http_status=200,
        )
    if fault == "malformed_json":
        return ProviderError(
            'expected JSON from simulator, got \'{"status": "RUNN\'',
            code=ErrorCode.BAD_RESPONSE,
            http_status=200,
        )
    if fault == "truncated_body":
        return ProviderError("GET simulator/status: incomplete response", code=ErrorCode.BAD_RESPONSE)
    if fault == "slow_body":
        # A body that trickles in ends as a read timeout in providers.http.send.
        return ProviderError("GET simulator/status timed out", code=ErrorCode.TIMEOUT)
    if fault == "redirect_loop":
        return ProviderError("HTTP 302 from simulator", code=ErrorCode.BAD_RESPONSE, http_status=302)
    if fault == "unknown_status":
        return ProviderError(
            "simulator reported an unknown status 'WARMING_UP'",
            code=ErrorCode.UNKNOWN_STATUS,
            vendor_code="WARMING_UP",
        )
    if fault == "content_policy":
        return ProviderError(
            "The prompt or output was flagged by the content safety filter",
            code=ErrorCode.CONTENT_POLICY,
            vendor_code="DataInspectionFailed",
        )
    if fault == "vendor_failed":
        return ProviderError(
            "The simulated model crashed", code=ErrorCode.VENDOR_FAILED, vendor_code="InternalError"
        )
    if fault == "missing_result":
        return ProviderError("simulator said succeeded but returned no output", code=ErrorCode.RESULT_MISSING)
    if fault == "result_expired":
        return ProviderError(
            "download of the simulator result answered HTTP 404: the result has expired or is gone",
            code=ErrorCode.RESULT_EXPIRED,
            http_status=404,
        )
    raise ValueError(f"unknown simulator fault {fault!r}")


def default_state_dir() -> Path:
    return Path(os.environ.get("SIMULATOR_STATE_DIR") or Path(tempfile.gettempdir()) / "wanweb-simulator")


class SimulatorClient:
    """The `simulator` provider: see the module docstring."""

    name = NAME

    def __init__(
        self, *, clock: Callable[[], float] = time.time, state_dir: str | Path | None = None
    ) -> None:
        self._clock = clock
        self._state_dir = Path(state_dir) if state_dir is not None else None

    # -- the Client interface ------------------------------------------------------------------

    def submit(self, request: GenerationRequest) -> Submission:
        """Accept the job (or fail the way a submit-time fault says); raises ProviderError."""
        params = dict(request.params)
        fault = str(params.get("sim_fault") or "none")
        if fault not in FAULTS:
            raise ProviderError(f"unknown sim_fault {fault!r}", code=ErrorCode.INVALID_REQUEST)
        fault_count = _int(params.get("sim_fault_count"), 1)
        if fault in SUBMIT_FAULTS and self._count_submit_failure(request, fault_count):
            raise fault_error(fault)

        seed = params.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            seed = random.SystemRandom().randrange(2**31)
        prompt = request.prompt or ""
        actual_prompt = None
        if params.get("prompt_expansion"):
            actual_prompt = (
                f"{prompt.rstrip()}, expanded: cinematic lighting, rich detail, gentle camera motion"
            )
        state: dict[str, Any] = {
            "started_at": self._clock(),
            "delay": min(max(_float(params.get("sim_delay"), DEFAULT_DELAY), 0.0), MAX_DELAY),
            "mode": str(Mode(request.mode)),
            "model": request.model,
            "prompt": prompt,
            "actual_prompt": actual_prompt,
            "seed": seed,
            "params": _json_safe({k: v for k, v in params.items() if not k.startswith("sim_")}),
            "fault": fault,
            "fault_count": fault_count,
            "fault_calls": 0,
            "canceled": False,
            "finished": None,
        }
        state.update(_describe_inputs(request))
        return Submission(provider=NAME, vendor_job_id=f"sim-{uuid.uuid4().hex}", state=state)

    def poll(self, submission: Submission) -> Update:
        """How the simulated job is doing; the finished media on success. Raises ProviderError for faults."""
        state = submission.state
        fault = state.get("fault", "none")
        if state.get("canceled"):
            return Update(status=Status.CANCELED, vendor_status="canceled", seed=state.get("seed"))
        if fault in POLL_FAULTS and state.get("fault_calls", 0) < state.get("fault_count", 1):
            state["fault_calls"] = state.get("fault_calls", 0) + 1
            raise fault_error(fault)

        delay = float(state.get("delay", DEFAULT_DELAY))
        elapsed = self._clock() - float(state["started_at"])
        common = {"seed": state.get("seed"), "actual_prompt": state.get("actual_prompt")}
        if elapsed < delay * QUEUED_FRACTION:
            return Update(status=Status.QUEUED, progress=0, vendor_status="queued", **common)
        if elapsed < delay:
            running = (elapsed - delay * QUEUED_FRACTION) / (delay * (1 - QUEUED_FRACTION))
            progress = min(99, max(1, int(running * 100)))
            return Update(status=Status.RUNNING, progress=progress, vendor_status="running", **common)

        if fault in ("content_policy", "vendor_failed"):
            state["finished"] = "failed"
            return Update(status=Status.FAILED, error=fault_error(fault), vendor_status="failed", **common)
        if fault in ("missing_result", "result_expired"):
            raise fault_error(fault)
        outputs = render_outputs(state)
        state["finished"] = "succeeded"
        return Update(
            status=Status.SUCCEEDED, progress=100, outputs=outputs, vendor_status="succeeded", **common
        )

    def cancel(self, submission: Submission) -> bool:
        """Cancel the job: True unless it already finished."""
        state = submission.state
        if state.get("finished"):
            return False
        state["canceled"] = True
        return True

    # -- helpers -------------------------------------------------------------------------------

    def _count_submit_failure(self, request: GenerationRequest, fault_count: int) -> bool:
        """True (and one more failure recorded) while this request still has submit failures to give."""
        key = request.idempotency_key or json.dumps(
            [request.mode, request.prompt, _json_safe(request.params)], sort_keys=True
        )
        directory = self._state_dir or default_state_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"submit-{hashlib.sha256(key.encode()).hexdigest()[:32]}.count"
        # One byte appended per failure: O_APPEND writes are atomic, so concurrent workers count right.
        failures = path.stat().st_size if path.exists() else 0
        if failures >= fault_count:
            return False
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
        return True


# -- rendering -----------------------------------------------------------------------------------


def render_outputs(state: dict[str, Any]) -> list[Output]:
    """The finished media for a job's state: PNGs for image modes, one MP4 for video modes."""
    mode = Mode(state["mode"])
    params = state.get("params", {})
    if not mode.makes_video:
        count = min(max(_int(params.get("num_outputs"), 1), 1), MAX_OUTPUTS)
        width, height = output_size(params, video=False, input_size=state.get("input_size"))
        return [
            Output(
                kind="image", data=render_image(state, width, height, index, count), content_type="image/png"
            )
            for index in range(count)
        ]
    width, height = output_size(params, video=True, input_size=state.get("input_size"))
    return [Output(kind="video", data=render_video(state, width, height), content_type="video/mp4")]


def output_size(
    params: dict[str, Any], *, video: bool, input_size: list[int] | None = None
) -> tuple[int, int]:
    """(width, height) from `size`, else `resolution` + `aspect_ratio`, else the input's aspect."""
    cap = MAX_VIDEO_SIDE if video else MAX_IMAGE_SIDE
    size = str(params.get("size") or "").lower().replace("*", "x").replace("×", "x")
    if "x" in size:
        try:
            width, height = (int(part) for part in size.split("x", 1))
            return _fit(width, height, cap)
        except ValueError:
            pass
    resolution = str(params.get("resolution") or "").lower()
    short = {"480p": 480, "540p": 540, "580p": 576, "720p": 720, "1080p": 1080}.get(resolution)
    if short is None:
        short = 480 if video else 1024
    ratio = _ratio(params.get("aspect_ratio"))
    if ratio is None and input_size:
        ratio = input_size[0] / max(1, input_size[1])
    if ratio is None:
        ratio = 16 / 9 if video else 1.0
    if video or resolution:
        # `short` is the short side (480p = 854x480 at 16:9, 480x854 at 9:16).
        width, height = (short * ratio, short) if ratio >= 1 else (short, short / ratio)
    else:
        # Images without a resolution: `short` is the long side.
        width, height = (short, short / ratio) if ratio >= 1 else (short * ratio, short)
    return _fit(round(width), round(height), cap)


def _fit(width: int, height: int, cap: int) -> tuple[int, int]:
    width, height = max(16, width), max(16, height)
    scale = min(1.0, cap / max(width, height))
    # Even sides: yuv420p needs them, and images do not mind.
    return max(16, int(width * scale) // 2 * 2), max(16, int(height * scale) // 2 * 2)


def _ratio(value: Any) -> float | None:
    text = str(value or "")
    if ":" not in text:
        return None
    try:
        a, b = (float(part) for part in text.split(":", 1))
    except ValueError:
        return None
    return a / b if a > 0 and b > 0 else None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _background(state: dict[str, Any], width: int, height: int, salt: int = 0) -> Image.Image:
    """A seeded diagonal gradient, blended with the input image when the job has one."""
    rng = random.Random(int(state.get("seed") or 0) * 7919 + salt)
    start = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    end = np.array([rng.randrange(256) for _ in range(3)], dtype=np.float32)
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    t = ((xs + ys) / 2.0)[..., None]
    pixels = (start * (1 - t) + end * t).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    thumb = state.get("input_thumb")
    if thumb:
        try:
            source = Image.open(io.BytesIO(base64.b64decode(thumb))).convert("RGB")
            source = source.resize((width, height), Image.Resampling.BILINEAR)
            image = Image.blend(image, source, 0.75)
        except (OSError, ValueError):
            pass  # a damaged thumbnail only costs the blend
    return image


def _caption(state: dict[str, Any], width: int, height: int, extra: str) -> tuple[str, list[str]]:
    """The prompt to wrap, and the detail lines under it."""
    params = state.get("params", {})
    prompt = state.get("actual_prompt") or state.get("prompt") or "(no prompt)"
    details = [f"mode {state.get('mode')} · model {state.get('model')} · seed {state.get('seed')}"]
    shape = f"{width}x{height}"
    for name in ("size", "aspect_ratio", "resolution"):
        if params.get(name):
            shape += f" · {params[name]}"
    details.append(shape)
    return prompt, [*details, extra]


def _draw_caption(image: Image.Image, caption: tuple[str, list[str]]) -> None:
    width, height = image.size
    size = max(12, min(width, height) // 24)
    font = _font(size)
    average = max(1.0, font.getlength("abcdefghijklmnopqrstuvwxyz ") / 27)
    prompt, details = caption
    chars = max(12, int((width - 3 * size) / average))
    lines = [*(textwrap.wrap(prompt, chars, max_lines=5, placeholder=" ...") or [""]), *details]
    line_height = int(size * 1.3)
    box_height = line_height * len(lines) + size
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    top = max(0, height - box_height - size)
    draw.rectangle((size // 2, top, width - size // 2, top + box_height), fill=(0, 0, 0, 150))
    for index, line in enumerate(lines):
        draw.text((size, top + size // 2 + index * line_height), line, font=font, fill=(255, 255, 255, 255))
    image.paste(overlay, (0, 0), overlay)


def render_image(state: dict[str, Any], width: int, height: int, index: int = 0, count: int = 1) -> bytes:
    """One PNG showing the prompt and parameters on a gradient (or on the input image, for edits)."""
    image = _background(state, width, height, salt=index)
    _draw_caption(image, _caption(state, width, height, f"simulated image {index + 1} of {count}"))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def video_duration(state: dict[str, Any]) -> float:
    """The clip length in seconds: `duration`, else num_frames / fps, else the input audio, else 5 s."""
    params = state.get("params", {})
    duration = _float(params.get("duration"), 0.0)
    if duration <= 0 and params.get("num_frames") and params.get("fps"):
        duration = _float(params["num_frames"], 0.0) / max(1.0, _float(params["fps"], 16.0))
    if duration <= 0:
        duration = _float(state.get("input_audio_duration"), 0.0)
    if duration <= 0:
        duration = DEFAULT_VIDEO_SECONDS
    return min(duration, MAX_VIDEO_SECONDS)


def render_video(state: dict[str, Any], width: int, height: int) -> bytes:
    """An MP4 (H.264, or MPEG-4 part 2 without libx264) of the full duration, with a tone when audio is on."""
    import av  # imported here: loading FFmpeg is only worth it when a video is made

    duration = video_duration(state)
    budget = max(MIN_FRAMES, int(FRAME_BUDGET * (854 * 480) / (width * height)))
    fps = max(1, min(VIDEO_FPS, int(budget / duration)))
    frames = max(1, round(duration * fps))
    with_audio = bool(state.get("params", {}).get("audio")) or bool(state.get("has_audio_input"))

    base_image = _background(state, width, height)
    _draw_caption(
        base_image,
        _caption(
            state, width, height, f"simulated video · {duration:g} s" + (" · audio" if with_audio else "")
        ),
    )
    base = np.asarray(base_image, dtype=np.uint8)
    dot = max(8, min(width, height) // 10)

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "30"}
        audio_stream = container.add_stream("aac", rate=AUDIO_RATE) if with_audio else None
        if audio_stream is not None:
            audio_stream.layout = "mono"

        for index in range(frames):
            frame_pixels = base.copy()
            phase = index / max(1, frames - 1)
            x = int((width - dot) * phase)
            y = int((height - dot) / 3 * (1 + math.sin(phase * 2 * math.pi) * 0.8))
            frame_pixels[y : y + dot, x : x + dot] = (255, 220, 40)
            frame_pixels[-max(4, height // 90) :, : int(width * (index + 1) / frames)] = (255, 255, 255)
            frame = av.VideoFrame.from_ndarray(frame_pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))

        if audio_stream is not None:
            total = int(duration * AUDIO_RATE)
            t = np.arange(total, dtype=np.float32) / AUDIO_RATE
            pitch = 330.0 + (int(state.get("seed") or 0) % 5) * 55.0
            wave = (0.2 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)
            step = audio_stream.codec_context.frame_size or 1024
            for offset in range(0, total, step):
                chunk = av.AudioFrame.from_ndarray(
                    wave[None, offset : offset + step], format="flt", layout="mono"
                )
                chunk.sample_rate = AUDIO_RATE
                chunk.pts = offset
                container.mux(audio_stream.encode(chunk))
            container.mux(audio_stream.encode(None))
    return buffer.getvalue()


# -- inputs and small helpers -------------------------------------------------------------------


def _describe_inputs(request: GenerationRequest) -> dict[str, Any]:
    """What poll needs to know about the inputs, small enough for the JSON state: a thumbnail and sizes."""
    described: dict[str, Any] = {"input_thumb": None, "input_size": None, "has_audio_input": False}
    for media in request.inputs:
        if media.content_type.startswith("audio/") or media.slot == "audio":
            described["has_audio_input"] = True
            if media.info and media.info.duration:
                described["input_audio_duration"] = media.info.duration
    for media in request.inputs:
        if described["input_thumb"] or not media.data:
            continue
        image = _input_image(media.data, media.content_type)
        if image is None:
            continue
        described["input_size"] = list(image.size)
        image.thumbnail((192, 192))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "JPEG", quality=70)
        described["input_thumb"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    return described


def _input_image(data: bytes, content_type: str) -> Image.Image | None:
    """The input as a Pillow image (a video's first frame), or None when it cannot be read."""
    if content_type.startswith("audio/"):
        return None
    try:
        if content_type.startswith("video/"):
            import av

            with av.open(io.BytesIO(data)) as container:
                for frame in container.decode(video=0):
                    return frame.to_image()
            return None
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except Exception:  # any failure only costs the decoration: the app validated inputs already
        return None


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else default
    except (TypeError, ValueError):
        return default


def _float(value: Any, default: float) -> float:
    try:
        result = float(value) if value is not None and not isinstance(value, bool) else default
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default
