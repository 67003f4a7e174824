"""A small process supervisor for `make run` and `make serve`.

Each child runs in its own session (Ctrl-C in the terminal reaches only us, and we stop the
children in order). A child that exits while we are not stopping is started again after a
backoff (1 s, doubling up to 30 s; back to 1 s once it has stayed up for a minute), and that is
logged: a Celery worker killed by a broker hiccup or an OOM comes back, and web and beat keep
running meanwhile. SIGINT / SIGTERM stop every child: SIGTERM to each (last started first), then
SIGKILL to the process group of any still alive after the grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def log(message: str) -> None:
    print(f"[supervisor] {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    name: str
    command: Sequence[str]
    env: dict[str, str] | None = None
    cwd: Path | str | None = None
    stdout: int | None = None  # None: inherit our stdout; subprocess.DEVNULL to silence
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0  # exits in a row without staying up for `stable_after` seconds
    restart_at: float | None = None
    restarts: int = 0
    history: list[int] = field(default_factory=list)  # every pid this child has had

    def start(self) -> None:
        self.process = subprocess.Popen(
            list(self.command),
            env=self.env,
            cwd=self.cwd,
            stdout=self.stdout,
            stderr=subprocess.STDOUT if self.stdout is not None else None,
            start_new_session=True,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        self.history.append(self.process.pid)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    def __init__(
        self,
        *,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
        grace: float = 15.0,
        poll_interval: float = 0.25,
    ) -> None:
        self.children: list[Child] = []
        self.backoff, self.max_backoff, self.stable_after = backoff, max_backoff, stable_after
        self.grace, self.poll_interval = grace, poll_interval
        self._stop = threading.Event()

    def add(self, name: str, command: Sequence[str], **options) -> Child:
        child = Child(name, command, **options)
        self.children.append(child)
        return child

    def adopt(self, name: str, process: subprocess.Popen, **options) -> Child:
        """Supervise a process someone else started (the Redis services.py starts): same command on restart."""
        child = Child(name, process.args, **options)
        child.process, child.started_at = process, time.monotonic()
        child.history.append(process.pid)
        self.children.append(child)
        return child

    def start(self) -> None:
        for child in self.children:
            if child.process is None:
                child.start()

    def stop(self, *_args) -> None:
        """Ask run() to stop every child and return (safe from a signal handler or another thread)."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)

    def check(self) -> None:
        """One round: note children that died, restart those whose backoff is over."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at and not self._stop.is_set():
                    child.restarts += 1
                    child.start()
                    log(f"{child.name} restarted (pid {child.process.pid}, restart #{child.restarts})")
                continue
            if child.process is None or child.alive:
                continue
            _kill_group(child.process)  # what it leaves behind (pool processes, gunicorn workers) goes too
            uptime = now - child.started_at
            child.failures = 1 if uptime >= self.stable_after else child.failures + 1
            delay = min(self.backoff * 2 ** (child.failures - 1), self.max_backoff)
            child.restart_at = now + delay
            log(
                f"{child.name} exited with status {child.process.returncode} after {uptime:.1f} s; "
                f"restarting in {delay:.1f} s"
            )

    def run(self, on_started: Callable[[], None] | None = None) -> int:
        """Start every child, keep them up until stop(), then stop them all. Returns 0."""
        self.start()
        if on_started is not None:
            on_started()
        try:
            while not self._stop.wait(self.poll_interval):
                self.check()
        finally:
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        log("stopping...")
        for child in reversed(self.children):
            if child.alive:
                child.process.terminate()
        deadline = time.monotonic() + self.grace
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{child.name} did not stop within {self.grace:.0f} s; killing it")
                _kill_group(child.process)
                child.process.wait(timeout=5)
        # Anything the children left behind in their own sessions (a Celery pool process, a
        # gunicorn worker whose master was killed) goes too.
        for child in self.children:
            if child.process is not None:
                _kill_group(child.process)
        log("stopped.")


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
