"""The timed fake fal (bench/_pipeline.py) in a process of its own, so its CPU is not the worker's.

Prints one JSON line (the FAL_* environment that points at it), then serves until stdin closes.
"""

from __future__ import annotations

import json
import sys

import _pipeline as pipeline


def main() -> int:
    with pipeline.TimedFal() as fake:
        print(json.dumps(fake.environ), flush=True)
        sys.stdin.read()  # the parent closes our stdin (or exits) to stop us
    return 0


if __name__ == "__main__":
    sys.exit(main())
