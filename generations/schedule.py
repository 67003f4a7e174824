"""When to poll a vendor next: sparse while the job cannot be done yet, dense around its expected finish.

Plain functions, no database: the app hands in what it knows (the learned durations of recent
jobs of the same provider, model, mode, duration and resolution, or the catalog's prior; the
vendor's progress or queue position) and gets back the seconds until the next poll. The card's
ETA (`selectors.jobs_with_progress`) reads the same `Expectation`.

All durations are vendor processing seconds: from the vendor accepting the job (`submitted_at`)
to the poll or webhook that saw it finished.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIN_SAMPLES = 3  # fewer learned durations than this: the prior decides
DENSE_NARROW = 0.5  # seconds between polls from p25 to p90 when that window is narrow ...
DENSE_WIDE = 1.0  # ... and when it is wide (so a wide spread does not cost hundreds of polls)
NARROW_WINDOW = 10.0  # seconds: p90 - p25 up to this is "narrow"
MIN_DENSE = 2.0  # the dense window lasts at least this long (identical learned durations have none)
LATE = 1.5  # seconds between polls from p90 to p95
FIRST = 1.0  # the first poll after submit, whatever the schedule (a fast failure shows at once)
POLL_MAX = 30.0  # never longer: far below Redis' visibility timeout
QUEUE_SLOT = 3.0  # seconds to wait per job ahead of ours when the vendor tells its queue position


@dataclass(frozen=True)
class Expectation:
    """Quantiles of how long the vendor takes, in seconds after submit."""

    p25: float
    p50: float
    p90: float
    p95: float
    samples: int = 0  # learned durations behind it; 0 for the prior
    source: str = "prior"  # "history" | "prior" | "progress"


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of the values, linearly interpolated between the nearest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def from_samples(values: Sequence[float], *, minimum: int = MIN_SAMPLES) -> Expectation | None:
    """The learned expectation, or None with fewer than `minimum` durations."""
    clean = [float(v) for v in values if v is not None and v >= 0]
    if not clean or len(clean) < minimum:
        return None
    return Expectation(
        p25=quantile(clean, 0.25),
        p50=quantile(clean, 0.50),
        p90=quantile(clean, 0.90),
        p95=quantile(clean, 0.95),
        samples=len(clean),
        source="history",
    )


def shape_of(params: Mapping[str, Any]) -> str:
    """The part of the learning key that changes how long a job takes: `duration|resolution`.

    Resolution falls back to `size`; duration to `num_frames`/`fps`. At most 40 characters.
    """
    duration = params.get("duration")
    if duration is None and params.get("num_frames"):
        duration = f"{params.get('num_frames')}f@{params.get('fps') or ''}"
    resolution = params.get("resolution") or params.get("size") or ""
    return f"{duration if duration is not None else ''}|{resolution}"[:40]


def prior(*, mode: str, params: Mapping[str, Any], provider: str = "") -> Expectation:
    """What to expect before this install has finished any such job, from the catalog's terms.

    Images take seconds; a video takes roughly 20 s plus 8 s per output second at 720p, more at
    1080p, with a wide spread since nothing is known yet. The simulator says its own delay.
    """
    if provider == "simulator":
        try:
            median = max(0.5, float(params.get("sim_delay", 5)))
        except (TypeError, ValueError):
            median = 5.0
        return Expectation(p25=median * 0.9, p50=median, p90=median * 1.2, p95=median * 1.4)
    if mode in ("t2i", "edit"):
        median = 15.0
    else:
        try:
            seconds = float(params.get("duration") or 5)
        except (TypeError, ValueError):
            seconds = 5.0
        resolution = str(params.get("resolution") or params.get("size") or "").lower()
        scale = 1.8 if ("1080" in resolution or "1920" in resolution) else 1.0
        if "480" in resolution:
            scale = 0.6
        median = (20.0 + 8.0 * seconds) * scale
    return Expectation(p25=median * 0.6, p50=median, p90=median * 1.8, p95=median * 2.2)


def with_progress(expected: Expectation, *, elapsed: float, progress: int | None) -> Expectation:
    """The expectation once the vendor reports progress: its own linear estimate of the finish.

    Progress under 10 % or at 100 % says too little; the learned spread is kept around the estimate.
    """
    if progress is None or not 10 <= progress < 100 or elapsed <= 0:
        return expected
    total = elapsed * 100.0 / progress
    return Expectation(
        p25=max(elapsed, total * 0.92),
        p50=total,
        p90=total * 1.1,
        p95=total * 1.2,
        samples=expected.samples,
        source="progress",
    )


def next_delay(
    elapsed: float,
    expected: Expectation,
    *,
    queue_position: int | None = None,
    retry_after: float | None = None,
) -> float:
    """Seconds from now (`elapsed` seconds after submit) until the next poll.

    - Before p25: sparse, halving the distance to p25 each time (capped at POLL_MAX), so a poll
      lands on p25 itself.
    - p25 to p90 (at least MIN_DENSE s): every DENSE_NARROW (narrow window) or DENSE_WIDE seconds.
    - p90 to p95 (at least MIN_DENSE s more): every LATE seconds.
    - After p95: backing off in proportion to how late the job is, up to POLL_MAX.
    A queue position waits QUEUE_SLOT per job ahead; a vendor's Retry-After is always honoured.
    """
    elapsed = max(0.0, elapsed)
    dense_end = max(expected.p90, expected.p25 + MIN_DENSE)
    late_end = max(expected.p95, dense_end + MIN_DENSE)
    if elapsed < FIRST:
        delay = FIRST - elapsed
    elif elapsed < expected.p25:
        remaining = expected.p25 - elapsed
        delay = remaining if remaining <= 1.0 else min(POLL_MAX, max(1.0, remaining / 2.0))
    elif elapsed <= dense_end:
        delay = DENSE_NARROW if expected.p90 - expected.p25 <= NARROW_WINDOW else DENSE_WIDE
    elif elapsed <= late_end:
        delay = LATE
    else:
        delay = min(POLL_MAX, max(LATE, (elapsed - late_end) * 0.25))
    if queue_position:
        delay = max(delay, min(POLL_MAX, QUEUE_SLOT * queue_position))
    if retry_after:
        delay = max(delay, retry_after)
    return round(min(delay, 120.0), 3)


def poll_times(expected: Expectation, *, until: float, overhead: float = 0.0) -> list[float]:
    """The seconds after submit at which a chain following this schedule polls, up to `until`.

    For tests and the benchmark's reasoning: `overhead` adds a fixed task latency per poll.
    """
    times, now = [], FIRST
    while now <= until:
        times.append(round(now, 3))
        now += next_delay(now, expected) + overhead
    return times
