"""The learned poll schedule (generations/schedule.py): plain functions, no database."""

from __future__ import annotations

import pytest

from generations import schedule
from generations.schedule import Expectation


def _learned(center: float, spread: float = 0.5) -> Expectation:
    values = [center - spread + i * (2 * spread / 19) for i in range(20)]
    expected = schedule.from_samples(values)
    assert expected is not None and expected.source == "history"
    return expected


def test_quantiles_interpolate_between_ranks():
    assert schedule.quantile([10, 20, 30, 40, 50], 0.25) == 20
    assert schedule.quantile([10, 20], 0.5) == 15
    assert schedule.from_samples([1.0, 2.0]) is None  # too few: the prior decides


@pytest.mark.parametrize("duration", [30.0, 120.0])
def test_with_a_narrow_learned_distribution_polls_are_sparse_then_dense_around_the_finish(duration):
    expected = _learned(duration)
    times = schedule.poll_times(expected, until=duration + 5)
    early = [t for t in times if t < expected.p25]
    dense = [t for t in times if expected.p25 <= t <= expected.p90]
    # Sparse early: a handful of polls, each gap at most POLL_MAX, the last one close to p25.
    assert len(early) <= 10
    assert max(b - a for a, b in zip(early, early[1:], strict=False)) <= schedule.POLL_MAX
    assert expected.p25 - early[-1] <= 1.0 + 1e-9
    # Dense from p25 to p90: no gap over DENSE_NARROW there, so a finish is seen within half a second.
    assert dense and dense[0] == pytest.approx(expected.p25, abs=1e-3)
    assert all(b - a <= schedule.DENSE_NARROW + 1e-9 for a, b in zip(dense, dense[1:], strict=False))
    # A 120 s job matching what was learned is found in at most 20 polls.
    finish = expected.p50
    polls_until_seen = len([t for t in times if t < finish]) + 1
    assert polls_until_seen <= 20
    seen_at = next(t for t in times if t >= finish)
    assert seen_at - finish <= schedule.DENSE_NARROW + 1e-9


def test_a_wide_distribution_polls_every_second_inside_it_not_every_half():
    expected = Expectation(p25=60, p50=90, p90=150, p95=170, samples=20, source="history")
    assert schedule.next_delay(100, expected) == schedule.DENSE_WIDE
    assert schedule.next_delay(160, expected) == schedule.LATE


def test_after_p95_it_backs_off_with_lateness_up_to_the_cap():
    expected = _learned(30.0)
    delays = [schedule.next_delay(t, expected) for t in (40, 60, 100, 400)]
    assert delays == sorted(delays) and delays[0] > schedule.LATE
    assert delays[-1] == schedule.POLL_MAX


def test_without_history_the_catalogs_prior_is_used():
    fast = schedule.prior(mode="t2v", params={"duration": 5, "resolution": "720p"})
    slow = schedule.prior(mode="t2v", params={"duration": 15, "resolution": "1080p"})
    image = schedule.prior(mode="t2i", params={})
    assert image.p50 < fast.p50 < slow.p50 and fast.source == "prior" and fast.samples == 0
    assert fast.p25 < fast.p50 < fast.p90 < fast.p95
    sim = schedule.prior(mode="t2v", params={"sim_delay": 8}, provider="simulator")
    assert sim.p50 == 8
    times = schedule.poll_times(fast, until=fast.p95)
    assert times[0] == schedule.FIRST
    assert min(t for t in times if t >= fast.p25) == pytest.approx(fast.p25, abs=1e-3)


def test_progress_moves_the_expected_finish_and_a_queue_position_slows_polling():
    expected = _learned(120.0)
    # 50 % after 20 s: the vendor says it will be done at about 40 s, not 120.
    moved = schedule.with_progress(expected, elapsed=20, progress=50)
    assert moved.source == "progress" and moved.p50 == pytest.approx(40)
    assert schedule.next_delay(20, moved) < schedule.next_delay(20, expected)
    assert schedule.with_progress(expected, elapsed=20, progress=5) is expected  # too early to say
    assert schedule.next_delay(5, expected, queue_position=6) >= 6 * schedule.QUEUE_SLOT - 1e-9
    assert schedule.next_delay(100, expected, retry_after=20) == 20


def test_the_shape_is_duration_and_resolution():
    assert schedule.shape_of({"duration": 5, "resolution": "720p", "seed": 1}) == "5|720p"
    assert schedule.shape_of({"size": "1280x720"}) == "|1280x720"
    assert schedule.shape_of({"num_frames": 81, "fps": 16}) == "81f@16|"
