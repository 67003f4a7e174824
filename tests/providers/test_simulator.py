from __future__ import annotations

import io
import json
import time
from pathlib import Path

import av
import pytest
from PIL import Image

from providers.base import (
    Client,
    ErrorCode,
    GenerationRequest,
    MediaInfo,
    MediaInput,
    Mode,
    ProviderError,
    Status,
    Submission,
)
from providers.registry import get_client
from providers.simulator import (
    FAULTS,
    FINAL_FAULTS,
    POLL_FAULTS,
    SUBMIT_FAULTS,
    SimulatorClient,
    render_video,
)


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock, tmp_path: Path) -> SimulatorClient:
    return SimulatorClient(clock=clock, state_dir=tmp_path / "sim")


def png(size: tuple[int, int] = (320, 240), color: tuple[int, int, int] = (10, 200, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def wav(seconds: float = 2.0) -> bytes:
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))
    return buffer.getvalue()


def mp4() -> bytes:
    state = {"mode": "t2v", "seed": 3, "params": {"duration": 1}, "prompt": "input clip", "model": "wan-sim"}
    return render_video(state, 160, 96)


def inputs_for(mode: Mode) -> list[MediaInput]:
    if mode in (Mode.EDIT, Mode.I2V, Mode.R2V):
        return [MediaInput(slot="image", content_type="image/png", data=png((400, 300)))]
    if mode == Mode.V2V:
        return [MediaInput(slot="video", content_type="video/mp4", data=mp4())]
    if mode == Mode.S2V:
        info = MediaInfo(kind="audio", format="wav", content_type="audio/wav", size_bytes=1, duration=2.0)
        return [
            MediaInput(slot="image", content_type="image/png", data=png((240, 320))),
            MediaInput(slot="audio", content_type="audio/wav", data=wav(2.0), info=info),
        ]
    return []


def request(
    mode: Mode = Mode.T2I, prompt: str = "a red fox in the snow", key: str = "job-1", **params
) -> GenerationRequest:
    params.setdefault("sim_delay", 0.2)
    return GenerationRequest(
        provider="simulator",
        model="wan-sim",
        mode=mode,
        prompt=prompt,
        params=params,
        inputs=inputs_for(mode),
        idempotency_key=key,
    )


def persisted(submission: Submission) -> Submission:
    """The submission as the app stores and reloads it: state through JSON."""
    return Submission(
        provider=submission.provider,
        vendor_job_id=submission.vendor_job_id,
        state=json.loads(json.dumps(submission.state)),
    )


def finish(client: SimulatorClient, clock: FakeClock, submission: Submission):
    clock.advance(float(submission.state["delay"]) + 0.01)
    return client.poll(submission)


def decode_video(data: bytes) -> tuple[float, int, list[str], tuple[int, int]]:
    with av.open(io.BytesIO(data)) as container:
        duration = container.duration / av.time_base
        kinds = [stream.type for stream in container.streams]
        video = container.streams.video[0]
        size = (video.codec_context.width, video.codec_context.height)
        frames = sum(1 for _ in container.decode(video=0))
    return duration, frames, kinds, size


def test_it_is_a_client_the_registry_builds_without_arguments() -> None:
    simulator = get_client("simulator")
    assert isinstance(simulator, SimulatorClient)
    assert isinstance(simulator, Client)
    assert simulator.name == "simulator"


@pytest.mark.parametrize("mode", [Mode.T2I, Mode.EDIT])
def test_image_modes_make_pngs_that_open(client: SimulatorClient, clock: FakeClock, mode: Mode) -> None:
    submission = client.submit(request(mode, num_outputs=2, size="640*480"))
    update = finish(client, clock, submission)
    assert update.status == Status.SUCCEEDED
    assert len(update.outputs) == 2
    for output in update.outputs:
        assert output.kind == "image" and output.content_type == "image/png"
        image = Image.open(io.BytesIO(output.data))
        assert image.format == "PNG"
        assert image.size == (640, 480)
        image.load()


def test_an_edit_without_a_size_keeps_the_input_aspect(client: SimulatorClient, clock: FakeClock) -> None:
    update = finish(client, clock, client.submit(request(Mode.EDIT)))
    width, height = Image.open(io.BytesIO(update.outputs[0].data)).size
    assert abs(width / height - 400 / 300) < 0.02


@pytest.mark.parametrize("mode", [Mode.T2V, Mode.I2V, Mode.V2V, Mode.R2V, Mode.S2V])
def test_video_modes_make_mp4s_that_decode(client: SimulatorClient, clock: FakeClock, mode: Mode) -> None:
    submission = client.submit(request(mode, duration=3, resolution="480p", aspect_ratio="16:9"))
    update = finish(client, clock, submission)
    assert update.status == Status.SUCCEEDED
    [output] = update.outputs
    assert output.kind == "video" and output.content_type == "video/mp4"
    duration, frames, kinds, size = decode_video(output.data)
    assert duration == pytest.approx(3.0, abs=0.15)
    assert frames >= 10
    assert size[1] == 480 and abs(size[0] / size[1] - 16 / 9) < 0.02
    # Speech to video always carries the (simulated) speech track; the others only when asked.
    assert ("audio" in kinds) is (mode == Mode.S2V)


def test_speech_to_video_lasts_as_long_as_the_audio_when_no_duration_is_given(
    client: SimulatorClient, clock: FakeClock
) -> None:
    update = finish(client, clock, client.submit(request(Mode.S2V)))
    duration, _, kinds, _ = decode_video(update.outputs[0].data)
    assert duration == pytest.approx(2.0, abs=0.15)
    assert "audio" in kinds


def test_a_video_with_audio_on_has_an_aac_track_of_the_full_length(
    client: SimulatorClient, clock: FakeClock
) -> None:
    update = finish(
        client, clock, client.submit(request(Mode.T2V, duration=5, audio=True, aspect_ratio="9:16"))
    )
    data = update.outputs[0].data
    duration, _, kinds, (width, height) = decode_video(data)
    assert kinds.count("audio") == 1
    assert width < height
    with av.open(io.BytesIO(data)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert float(audio.duration * audio.time_base) == pytest.approx(5.0, abs=0.1)
    assert duration == pytest.approx(5.0, abs=0.1)


def test_a_long_video_reports_its_real_duration_with_few_frames(
    client: SimulatorClient, clock: FakeClock
) -> None:
    update = finish(client, clock, client.submit(request(Mode.T2V, duration=15)))
    duration, frames, _, _ = decode_video(update.outputs[0].data)
    assert duration == pytest.approx(15.0, abs=0.2)
    assert frames <= 60


def test_a_five_second_480p_clip_with_audio_is_made_in_well_under_a_second(
    client: SimulatorClient, clock: FakeClock
) -> None:
    submission = client.submit(request(Mode.T2V, duration=5, resolution="480p", audio=True))
    clock.advance(1)
    started = time.perf_counter()
    update = client.poll(submission)
    elapsed = time.perf_counter() - started
    assert update.status == Status.SUCCEEDED
    assert elapsed < 2.0  # typically ~0.2 s; generous for slow CI machines


def test_progress_rises_with_time_and_the_delay_is_honoured(
    client: SimulatorClient, clock: FakeClock
) -> None:
    submission = client.submit(request(Mode.T2I, sim_delay=0.2))
    assert client.poll(submission).status == Status.QUEUED
    progress = []
    for _ in range(4):
        clock.advance(0.045)
        update = client.poll(submission)
        assert update.status == Status.RUNNING
        progress.append(update.progress)
    assert progress == sorted(progress) and len(set(progress)) == 4
    assert progress[0] > 0 and progress[-1] < 100
    clock.advance(0.02)
    update = client.poll(submission)
    assert update.status == Status.SUCCEEDED and update.progress == 100


def test_the_delay_runs_on_the_wall_clock(tmp_path: Path) -> None:
    client = SimulatorClient(state_dir=tmp_path)
    submission = client.submit(request(Mode.T2I, sim_delay=0.2))
    assert client.poll(submission).status in (Status.QUEUED, Status.RUNNING)
    time.sleep(0.25)
    assert client.poll(submission).status == Status.SUCCEEDED


def test_any_worker_can_poll_a_job_from_its_persisted_state(clock: FakeClock, tmp_path: Path) -> None:
    submission = persisted(SimulatorClient(clock=clock).submit(request(Mode.EDIT)))
    clock.advance(1)
    other_worker = SimulatorClient(clock=clock, state_dir=tmp_path)
    update = other_worker.poll(submission)
    assert update.status == Status.SUCCEEDED
    Image.open(io.BytesIO(update.outputs[0].data)).load()


def test_it_returns_the_requested_seed(client: SimulatorClient, clock: FakeClock) -> None:
    update = finish(client, clock, client.submit(request(seed=1234)))
    assert update.seed == 1234


def test_it_picks_a_seed_and_keeps_it(client: SimulatorClient, clock: FakeClock) -> None:
    submission = client.submit(request())
    seed = client.poll(submission).seed
    assert isinstance(seed, int)
    assert finish(client, clock, submission).seed == seed


def test_prompt_expansion_reports_an_expanded_prompt(client: SimulatorClient, clock: FakeClock) -> None:
    expanded = finish(client, clock, client.submit(request(prompt="a cat", prompt_expansion=True)))
    plain = finish(client, clock, client.submit(request(prompt="a cat", prompt_expansion=False)))
    assert expanded.actual_prompt is not None
    assert expanded.actual_prompt.startswith("a cat") and "expanded" in expanded.actual_prompt
    assert plain.actual_prompt is None


def test_cancel_is_accepted_and_poll_reports_it(client: SimulatorClient, clock: FakeClock) -> None:
    submission = client.submit(request(Mode.T2V))
    assert client.cancel(submission) is True
    clock.advance(10)
    assert client.poll(persisted(submission)).status == Status.CANCELED


def test_cancel_after_success_is_refused(client: SimulatorClient, clock: FakeClock) -> None:
    submission = client.submit(request())
    finish(client, clock, submission)
    assert client.cancel(submission) is False


def test_the_state_is_plain_json(client: SimulatorClient) -> None:
    for mode in Mode:
        submission = client.submit(request(mode, loras=[{"path": "x", "scale": 1.0}]))
        assert json.loads(json.dumps(submission.state)) == submission.state
        assert len(json.dumps(submission.state)) < 50_000  # a thumbnail, never the input itself


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("timeout", ErrorCode.TIMEOUT),
        ("html_body", ErrorCode.BAD_RESPONSE),
        ("malformed_json", ErrorCode.BAD_RESPONSE),
        ("truncated_body", ErrorCode.BAD_RESPONSE),
        ("slow_body", ErrorCode.TIMEOUT),
        ("redirect_loop", ErrorCode.BAD_RESPONSE),
        ("unknown_status", ErrorCode.UNKNOWN_STATUS),
    ],
)
def test_transient_poll_faults_fail_then_clear_after_the_count(
    clock: FakeClock, tmp_path: Path, fault: str, code: ErrorCode
) -> None:
    submission = persisted(
        SimulatorClient(clock=clock).submit(request(Mode.T2I, sim_fault=fault, sim_fault_count=2))
    )
    clock.advance(1)
    for _ in range(2):
        # A fresh client and state reloaded from JSON each time: a different worker per retry.
        with pytest.raises(ProviderError) as excinfo:
            SimulatorClient(clock=clock, state_dir=tmp_path).poll(submission)
        assert excinfo.value.code == code
        assert excinfo.value.transient
        submission = persisted(submission)
    update = SimulatorClient(clock=clock, state_dir=tmp_path).poll(submission)
    assert update.status == Status.SUCCEEDED


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [("rate_limited", ErrorCode.RATE_LIMITED, 429), ("server_error", ErrorCode.SERVER_ERROR, 503)],
)
def test_submit_faults_fail_then_clear_per_idempotency_key_across_processes(
    clock: FakeClock, tmp_path: Path, fault: str, code: ErrorCode, status: int
) -> None:
    req = request(Mode.T2V, key="job-42", sim_fault=fault, sim_fault_count=2)
    for _ in range(2):
        with pytest.raises(ProviderError) as excinfo:
            SimulatorClient(clock=clock, state_dir=tmp_path).submit(req)
        assert excinfo.value.code == code and excinfo.value.transient
        assert excinfo.value.http_status == status
        if fault == "rate_limited":
            assert excinfo.value.retry_after and excinfo.value.retry_after > 0
    submission = SimulatorClient(clock=clock, state_dir=tmp_path).submit(req)
    assert (
        finish(SimulatorClient(clock=clock, state_dir=tmp_path), clock, submission).status == Status.SUCCEEDED
    )
    # Another job's key has its own count.
    with pytest.raises(ProviderError):
        SimulatorClient(clock=clock, state_dir=tmp_path).submit(
            request(Mode.T2V, key="job-43", sim_fault=fault, sim_fault_count=2)
        )


def test_submit_fault_counts_live_in_the_state_dir_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIMULATOR_STATE_DIR", str(tmp_path / "from-env"))
    with pytest.raises(ProviderError):
        SimulatorClient().submit(request(sim_fault="rate_limited"))
    assert list((tmp_path / "from-env").iterdir())
    SimulatorClient().submit(request(sim_fault="rate_limited"))


@pytest.mark.parametrize(
    ("fault", "code"), [("content_policy", "content_policy"), ("vendor_failed", "vendor_failed")]
)
def test_failing_faults_report_a_failed_job_when_it_would_have_finished(
    client: SimulatorClient, clock: FakeClock, fault: str, code: str
) -> None:
    submission = client.submit(request(Mode.T2V, sim_fault=fault))
    clock.advance(0.1)
    assert client.poll(submission).status == Status.RUNNING
    update = finish(client, clock, submission)
    assert update.status == Status.FAILED
    assert update.error is not None and update.error.code == code and update.error.permanent
    assert update.outputs == []


@pytest.mark.parametrize(
    ("fault", "code"),
    [("missing_result", ErrorCode.RESULT_MISSING), ("result_expired", ErrorCode.RESULT_EXPIRED)],
)
def test_result_faults_raise_permanent_errors(
    client: SimulatorClient, clock: FakeClock, fault: str, code: str
) -> None:
    submission = client.submit(request(Mode.T2I, sim_fault=fault))
    clock.advance(0.1)
    assert client.poll(submission).status == Status.RUNNING
    with pytest.raises(ProviderError) as excinfo:
        finish(client, clock, submission)
    assert excinfo.value.code == code and excinfo.value.permanent


def test_fault_none_behaves_normally(client: SimulatorClient, clock: FakeClock) -> None:
    assert finish(client, clock, client.submit(request(sim_fault="none"))).status == Status.SUCCEEDED


def test_an_unknown_fault_is_an_invalid_request(client: SimulatorClient) -> None:
    with pytest.raises(ProviderError) as excinfo:
        client.submit(request(sim_fault="gremlins"))
    assert excinfo.value.code == ErrorCode.INVALID_REQUEST and excinfo.value.permanent


def test_every_fault_is_covered_by_exactly_one_phase() -> None:
    phases = [SUBMIT_FAULTS, POLL_FAULTS, FINAL_FAULTS]
    assert set().union(*phases) | {"none"} == FAULTS
    assert sum(len(phase) for phase in phases) + 1 == len(FAULTS)
    assert len(FAULTS) == 14
