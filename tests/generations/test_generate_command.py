"""`manage.py generate` (shared/DESIGN.md "Fixed interfaces") through the real CLI entry point,
a real Celery worker on real Redis, the offline simulator and every vendor's fake on loopback."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from generations import services
from generations.management.commands.generate import Command
from generations.models import Asset, AssetRole, Job, JobStatus
from tests.fakes.aimlapi import FakeAimlapi
from tests.fakes.apimart import FakeApimart
from tests.fakes.dashscope import FakeDashScope
from tests.fakes.fal import FakeFal
from tests.fakes.lumenfall import FakeLumenfall
from tests.fakes.server import FakeServer

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


@dataclass
class Run:
    code: int
    out: list[str]  # stdout lines
    err: str

    @property
    def job(self) -> Job:
        return Job.objects.get(public_id=uuid.UUID(self.out[0]))


@pytest.fixture
def generate(capsys):
    """Run `manage.py generate ARGS` the way the shell does (argv parsing, exit status, stderr)."""

    def run(*args: str) -> Run:
        capsys.readouterr()
        try:
            Command().run_from_argv(["manage.py", "generate", "--skip-checks", *args])
            code = 0
        except SystemExit as exc:
            code = exc.code
        captured = capsys.readouterr()
        return Run(code=code, out=captured.out.splitlines(), err=captured.err)

    return run


@pytest.fixture
def fast_polls(monkeypatch):
    """Short poll countdowns (the worker runs in this process), so vendor runs take seconds."""
    monkeypatch.setattr(services, "POLL_FIRST", 0.2)
    monkeypatch.setattr(services, "poll_countdown", lambda attempt, retry_after=None: 0.3)
    monkeypatch.setattr(services, "_next_poll_in", lambda job, update=None: 0.3)


def alice_args(*args: str) -> list[str]:
    return ["--user", "alice", "--project", "spring-campaign", *args]


def png_file(path: Path, size: tuple[int, int] = (400, 400), color=(30, 120, 200)) -> str:
    Image.new("RGB", size, color).save(path, format="PNG")
    return str(path)


def assert_image(path: str) -> Image.Image:
    with Image.open(path) as image:
        image.load()
    return image


def assert_video(path: str, *, audio: bool | None = None) -> None:
    with av.open(path) as container:
        assert container.streams.video
        if audio is not None:
            assert bool(container.streams.audio) is audio
        assert next(container.decode(video=0)).width > 0


def assert_succeeded(run: Run, outputs: int = 1) -> list[str]:
    assert run.code == 0, run.err
    job_id, status, *paths = run.out
    assert uuid.UUID(job_id) and status == "succeeded"
    assert len(paths) == outputs
    stored = [a.file.path for a in run.job.assets.filter(role=AssetRole.OUTPUT).order_by("index")]
    assert paths == stored
    for path in paths:
        assert Path(path).is_absolute() and Path(path).is_file()
    return paths


# -- the simulator ---------------------------------------------------------------------------------


def test_a_simulator_image_is_generated_waited_for_and_its_path_printed(
    celery_worker_live, alice, acme_project, generate
):
    run = generate(
        *alice_args(
            "--provider",
            "simulator",
            "--mode",
            "t2i",
            "--prompt",
            "a red fox",
            "--param",
            "sim_delay=0.3",
            "--wait",
        )
    )

    [path] = assert_succeeded(run)
    assert assert_image(path).format == "PNG"
    job = run.job
    assert (job.provider, job.model, job.mode, job.created_by) == ("simulator", "wan-sim", "t2i", alice)
    assert job.project == acme_project and job.prompt == "a red fox"


def test_the_mode_picks_a_video_and_params_arrive_coerced_to_their_types(
    celery_worker_live, alice, acme_project, generate
):
    run = generate(
        *alice_args("--provider", "simulator", "--mode", "t2v", "--prompt", "waves at dusk"),
        *("--param", "duration=5", "audio=true", "--param", "seed=7", "prompt_expansion=false"),
        *("--param", "sim_delay=0.2", "--wait"),
    )

    [path] = assert_succeeded(run)
    assert_video(path, audio=True)
    job = run.job
    assert job.mode == "t2v"
    params = job.params
    assert (params["duration"], params["audio"], params["seed"], params["prompt_expansion"]) == (
        5,
        True,
        7,
        False,
    )
    assert job.seed == 7


def test_input_images_fill_the_first_frame_then_the_last_frame_of_an_i2v_job(
    celery_worker_live, alice, acme_project, generate, tmp_path
):
    first = png_file(tmp_path / "first.png", color=(200, 30, 30))
    last = png_file(tmp_path / "last.png", color=(30, 200, 30))

    run = generate(
        *alice_args("--provider", "simulator", "--mode", "i2v", "--prompt", "the fox turns green"),
        *("--input", first, last, "--param", "duration=2", "sim_delay=0.2", "--wait"),
    )

    [path] = assert_succeeded(run)
    assert_video(path)
    inputs = run.job.assets.filter(role=AssetRole.INPUT).order_by("index")
    assert [(a.slot, a.kind, a.width) for a in inputs] == [
        ("image", "image", 400),
        ("end_image", "image", 400),
    ]


def test_a_failing_job_exits_non_zero_with_its_error_code_on_stderr(
    celery_worker_live, alice, acme_project, generate
):
    run = generate(
        *alice_args("--provider", "simulator", "--mode", "t2i", "--prompt", "doomed"),
        *("--param", "sim_fault=vendor_failed", "sim_delay=0.2", "--wait"),
    )

    assert run.code == 1
    assert run.out[1:] == ["failed"]
    job = run.job
    assert job.status == JobStatus.FAILED
    assert f"vendor_failed: {job.error_message}" in run.err and job.error_message


def test_a_refused_request_prints_one_line_per_field_and_creates_nothing(alice, acme_project, generate):
    run = generate(
        *alice_args("--provider", "simulator", "--mode", "t2i", "--prompt", "x"),
        *("--param", "seed=abc", "duration=5"),
    )

    assert run.code == 2 and run.out == []
    lines = run.err.splitlines()
    assert any(line.startswith("seed: ") and "whole number" in line for line in lines)
    assert any(line.startswith("duration: ") for line in lines)
    assert "no job was created" in lines[-1]
    assert not Job.objects.exists() and not Asset.objects.exists()


def test_an_input_that_is_not_media_is_refused_before_anything_is_created(
    alice, acme_project, generate, tmp_path
):
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")

    run = generate(
        *alice_args("--provider", "simulator", "--mode", "edit", "--prompt", "x", "--input", str(notes))
    )

    assert run.code == 2
    assert run.err.startswith(f"input: {notes}: ")
    assert not Job.objects.exists()


def test_too_many_images_are_reported_by_slot(alice, acme_project, generate, tmp_path):
    images = [png_file(tmp_path / f"{n}.png") for n in range(3)]

    run = generate(
        *alice_args("--provider", "simulator", "--mode", "i2v", "--prompt", "x", "--input", *images)
    )

    assert run.code == 2
    assert "end_image: " in run.err and "at most 1 (got 2)" in run.err
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("user", "project", "message"),
    [
        ("alice", "no-such-project", "No project 'no-such-project'"),
        ("charlie", "spring-campaign", "No project 'spring-campaign'"),  # not his team's
        ("nobody", "spring-campaign", "No active user 'nobody'"),
        ("dave", "Spring campaign", "dave is a viewer of Acme"),
    ],
)
def test_an_unknown_user_or_project_or_a_viewer_is_refused(
    alice, charlie, dave, acme_project, generate, user, project, message
):
    run = generate(
        "--user", user, "--project", project, "--provider", "simulator", "--mode", "t2i", "--prompt", "x"
    )

    assert run.code == 2 and run.out == []
    assert message in run.err
    assert not Job.objects.exists()


def test_a_param_without_an_equals_sign_is_a_usage_error(alice, acme_project, generate):
    run = generate(
        *alice_args("--provider", "simulator", "--mode", "t2i", "--prompt", "x", "--param", "seed")
    )

    assert run.code == 2 and "expected key=value" in run.err
    assert not Job.objects.exists()


def test_a_vendor_without_a_key_is_refused(alice, acme_project, generate, monkeypatch):
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)

    run = generate(*alice_args("--provider", "dashscope", "--model", "wan2.6-t2v", "--prompt", "x"))

    assert run.code == 2 and "provider: Alibaba DashScope is not configured." in run.err


# -- every vendor against its fake on loopback ----------------------------------------------------


@contextlib.contextmanager
def fake_vendor(vendor: str) -> Iterator[tuple[dict[str, str], Any]]:
    """(environment pointing the vendor's client at its fake, the fake) for one vendor."""
    if vendor == "fal":
        with FakeFal(steps=("IN_PROGRESS",)) as fal:
            yield fal.environ, fal
    elif vendor == "dashscope":
        with FakeDashScope() as dashscope:
            yield {"DASHSCOPE_API_KEY": dashscope.api_key, "DASHSCOPE_BASE_URL": dashscope.url}, dashscope
    elif vendor == "aimlapi":
        with FakeAimlapi() as aimlapi:
            yield {"AIMLAPI_API_KEY": aimlapi.api_key, "AIMLAPI_BASE_URL": aimlapi.url}, aimlapi
    elif vendor == "apimart":
        with FakeServer() as server:
            apimart = FakeApimart(server)
            yield {"APIMART_API_KEY": apimart.api_key, "APIMART_BASE_URL": server.url}, apimart
    elif vendor == "lumenfall":
        with FakeServer() as server:
            lumenfall = FakeLumenfall(server)
            yield {"LUMENFALL_API_KEY": lumenfall.api_key, "LUMENFALL_BASE_URL": server.url}, lumenfall
    else:
        raise AssertionError(vendor)


@pytest.fixture
def vendor_env(monkeypatch, settings, fast_polls):
    """Start a vendor's fake and point the app (and the in-process worker) at it."""
    settings.ALLOW_PRIVATE_URLS = True  # the downloader refuses loopback otherwise
    with contextlib.ExitStack() as stack:

        def start(vendor: str):
            environ, fake = stack.enter_context(fake_vendor(vendor))
            for name, value in environ.items():
                monkeypatch.setenv(name, value)
            return fake

        yield start


# (vendor, model, mode or "", extra args, output kind, polled?) — modes that need no public input URL.
VENDOR_CASES = [
    ("fal", "wan/v2.6/text-to-video", "", ["--param", "duration=5", "resolution=720p"], "video", True),
    ("fal", "wan/v2.6/text-to-image", "", [], "image", True),
    ("dashscope", "wan2.6-t2v", "", ["--param", "size=1280x720", "duration=5"], "video", True),
    ("dashscope", "wan2.6-i2v-flash", "", ["--input", "frame.png"], "video", True),  # data URI
    ("dashscope", "wan2.6-t2i", "", [], "image", True),
    ("aimlapi", "alibaba/wan-2-6-t2v", "", ["--param", "duration=5"], "video", True),
    ("aimlapi", "alibaba/wan-2-6-image", "t2i", [], "image", False),  # synchronous
    ("apimart", "wan2.6", "t2v", ["--param", "duration=5", "audio=false"], "video", True),
    ("apimart", "wan2.6-i2v-flash", "", ["--input", "frame.png"], "video", True),  # data URI
    ("lumenfall", "wan-2.6", "t2v", ["--param", "duration=5"], "video", True),
    ("lumenfall", "wan-2.6", "t2i", [], "image", False),  # synchronous
    ("fal", "wan/v2.6/image-to-video", "", ["--input", "frame.png"], "video", True),
    ("aimlapi", "alibaba/wan-2-6-i2v", "", ["--input", "frame.png"], "video", True),
    ("aimlapi", "alibaba/wan-2-6-image", "edit", ["--input", "frame.png"], "image", False),
    ("lumenfall", "wan-2.6", "i2v", ["--input", "frame.png"], "video", True),
    ("lumenfall", "wan-2.6", "edit", ["--input", "frame.png"], "image", False),
    ("dashscope", "wan2.6-image", "", ["--input", "frame.png"], "image", True),
    ("fal", "wan/v2.6/image-to-image", "", ["--input", "frame.png"], "image", True),
]


@pytest.mark.parametrize(
    ("vendor", "model", "mode", "extra", "kind", "polled"),
    VENDOR_CASES,
    ids=[f"{c[0]}-{c[2] or c[1].rsplit('/', 1)[-1]}" for c in VENDOR_CASES],
)
def test_generate_wait_runs_a_job_end_to_end_against_each_vendors_fake(
    celery_worker_live,
    alice,
    acme_project,
    generate,
    vendor_env,
    tmp_path,
    vendor,
    model,
    mode,
    extra,
    kind,
    polled,
):
    vendor_env(vendor)
    extra = [png_file(tmp_path / "frame.png") if arg == "frame.png" else arg for arg in extra]

    run = generate(
        *alice_args("--provider", vendor, "--model", model, "--prompt", "A red fox runs through snow"),
        *(["--mode", mode] if mode else []),
        *extra,
        *("--timeout", "60", "--wait"),
    )

    [path] = assert_succeeded(run)
    if kind == "image":
        assert_image(path)
    else:
        assert_video(path)
    job = run.job
    assert (job.provider, job.model, job.status) == (vendor, model, JobStatus.SUCCEEDED)
    assert job.vendor_job_id
    calls = list(job.vendor_calls.values_list("operation", "http_status", "url"))
    operations = {operation for operation, _, _ in calls}
    assert operations == ({"submit", "poll", "download"} if polled else {"submit", "download"})
    assert all(200 <= status < 300 for _, status, _ in calls)  # Lumenfall answers a video create with 202
    assert all(url.startswith("http://127.0.0.1:") and "?" not in url for _, _, url in calls)


def test_a_fal_lora_model_gets_the_loras_param_parsed_from_json(
    celery_worker_live, alice, acme_project, generate, vendor_env
):
    fal = vendor_env("fal")
    loras = [{"path": "https://huggingface.co/some/lora.safetensors", "scale": 0.8}]

    run = generate(
        *alice_args("--provider", "fal", "--model", "fal-ai/wan/v2.2-a14b/text-to-video/lora"),
        *("--prompt", "A fox in the style of the lora", "--param", f"loras={json.dumps(loras)}"),
        *("--timeout", "60", "--wait"),
    )

    [path] = assert_succeeded(run)
    assert_video(path)
    assert run.job.params["loras"] == loras
    [sent] = [job.input for job in fal.jobs.values()]
    assert sent["loras"][0]["path"] == loras[0]["path"] and sent["loras"][0]["scale"] == 0.8


def test_a_vendor_failure_reaches_stderr_with_its_code(
    celery_worker_live, alice, acme_project, generate, vendor_env
):
    vendor_env("apimart").outcome = "failed"

    run = generate(
        *alice_args("--provider", "apimart", "--model", "wan2.6", "--mode", "t2v", "--prompt", "A fox"),
        *("--timeout", "60", "--wait"),
    )

    assert run.code == 1 and run.out[1:] == ["failed"]
    job = run.job
    assert job.error_code and f"{job.error_code}: {job.error_message}" in run.err
    assert not job.assets.filter(role=AssetRole.OUTPUT).exists()
    assert set(job.vendor_calls.values_list("operation", flat=True)) == {"submit", "poll"}


def test_wait_gives_up_at_the_timeout_and_says_the_job_goes_on(alice, acme_project, generate, monkeypatch):
    # No worker: the job stays queued (and no task is left in Redis for a later test's worker).
    monkeypatch.setattr(
        services, "job_submit_task", type("NoWorker", (), {"delay": staticmethod(lambda pk: None)})
    )
    run = generate(
        *alice_args("--provider", "simulator", "--mode", "t2i", "--prompt", "x", "--timeout", "0.6", "--wait")
    )

    assert run.code == 3
    assert run.out[1:] == ["queued"]
    assert "still queued after 0.6 s" in run.err
    assert run.job.status == JobStatus.QUEUED


# Modes whose inputs only travel as URLs for some vendors (DashScope/AI/ML API references, Lumenfall's
# source video, APIMart's custom audio), and fal's video and audio inputs: with INPUT_URLS_ENABLED the
# vendor gets signed URLs of our input files, which the test fetches back like a vendor would.
URL_INPUT_CASES = [
    ("fal", "fal-ai/wan/v2.2-a14b/video-to-video", "", ["clip.mp4"]),
    ("fal", "wan/v2.6/reference-to-video", "", ["clip.mp4"]),
    ("fal", "fal-ai/wan/v2.2-14b/speech-to-video", "", ["frame.png", "voice.wav"]),
    ("dashscope", "wan2.6-r2v", "", ["clip.mp4"]),
    ("aimlapi", "alibaba/wan-2-6-r2v", "", ["clip.mp4"]),
    ("lumenfall", "wan-2.6", "v2v", ["clip.mp4"]),
    ("apimart", "wan2.6", "t2v", ["voice.wav"]),
]


def _clip(path: Path, *, seconds: float = 2.5, fps: int = 16) -> str:
    """A real MP4 that meets every reference limit (≥ 16 fps, 2 s or more)."""
    from fractions import Fraction

    import av
    import numpy

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(
                numpy.full((96, 128, 3), (i * 7) % 255, dtype=numpy.uint8), format="rgb24"
            )
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return str(path)


def _voice(path: Path, *, seconds: float = 3.5, rate: int = 16000) -> str:
    import math
    import struct
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(
            b"".join(
                struct.pack("<h", int(6000 * math.sin(2 * math.pi * 220 * i / rate)))
                for i in range(int(seconds * rate))
            )
        )
    return str(path)


@pytest.mark.parametrize(
    ("vendor", "model", "mode", "inputs"),
    URL_INPUT_CASES,
    ids=[f"{c[0]}-{c[2] or c[1].rsplit('/', 1)[-1]}" for c in URL_INPUT_CASES],
)
def test_inputs_that_need_a_url_reach_the_vendor_as_signed_urls_of_our_files(
    celery_worker_live,
    live_server,
    settings,
    alice,
    acme_project,
    generate,
    vendor_env,
    tmp_path,
    vendor,
    model,
    mode,
    inputs,
):
    settings.INPUT_URLS_ENABLED = True
    settings.PUBLIC_BASE_URL = live_server.url
    fake = vendor_env(vendor)
    makers = {"clip.mp4": _clip, "voice.wav": _voice, "frame.png": png_file}
    paths = [makers[name](tmp_path / name) for name in inputs]

    run = generate(
        *alice_args("--provider", vendor, "--model", model, "--prompt", "Character1 walks through the rain"),
        *(["--mode", mode] if mode else []),
        "--input",
        *paths,
        *("--timeout", "60", "--wait"),
    )

    [path] = assert_succeeded(run)
    assert_video(path)
    # The vendor was handed URLs of our own input endpoint, and each serves exactly that input.
    server = fake.server if hasattr(fake, "server") else fake
    sent = b" ".join(request.body for request in server.requests if request.method == "POST")
    urls = sorted(set(re.findall(rb"http://[^\"\s]+/inputs/[^\"\s/]+/", sent)))
    assert urls, sent[:500]
    stored = {asset.sha256 for asset in run.job.assets.filter(role="input")}
    for url in urls:
        answer = httpx.get(url.decode())
        assert answer.status_code == 200 and hashlib.sha256(answer.content).hexdigest() in stored
