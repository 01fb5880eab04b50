"""The retry schedule: exponential backoff with jitter, as otelcol's ``retry_on_failure`` (cenkalti/backoff)."""

from __future__ import annotations

import random
from collections.abc import Callable

from collector.sending.settings import RetrySettings

__all__ = ["Backoff"]


class Backoff:
    """Intervals ``initial * multiplier**n`` capped at ``max_interval``, each randomised by
    ``± randomization_factor``. One instance per batch being retried."""

    def __init__(self, settings: RetrySettings, rand: Callable[[], float] = random.random) -> None:
        self._settings = settings
        self._rand = rand
        self._current = settings.initial_interval

    def next(self) -> float:
        s = self._settings
        interval = self._current
        self._current = min(self._current * s.multiplier, s.max_interval)
        jitter = s.randomization_factor * (2.0 * self._rand() - 1.0)
        return max(0.0, interval * (1.0 + jitter))
