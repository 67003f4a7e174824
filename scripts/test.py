"""`make test`'s pytest step: make sure Redis is there (REDIS_URL, :6379, or one we start), then run pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from services import ROOT, ensure_redis  # noqa: E402


def main() -> int:
    redis_url, redis_process = ensure_redis()
    env = dict(os.environ, REDIS_URL=redis_url)
    try:
        return subprocess.run([sys.executable, "-m", "pytest", *sys.argv[1:]], env=env, cwd=ROOT).returncode
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
