"""The bounded in-process buffer and the thread that flushes it to the store.

Events wait in a deque. The flush thread writes them, in batches of ``batch_size``, when that many are waiting,
when the oldest has waited ``flush_interval``, when `EventBuffer.flush` asks, and at `EventBuffer.close`. Adding
is a lock, a length check and an append: it never waits for the database.

* Full buffer: the policy is **drop newest** — an event that finds ``capacity`` events waiting is not taken
  (`add` returns False and the drop is counted as ``reason="buffer_full"``); the events already accepted stay.
  `add_all` takes a whole batch or none of it, so the browser route can answer 503 and the client resend.
* A write that fails because the database is away keeps its events at the front and is retried with backoff
  (1 s doubling to ``max_backoff``). A batch the database refuses for its data is written row by row, and only
  the rows refused on their own are dropped (``reason="invalid"``), so one bad event cannot block the rest.
* `close` writes what it can within its time budget; what is still waiting then is dropped
  (``reason="shutdown"``) and logged as ``analytics_events_lost`` with the count.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otel_distro.analytics._event import AnalyticsEvent

__all__ = ["BufferHooks", "EventBuffer"]

_log = logging.getLogger("otel_distro.analytics")


@dataclass(frozen=True, slots=True)
class BufferHooks:
    """What the buffer reports: events written, events dropped (with the reason)."""

    stored: Callable[[Sequence[AnalyticsEvent]], None] = lambda events: None
    dropped: Callable[[Sequence[AnalyticsEvent], str], None] = lambda events, reason: None


class EventBuffer:
    """Args:
        write: writes a batch (one transaction) or raises; runs on the flush thread only.
        retryable: whether a failure of ``write`` may pass later as it is (else the rows are at fault).
        batch_size: events that start a flush, and the most written per call.
        flush_interval: seconds the oldest event waits at most (when the database answers).
        capacity: most events waiting; beyond it new events are dropped.
        max_backoff: longest wait between retries of a failing write.
    """

    def __init__(
        self,
        write: Callable[[Sequence[AnalyticsEvent]], None],
        *,
        retryable: Callable[[BaseException], bool] = lambda error: True,
        batch_size: int = 100,
        flush_interval: float = 300.0,
        capacity: int = 10_000,
        max_backoff: float = 60.0,
        hooks: BufferHooks | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._retryable = retryable
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.capacity = capacity
        self._max_backoff = max_backoff
        self._hooks = hooks or BufferHooks()
        self._clock = clock
        self._cond = threading.Condition(threading.RLock())
        self._pending: deque[AnalyticsEvent] = deque()
        self._oldest_at = 0.0
        self._added = 0  # events ever taken
        self._done = 0  # events ever written or dropped after being taken
        self._flush_target = 0  # write at least up to this sequence number now, backoff or not
        self._failures = 0  # consecutive failed writes
        self._failed_writes = 0  # failed writes ever
        self._retry_at = 0.0
        self._last_error: str | None = None
        self._closing = False
        self._thread: threading.Thread | None = None
        self._pid = 0

    # -- adding (any thread, never waits for the database) -------------------------------------------------

    def add(self, event: AnalyticsEvent) -> bool:
        """Take ``event``; False when the buffer is full (or closed) and the event was dropped."""
        return self.add_all([event])

    def add_all(self, events: Sequence[AnalyticsEvent]) -> bool:
        """Take every event of ``events`` or, when they do not all fit (or the buffer is closed), none: each is
        counted as dropped (``buffer_full``, or ``shutdown``)."""
        with self._cond:
            closing = self._closing
            if closing or len(self._pending) + len(events) > self.capacity:
                taken = False
            else:
                if not self._pending:
                    self._oldest_at = self._clock()
                self._pending.extend(events)
                self._added += len(events)
                self._ensure_thread()
                if len(self._pending) >= self.batch_size:
                    self._cond.notify_all()
                taken = True
        if not taken and events:
            self._hooks.dropped(events, "shutdown" if closing else "buffer_full")
        return taken

    def room(self) -> int:
        """How many more events fit now."""
        with self._cond:
            return 0 if self._closing else self.capacity - len(self._pending)

    def __len__(self) -> int:
        with self._cond:
            return len(self._pending)

    @property
    def last_error(self) -> str | None:
        """The type of the last failed write's error while writes are failing; None once one succeeds."""
        return self._last_error

    # -- flushing --------------------------------------------------------------------------------------------

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write everything taken so far, now (a backoff in progress is cut short). True when all of it was
        written (or dropped as invalid); False when a write failed or ``timeout`` passed — the events then stay
        buffered and are retried."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            target = self._added
            if self._done >= target:
                return True
            self._flush_target = max(self._flush_target, target)
            failed_before = self._failed_writes
            self._ensure_thread()
            self._cond.notify_all()
            while self._done < target:
                if self._failed_writes > failed_before:
                    return False
                remaining = None if deadline is None else deadline - self._clock()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(1.0 if remaining is None else min(remaining, 1.0))
            return True

    def close(self, timeout: float = 10.0) -> int:
        """Stop taking events, write what is waiting within ``timeout`` seconds, stop the thread. Returns how
        many events were lost (dropped as ``shutdown``)."""
        with self._cond:
            if self._closing and self._thread is None:
                return 0
        deadline = self._clock() + timeout
        while not self.flush(max(0.0, deadline - self._clock())):
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            time.sleep(min(1.0, remaining))  # the database is away: try again until the budget is spent
        with self._cond:
            self._closing = True
            thread, self._thread = self._thread, None
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            # A write in progress ends first: its events are stored, not lost.
            thread.join(timeout=max(0.1, min(timeout, 5.0)))
        with self._cond:
            lost = list(self._pending)
            self._pending.clear()
            self._done += len(lost)
        if lost:
            self._hooks.dropped(lost, "shutdown")
            _log.error("analytics_events_lost", extra={"count": len(lost), "reason": "shutdown",
                                                       "error_type": self._last_error})
        return len(lost)

    # -- the flush thread ------------------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        """(Under the lock.) Start the flush thread, again in a forked child, where it does not exist."""
        pid = os.getpid()
        if self._thread is not None and self._pid == pid and self._thread.is_alive():
            return
        if self._closing:
            return
        self._pid = pid
        self._thread = threading.Thread(target=self._run, name="otel-distro-analytics", daemon=True)
        self._thread.start()

    def _due(self, now: float) -> bool:
        """(Under the lock.) Whether a write should start now."""
        if not self._pending:
            return False
        if self._flush_target > self._done:
            return True
        if now < self._retry_at:
            return False
        if self._failures:
            return True  # a write that failed was due: retry it when its backoff is over
        return len(self._pending) >= self.batch_size or now - self._oldest_at >= self.flush_interval

    def _wait_time(self, now: float) -> float:
        if not self._pending:
            return 3600.0
        due = self._oldest_at + self.flush_interval
        if len(self._pending) >= self.batch_size or self._failures:
            due = now
        return max(0.01, max(due, self._retry_at) - now)

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self._cond:
                while self._thread is me and not self._due(self._clock()):
                    self._cond.wait(self._wait_time(self._clock()))
                if self._thread is not me:
                    return
                batch = [self._pending[i] for i in range(min(self.batch_size, len(self._pending)))]
            self._write_batch(batch)

    def _write_batch(self, batch: list[AnalyticsEvent]) -> None:
        try:
            self._write(batch)
        except Exception as error:
            if self._retryable(error):
                self._failed(error)
                return
            stored, refused = self._write_one_by_one(batch)
            if stored is None:
                return
            self._finished(batch, stored, refused)
            return
        self._finished(batch, batch, [])

    def _write_one_by_one(
        self, batch: list[AnalyticsEvent]
    ) -> tuple[list[AnalyticsEvent] | None, list[AnalyticsEvent]]:
        stored: list[AnalyticsEvent] = []
        refused: list[AnalyticsEvent] = []
        for event in batch:
            try:
                self._write([event])
            except Exception as error:
                if self._retryable(error):
                    # The database went away meanwhile: keep the whole batch (rows stored already are skipped
                    # by the insert-or-ignore when it is written again).
                    self._failed(error)
                    return None, []
                refused.append(event)
                _log.error("analytics_event_refused", extra={"event_name": event.name, "event_id": event.id,
                                                             "error_type": type(error).__name__})
            else:
                stored.append(event)
        return stored, refused

    def _finished(self, batch: list[AnalyticsEvent], stored: list[AnalyticsEvent],
                  refused: list[AnalyticsEvent]) -> None:
        with self._cond:
            written = min(len(batch), len(self._pending))  # fewer when close gave up waiting for this write
            for _ in range(written):
                self._pending.popleft()
            self._done += written
            recovered = self._failures > 0
            self._failures = 0
            self._retry_at = 0.0
            self._last_error = None
            self._cond.notify_all()
        if recovered:
            _log.info("analytics_flush_recovered", extra={"stored": len(stored)})
        if stored:
            self._hooks.stored(stored)
        if refused:
            self._hooks.dropped(refused, "invalid")

    def _failed(self, error: BaseException) -> None:
        with self._cond:
            self._failures += 1
            self._failed_writes += 1
            self._flush_target = min(self._flush_target, self._done)  # a waiting `flush` gets False; no spinning
            backoff = min(self._max_backoff, 2.0 ** (self._failures - 1))
            self._retry_at = self._clock() + backoff
            self._last_error = type(error).__name__
            first = self._failures == 1
            pending = len(self._pending)
            self._cond.notify_all()
        level = logging.WARNING if first else logging.DEBUG
        _log.log(level, "analytics_flush_failed", extra={"error_type": type(error).__name__, "pending": pending,
                                                          "retry_in_s": backoff, "attempt": self._failures})
