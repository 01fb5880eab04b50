"""Per-client rate limits for the browser routes: a token bucket per client address, a bounded table of them."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """``per_minute`` units a minute per client, in bursts of up to ``per_minute``.

    `take` answers 0 when the units were taken, else the whole seconds to wait (for ``Retry-After``). The
    least recently seen clients are forgotten beyond ``max_clients`` (they start with a full bucket again).
    """

    def __init__(self, per_minute: int, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, client: str, units: int = 1) -> int:
        if self.per_minute <= 0:
            return 0
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - at) * self._rate)
            if tokens >= units:
                tokens -= units
                wait = 0
            else:
                wait = max(1, math.ceil((units - tokens) / self._rate))
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        return wait
