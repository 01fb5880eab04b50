"""What the collector holds in memory, in bytes of OTLP data, by component: the measure ``memory_limiter`` uses.

The places that keep data report it here: the receivers (a request's body from the moment it is read until the
pipeline returned), ``batch`` (its pending batches, until flushed on), the in-memory sending queues (a batch from
``put`` until its consumer settled it). Persistent queues keep their data on disk and do not count.

A count, not a measurement: it drops the moment data is let go, unlike the process's RSS, which CPython does
not give back to the system. ``held()`` is a read of one integer; `hold` and `release` are O(1) under a lock,
so they may be called from worker threads too.

The process has one `Ledger`, `LEDGER`. Memory limiters register their limits on it (`Ledger.limit`): the
receivers ask `Ledger.refusal` before reading a body, so an overloaded collector answers 503 without taking
the bytes in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["LEDGER", "Holding", "Ledger", "Limits"]


class Limits:
    """A memory limiter's limits in held bytes: refuse above ``soft``; never take a request past ``hard``."""

    __slots__ = ("hard", "soft")

    def __init__(self, hard: int, soft: int) -> None:
        self.hard = hard
        self.soft = soft


class Ledger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = 0
        self._by: dict[str, int] = {}
        self._limits: dict[int, Limits] = {}  # by id of the limiter that registered them
        self._soft = 0  # the lowest registered limits (0: none)
        self._hard = 0

    # -- accounting --

    def hold(self, component: str, nbytes: int) -> int:
        """``component`` now keeps ``nbytes`` more; returns ``nbytes``, the amount to `release` later."""
        if nbytes > 0:
            with self._lock:
                self._held += nbytes
                self._by[component] = self._by.get(component, 0) + nbytes
        return nbytes

    def release(self, component: str, nbytes: int) -> None:
        """``component`` let ``nbytes`` go (exactly what its `hold` returned)."""
        if nbytes > 0:
            with self._lock:
                self._held -= nbytes
                left = self._by.get(component, 0) - nbytes
                if left:
                    self._by[component] = left
                else:
                    self._by.pop(component, None)

    @contextmanager
    def holding(self, component: str, nbytes: int = 0) -> Iterator[Holding]:
        """Hold ``nbytes`` (and whatever is added to the handle) until the block exits, however it exits."""
        handle = Holding(self, component)
        handle.add(nbytes)
        try:
            yield handle
        finally:
            handle.close()

    def held(self) -> int:
        """Bytes held right now, by every component."""
        return self._held

    def by_component(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by)

    # -- limits --

    def limit(self, owner: object, limits: Limits | None) -> None:
        """Register (or, with None, withdraw) ``owner``'s limits; the lowest registered apply to `refusal`."""
        with self._lock:
            if limits is None:
                self._limits.pop(id(owner), None)
            else:
                self._limits[id(owner)] = limits
            self._soft = min((lim.soft for lim in self._limits.values()), default=0)
            self._hard = min((lim.hard for lim in self._limits.values()), default=0)

    def refusal(self, incoming: int = 0) -> str | None:
        """Why a request of ``incoming`` bytes (0: size unknown) must be refused now, or None to accept it:
        the data held is above a limiter's soft limit, or the request would take it past the hard limit."""
        if not self._soft:
            return None
        held = self._held
        if held > self._soft:
            return f"the collector holds {held} bytes of data, above the memory limiter's soft limit ({self._soft})"
        if held + incoming > self._hard:
            return (f"a request of {incoming} bytes would take the data held ({held} bytes) past the memory "
                    f"limiter's hard limit ({self._hard})")
        return None


class Holding:
    """What one user holds: added to as it takes more, released at once by `close` (idempotent)."""

    __slots__ = ("_component", "_ledger", "nbytes")

    def __init__(self, ledger: Ledger, component: str) -> None:
        self._ledger = ledger
        self._component = component
        self.nbytes = 0

    def add(self, nbytes: int) -> None:
        self.nbytes += self._ledger.hold(self._component, nbytes)

    def close(self) -> None:
        nbytes, self.nbytes = self.nbytes, 0
        self._ledger.release(self._component, nbytes)


LEDGER = Ledger()
