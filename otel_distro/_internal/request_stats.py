"""Running request totals for the threshold alerts, and the sliding window they are read over.

The request middleware calls `RequestStats.record` once per finished request (quiet paths excluded): a
comparison, a bisect and three increments, no lock (the middleware runs on the event loop). The health monitor
reads the totals once per interval; `Window` keeps those readings for the alert window and answers with the
difference between now and the oldest reading inside it: requests, errors, and how many were slower than the
latency threshold.

"p95 above T" is decided exactly, without a quantile estimate: the 95th percentile (nearest rank) of n requests
exceeds T exactly when more than 5 % of them took longer than T. The p95 value itself, for the alert's text, is
estimated from the semantic-convention buckets (as Prometheus' ``histogram_quantile`` would).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass

from otel_distro._internal import state
from otel_distro._internal.fastpath.request_duration import DURATION_BUCKETS

__all__ = ["RequestStats", "Totals", "Window", "WindowStats", "request_stats"]


@dataclass(frozen=True, slots=True)
class Totals:
    """Cumulative counts since the process started (only differences between two readings mean anything)."""

    requests: int = 0
    errors: int = 0
    slow: int = 0
    buckets: tuple[int, ...] = ()


class RequestStats:
    """Request, error and slow-request counts, and duration bucket counts, since the process started."""

    __slots__ = ("_bounds", "buckets", "errors", "requests", "slow", "slow_after")

    def __init__(self, slow_after: float) -> None:
        self.slow_after = slow_after
        self._bounds = DURATION_BUCKETS
        self.requests = 0
        self.errors = 0
        self.slow = 0
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)

    def record(self, seconds: float, error: bool) -> None:
        """One finished request that took ``seconds``; ``error``: a 5xx answer or an unhandled exception."""
        self.requests += 1
        if error:
            self.errors += 1
        if seconds > self.slow_after:
            self.slow += 1
        self.buckets[bisect_left(self._bounds, seconds)] += 1

    def totals(self) -> Totals:
        return Totals(self.requests, self.errors, self.slow, tuple(self.buckets))


_stats: RequestStats | None = None


def request_stats() -> RequestStats:
    """The process's request totals (slow = longer than ``OTEL_DISTRO_ALERT_LATENCY_P95``)."""
    global _stats  # noqa: PLW0603
    if _stats is None:
        _stats = RequestStats(state.settings().alert_latency_p95)
    return _stats


def reset_request_stats() -> None:
    """Start again from zero with the settings in force (tests)."""
    global _stats  # noqa: PLW0603
    _stats = None


@dataclass(frozen=True, slots=True)
class WindowStats:
    """What happened within the window: counts, the error rate, the share of slow requests, and the p95
    estimate (seconds, None without requests)."""

    requests: int
    errors: int
    slow: int
    p95_estimate: float | None
    span_s: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def slow_rate(self) -> float:
        return self.slow / self.requests if self.requests else 0.0


class Window:
    """Readings of `Totals` over the last ``seconds``; each `observe` answers for the window ending now."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._readings: deque[tuple[float, Totals]] = deque()

    def observe(self, now: float, totals: Totals) -> WindowStats:
        readings = self._readings
        readings.append((now, totals))
        # The oldest reading still inside the window is the baseline (the window is at most `seconds` long,
        # and one interval shorter at worst: keep the window several intervals long). With no other reading
        # inside it (an interval as long as the window, or longer), the previous reading is.
        while len(readings) > 2 and readings[0][0] < now - self.seconds:
            readings.popleft()
        start, base = readings[0]
        if start == now:  # the first reading: nothing to compare with yet
            return WindowStats(0, 0, 0, None, 0.0)
        buckets = [b - a for a, b in zip(base.buckets or (0,) * len(totals.buckets), totals.buckets, strict=True)]
        requests = totals.requests - base.requests
        return WindowStats(
            requests=requests,
            errors=totals.errors - base.errors,
            slow=totals.slow - base.slow,
            p95_estimate=quantile(0.95, buckets),
            span_s=now - start,
        )


def quantile(q: float, buckets: list[int], bounds: tuple[float, ...] = DURATION_BUCKETS) -> float | None:
    """The ``q`` quantile of explicit-bucket counts, interpolated linearly inside its bucket (the last,
    unbounded bucket answers with the highest bound); None without observations."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            if index == len(bounds):
                return bounds[-1]
            lower = bounds[index - 1] if index > 0 else 0.0
            return lower + (bounds[index] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1]
