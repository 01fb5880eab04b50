"""Request totals and the sliding window the threshold alerts read: exact "p95 above T", cheap to record."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from otel_distro._internal.request_stats import RequestStats, Window, quantile


def test_the_window_counts_only_what_happened_within_it() -> None:
    stats = RequestStats(slow_after=1.0)
    window = Window(seconds=10)
    assert window.observe(0, stats.totals()).requests == 0
    for _ in range(4):
        stats.record(0.01, error=False)
    stats.record(2.0, error=True)
    first = window.observe(5, stats.totals())
    assert (first.requests, first.errors, first.slow) == (5, 1, 1)
    assert first.error_rate == 0.2
    stats.record(0.01, error=False)
    later = window.observe(12, stats.totals())  # the reading at 0 left the window: the one at 5 is the base
    assert (later.requests, later.errors, later.slow) == (1, 0, 0)
    assert window.observe(30, stats.totals()).requests == 0


def test_quantile_interpolates_within_the_bucket() -> None:
    bounds = (1.0, 2.0, 4.0)
    assert quantile(0.5, [0, 10, 0, 0], bounds) == 1.5
    assert quantile(0.95, [0, 0, 0, 3], bounds) == 4.0  # the open bucket answers with the highest bound
    assert quantile(0.5, [0, 0, 0, 0], bounds) is None


@given(
    durations=st.lists(st.floats(min_value=0, max_value=20, allow_nan=False), min_size=1, max_size=200),
    threshold=st.sampled_from([0.05, 0.5, 1.0, 5.0, 7.0]),
)
def test_slow_share_above_5_percent_is_exactly_p95_above_threshold(durations: list[float], threshold: float) -> None:
    stats = RequestStats(slow_after=threshold)
    for seconds in durations:
        stats.record(seconds, error=False)
    ordered = sorted(durations)
    p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]  # nearest rank
    assert (stats.slow / stats.requests > 0.05) == (p95 > threshold)


def test_a_window_no_longer_than_the_interval_still_has_a_baseline() -> None:
    # OTEL_DISTRO_HEALTH_INTERVAL=5m with the default 5 min window, each run a little late: the previous reading
    # is just outside the window; without it as the baseline every run saw no requests and nothing ever fired
    stats = RequestStats(slow_after=1.0)
    window = Window(seconds=300)
    window.observe(0, stats.totals())
    for _ in range(10):
        stats.record(0.01, error=True)
    late = window.observe(300.05, stats.totals())
    assert (late.requests, late.errors) == (10, 10)
    longer = Window(seconds=60)  # an interval longer than the window: the window is one interval long
    longer.observe(0, stats.totals())
    stats.record(0.01, error=True)
    assert longer.observe(120, stats.totals()).errors == 1
