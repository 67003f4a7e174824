"""scripts/supervisor.py: a dead child comes back after a backoff; stopping stops every child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from supervisor import Supervisor  # noqa: E402

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _wait(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_a_killed_child_is_restarted_and_the_others_keep_running():
    supervisor = Supervisor(backoff=0.1, max_backoff=0.5, grace=5, poll_interval=0.05)
    worker = supervisor.add("worker", SLEEPER)
    web = supervisor.add("web", SLEEPER)
    runner = threading.Thread(target=supervisor.run, daemon=True)
    runner.start()
    try:
        assert _wait(lambda: worker.alive and web.alive)
        first_worker, first_web = worker.process.pid, web.process.pid
        os.kill(first_worker, signal.SIGKILL)
        assert _wait(lambda: worker.restarts == 1 and worker.alive), "the worker was not restarted"
        assert worker.process.pid != first_worker
        assert web.process.pid == first_web and web.alive, "web went down with the worker"
        # A second death in a row waits longer (backoff doubles).
        os.kill(worker.process.pid, signal.SIGKILL)
        assert _wait(lambda: worker.restarts == 2 and worker.alive)
        assert worker.failures == 2
    finally:
        supervisor.stop()
        runner.join(timeout=10)
    assert not runner.is_alive()
    assert all(_gone(pid) for child in (worker, web) for pid in child.history)


def test_sigterm_stops_every_child(tmp_path):
    """The way `make serve` is stopped by systemd or Docker: SIGTERM to the supervisor process."""
    pids = tmp_path / "pids"
    script = tmp_path / "stack.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'scripts')!r})\n"
        "from supervisor import Supervisor\n"
        "s = Supervisor(backoff=0.1, grace=5, poll_interval=0.05)\n"
        f"for name in ('worker', 'beat', 'web'): s.add(name, {SLEEPER!r})\n"
        "s.install_signal_handlers()\n"
        f"def started(): open({str(pids)!r}, 'w').write(' '.join(str(c.process.pid) for c in s.children))\n"
        "sys.exit(s.run(on_started=started))\n"
    )
    process = subprocess.Popen([sys.executable, str(script)])
    try:
        assert _wait(lambda: pids.exists() and len(pids.read_text().split()) == 3)
        children = [int(pid) for pid in pids.read_text().split()]
        assert not any(_gone(pid) for pid in children)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert _wait(lambda: all(_gone(pid) for pid in children)), "a child outlived the supervisor"
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("uptime, failures_before, expected", [(0.5, 0, 1), (0.5, 1, 2), (120, 5, 1)])
def test_backoff_resets_after_a_stable_run(uptime, failures_before, expected):
    supervisor = Supervisor(backoff=1, max_backoff=30, stable_after=60)
    child = supervisor.add("worker", ["true"])
    child.process = subprocess.Popen(["true"])
    child.process.wait()
    child.started_at = time.monotonic() - uptime
    child.failures = failures_before
    supervisor.check()
    assert child.failures == expected
    assert child.restart_at - time.monotonic() == pytest.approx(min(2 ** (expected - 1), 30), abs=0.5)
