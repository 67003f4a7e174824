"""The timed fake fal (bench/_pipeline.py TimedFal) in a process of its own, so its CPU is not the bench's.

Prints one JSON line with the environment the app needs (FAL_QUEUE_URL ...), then serves until
killed. `GET /bench/stats` answers the counts the bench reads at the end.

    python bench/_timed_fal_process.py
"""

from __future__ import annotations

import json
import signal
import sys
import threading

import _pipeline as pipeline


class _Forget(list):
    """The fake server keeps every request for tests' assertions: a long bench needs none of them."""

    def append(self, item) -> None:
        pass


def main() -> int:
    fake = pipeline.TimedFal()
    with fake:
        fake.server.requests = _Forget()
        fake.server.route(
            "GET",
            r"/bench/stats",
            lambda request: (200, {"status_calls": fake.status_calls, "submits": len(fake.submitted_at)}),
        )
        print(json.dumps(fake.environ), flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *args: stop.set())
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
