"""bench-net's pacing of offered load (`--rate`): requests spaced evenly, a bounded catch-up after a stall."""

from __future__ import annotations

import pytest

from tests.bench.bench_net import _Pacer


def test_requests_are_spaced_one_interval_apart() -> None:
    p = _Pacer(100.0, t0=10.0)
    delays = [p.delay(10.0) for _ in range(5)]  # five connections ask at once
    assert delays == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])


def test_a_stalled_worker_catches_up_by_at_most_50ms_of_requests() -> None:
    p = _Pacer(100.0, t0=0.0)
    assert p.delay(0.0) == 0.0
    # Every connection waited on an answer for 10 s: 1,000 slots went by unused.
    delays = [p.delay(10.0) for _ in range(8)]
    # the slots of the last 50 ms and the one due now go at once (not 1,000), then it is paced again
    assert delays == pytest.approx([-0.05, -0.04, -0.03, -0.02, -0.01, 0.0, 0.01, 0.02])


def test_the_rate_is_kept_over_a_long_run() -> None:
    p = _Pacer(250.0, t0=0.0)
    now = 0.0
    for _ in range(1000):
        now = max(now, now + p.delay(now))
    assert now == pytest.approx(999 / 250.0)
