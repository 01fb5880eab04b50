"""The sender every push exporter sits behind: queue -> retry -> timeout -> export (otelcol's exporterhelper).

This is the one place that acts on an export's outcome, classified by the exporter as it raised:

* success: the items are counted as sent;
* `PermanentError`: counted as failed, logged, dropped — retrying cannot help;
* `RetryableError` (or a timeout): backed off — the backend's ``retry_after`` wins over the schedule — and
  retried with ``RetryableError.batch`` (the part still to send) when set, until ``max_elapsed_time``. Then a
  persistent queue takes the data back (nothing accepted is dropped) and the consumer pauses for the delay it
  would have waited, so a backend that is down is not hammered; a memory queue counts the data failed.
  With a partial ``RetryableError`` the part no longer in ``batch`` counts as sent, but for its
  ``rejected_items``, which count as failed.

A consumer task never dies of an error: anything unexpected is logged and the item goes back to a persistent
queue (or is counted failed with a memory queue).

Once the pipeline starts shutting down (`Sender.begin_drain`, after the receivers stopped) a full queue makes
the stages still flushing (``batch``) wait for room instead of being refused. On shutdown the queue stops
accepting; a memory queue is drained (each batch gets its current attempt, backoff waits end early), a
persistent queue keeps what is left on disk for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from dataclasses import dataclass
from typing import Any

from collector.component import ComponentID, Exporter, NoopTelemetry, Telemetry
from collector.errors import PermanentError, Refused, RetryableError
from collector.pdata import Batch, Signal
from collector.sending.backoff import Backoff
from collector.sending.queue import MemoryQueue, Queue, QueueClosed, QueueFull
from collector.sending.settings import SenderSettings

__all__ = ["ITEM_UNITS", "Outcome", "Sender"]

ITEM_UNITS = {Signal.TRACES: "spans", Signal.METRICS: "metric_points", Signal.LOGS: "log_records"}


class Outcome(enum.Enum):
    SENT = "sent"
    DROPPED = "dropped"  # permanently rejected, or retries ran out without a persistent queue
    GAVE_UP = "gave_up"  # retries ran out (or shutdown): back to a persistent queue


@dataclass(slots=True)
class _Left:
    """What an export that did not go through left behind: the part still to send, and the delay before the
    next try that the retry loop did not wait for."""

    batch: Batch | None = None
    pause: float = 0.0


class Sender:
    """A `Consumer` in front of one exporter instance (one exporter id, one signal)."""

    def __init__(
        self,
        id: ComponentID,
        signal: Signal,
        exporter: Exporter,
        settings: SenderSettings,
        *,
        queue: Queue | None = None,
        telemetry: Telemetry | None = None,
        logger: Any = None,
    ) -> None:
        self.id = id
        self.signal = signal
        self.exporter = exporter
        self.settings = settings
        self._telemetry = telemetry or NoopTelemetry()
        self._log = logger
        self._unit = ITEM_UNITS[signal]
        self._attrs = {"exporter": str(id)}
        # one exporter id has a queue per signal: otelcol tells their gauges apart by data_type
        self._queue_attrs = {**self._attrs, "data_type": signal.value}
        q = settings.sending_queue
        self._persistent = queue is not None
        memory = MemoryQueue(q.queue_size, f"exporter/{id}/{signal.value}") if q.enabled else None
        self.queue: Queue | None = queue if queue is not None else memory
        self._workers: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._draining = False
        self._cancelled_items = 0  # items a cancelled consumer held

    # -- lifecycle --

    async def start(self) -> None:
        await self.exporter.start()
        if self.queue is not None:
            try:
                await self.queue.open()
            except (OSError, RuntimeError) as exc:
                await self.exporter.shutdown()  # started above: its sessions are not left open
                raise RuntimeError(f"exporters::{self.id}::sending_queue::storage: {exc}") from exc
            self._gauge_queue()
            self._telemetry.set("otelcol_exporter_queue_capacity", self.queue.capacity, self._queue_attrs,
                                description="Fixed capacity of the sending queue, in batches")
            self._workers = [
                asyncio.create_task(self._work(self.queue), name=f"sender-{self.id}-{self.signal}-{i}")
                for i in range(self.settings.sending_queue.num_consumers)
            ]

    def begin_drain(self) -> None:
        """The receivers have stopped: what is still flushed in waits for room in a full queue (nothing
        upstream can retry it any more) instead of being refused."""
        self._draining = True

    async def shutdown(self) -> None:
        if self.queue is not None:
            # A memory queue drains: each batch left gets one attempt (waits between retries end at once).
            # A persistent queue stops: what is left stays on disk for the next start.
            await self.queue.close(drain=not self._persistent)
            self._stopping.set()
            await asyncio.gather(*self._workers, return_exceptions=True)
        await self.exporter.shutdown()

    async def abandon(self, grace: float = 1.0) -> int:
        """The shutdown deadline passed: stop now. Returns the items lost — what a memory queue and its
        consumers still held (counted as failed); a persistent queue keeps everything on disk (0)."""
        self._stopping.set()
        lost = 0
        if self.queue is not None:  # closed and emptied first: a consumer that outlives its cancel (a wait that
            if isinstance(self.queue, MemoryQueue):  # ended as it came) takes nothing more to a hung backend
                lost += self.queue.discard()
            with contextlib.suppress(Exception):
                await self.queue.close(drain=False)
        for task in self._workers:
            task.cancel()
        if self._workers:
            await asyncio.wait(self._workers, timeout=grace)
        lost += 0 if self._persistent else self._cancelled_items
        if lost:
            self._telemetry.add(f"otelcol_exporter_send_failed_{self._unit}", lost, self._attrs,
                                description="Items that failed to be sent and were dropped")
            if self._log is not None:
                self._log.error("export_failed", exporter=str(self.id), signal=self.signal.value,
                                reason="shutdown_deadline", error="the shutdown deadline passed", dropped_items=lost)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.exporter.shutdown(), grace)
        return lost

    # -- the pipeline side --

    async def consume(self, batch: Batch) -> None:
        if self.queue is None:
            outcome = await self._send(batch)
            if outcome is Outcome.GAVE_UP:
                raise Refused(f"exporter {self.id} could not send the data", retry_after=5.0)
            return
        try:
            await self.queue.put(batch, block=self.settings.sending_queue.block_on_overflow or self._draining)
        except (QueueFull, QueueClosed) as exc:
            self._telemetry.add(f"otelcol_exporter_enqueue_failed_{self._unit}", batch.item_count(), self._attrs,
                                description="Items that could not be added to the sending queue")
            raise Refused(str(exc) or "sending queue closed", retry_after=1.0) from None
        self._gauge_queue()

    # -- the consumer side --

    def _gauge_queue(self) -> None:
        if self.queue is not None:
            self._telemetry.set("otelcol_exporter_queue_size", len(self.queue), self._queue_attrs,
                                description="Current size of the sending queue, in batches")

    async def _work(self, queue: Queue) -> None:
        while True:
            try:
                item = await queue.get()
            except QueueClosed:
                return
            self._gauge_queue()
            left = _Left()
            try:
                outcome = await self._send(item.batch, left)
            except asyncio.CancelledError:
                self._cancelled_items += item.batch.item_count()  # lost unless a persistent queue keeps it
                queue.nack(item)
                raise
            except Exception as exc:  # a bug in the loop itself: keep the consumer, keep the data if we can
                self._log_error("sender_unexpected_error", exc, exc_info=True)
                left.pause = max(left.pause, self.settings.retry_on_failure.initial_interval)
                outcome = self._give_up(left.batch or item.batch, exc, "unexpected_error")
            try:
                if outcome is Outcome.GAVE_UP and self._persistent:
                    queue.nack(item, left.batch)
                else:
                    queue.ack(item)
            except Exception as exc:
                self._log_error("sending_queue_settle_failed", exc, exc_info=True)
            self._gauge_queue()
            if outcome is Outcome.GAVE_UP and left.pause > 0 and not self._stopping.is_set():
                # Back in the queue, the data is taken up again at once: wait as the retry loop would have.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), left.pause)

    async def _send(self, batch: Batch, left: _Left | None = None) -> Outcome:
        """The retry loop (the only one): export until sent, dropped, or given up."""
        retry = self.settings.retry_on_failure
        backoff = Backoff(retry)
        started = time.monotonic()
        timeout = self.settings.timeout or None
        while True:
            attempt = time.monotonic()
            try:
                async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancellation
                    await self.exporter.export(batch)
            except PermanentError as exc:
                n = exc.rejected_items if exc.rejected_items is not None else batch.item_count()
                self._failed(batch, n, "permanent", exc)
                return Outcome.DROPPED
            except (RetryableError, TimeoutError, OSError) as exc:
                error: Exception = exc
            except Exception as exc:  # an unclassified exporter error: retried, and logged with its traceback
                self._log_error("exporter_unexpected_error", exc, exc_info=True)
                error = exc
            else:
                self._telemetry.observe("otelcol_exporter_send_latency_seconds", time.monotonic() - attempt,
                                        self._attrs, description="Duration of successful export calls")
                self._telemetry.add(f"otelcol_exporter_sent_{self._unit}", batch.item_count(), self._attrs,
                                    description="Items successfully sent")
                return Outcome.SENT

            retry_after: float | None = None
            if isinstance(error, RetryableError):
                retry_after = error.retry_after
                if error.batch is not None:
                    self._partly_sent(batch, error.batch, error.rejected_items, error)
                    batch = error.batch
            delay = retry_after if retry_after is not None else backoff.next()
            if left is not None:
                left.batch, left.pause = batch, delay
            if not retry.enabled:
                return self._give_up(batch, error, "retry_disabled")
            elapsed = time.monotonic() - started
            if retry.max_elapsed_time and elapsed + delay > retry.max_elapsed_time:
                return self._give_up(batch, error, "retries_exhausted")
            if self._stopping.is_set():
                return self._give_up(batch, error, "shutting_down")
            self._log_warning(error, delay)
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except TimeoutError:
                continue
            return self._give_up(batch, error, "shutting_down")

    def _partly_sent(self, batch: Batch, rest: Batch, rejected: int, error: Exception) -> None:
        """Count what a partial failure settled: the items no longer in ``rest`` were sent, but ``rejected``."""
        settled = max(0, batch.item_count() - rest.item_count())
        rejected = min(rejected, settled)
        if rejected:
            self._failed(batch, rejected, "permanent", error)
        if settled - rejected:
            self._telemetry.add(f"otelcol_exporter_sent_{self._unit}", settled - rejected, self._attrs,
                                description="Items successfully sent")

    def _give_up(self, batch: Batch, error: Exception, reason: str) -> Outcome:
        if self._persistent:
            if self._log is not None:
                self._log.warning("export_requeued", exporter=str(self.id), signal=self.signal.value,
                                  reason=reason, error=str(error), items=batch.item_count())
            return Outcome.GAVE_UP
        self._failed(batch, batch.item_count(), reason, error)
        return Outcome.DROPPED if self.queue is not None else Outcome.GAVE_UP

    def _failed(self, batch: Batch, items: int, reason: str, error: Exception) -> None:
        self._telemetry.add(f"otelcol_exporter_send_failed_{self._unit}", items, self._attrs,
                            description="Items that failed to be sent and were dropped")
        if self._log is not None:
            self._log.error("export_failed", exporter=str(self.id), signal=self.signal.value, reason=reason,
                            error=str(error), dropped_items=items)

    def _log_warning(self, error: Exception, delay: float) -> None:
        if self._log is not None:
            self._log.warning("export_retrying", exporter=str(self.id), signal=self.signal.value,
                              error=str(error) or type(error).__name__, retry_in_seconds=round(delay, 3))

    def _log_error(self, event: str, error: Exception, *, exc_info: bool = False) -> None:
        if self._log is not None:
            self._log.error(event, exporter=str(self.id), signal=self.signal.value, error=str(error),
                            exc_info=exc_info)
