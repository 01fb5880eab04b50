"""``batch``: merges small batches into bigger ones — the one stateful stage of a pipeline.

A batch is sent on when ``send_batch_size`` items are pending, or ``timeout`` after the first pending item
arrived; with ``send_batch_max_size`` bigger ones are cut to that size. The request whose data fills a batch
waits while it is handed on (natural pacing); everyone else returns at once. A batch the next stage refuses
is counted as dropped and logged, as in otelcol: put a persistent queue *behind* this processor and data is
only in memory here for up to ``timeout``.
"""

from __future__ import annotations

import asyncio
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from collector.component import Consumer, CreateSettings
from collector.config_types import Duration
from collector.memory import LEDGER
from collector.pdata import Batch, Signal, split
from collector.sending.sender import ITEM_UNITS

__all__ = ["SIGNALS", "TYPE", "BatchProcessor", "Config", "create"]

TYPE = "batch"
SIGNALS = frozenset(Signal)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    send_batch_size: int = Field(default=8192, ge=0, description="items that trigger a send (0: timeout only)")
    send_batch_max_size: int = Field(default=0, ge=0, description="upper bound on a batch's items (0: none)")
    timeout: Duration = Field(default=0.2, description="send after this long even if not full (0: no wait)")

    @model_validator(mode="after")
    def _max_not_below_size(self) -> Self:
        if self.send_batch_max_size and self.send_batch_max_size < self.send_batch_size:
            raise ValueError(
                f"send_batch_max_size ({self.send_batch_max_size}) must be 0 or >= send_batch_size "
                f"({self.send_batch_size})"
            )
        return self


class BatchProcessor:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._config = config
        self._log = settings.logger
        self._telemetry = settings.telemetry
        self._attrs = {"processor": str(settings.id)}
        self._next: Consumer | None = None
        self._pending: list[Batch] = []
        self._pending_items = 0
        self._component = f"processor/{settings.id}"
        self._held = 0  # bytes of the pending batches, reported to `collector.memory`
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def bind(self, next: Consumer) -> None:
        self._next = next

    async def start(self) -> None:
        if self._next is None:
            raise RuntimeError("batch processor started before it was bound to the next stage")

    async def consume(self, batch: Batch) -> None:
        n = batch.item_count()
        if self._config.timeout == 0 and not self._config.send_batch_max_size:
            await self._send(batch)
            return
        self._pending.append(batch)
        self._pending_items += n
        self._held += LEDGER.hold(self._component, batch.byte_size())
        size = self._config.send_batch_size
        if size and self._pending_items >= size:
            await self._flush("size")
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._config.timeout, self._on_timeout)

    def _on_timeout(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._flush("timeout"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, trigger: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending, self._pending_items = self._pending, [], 0
        held, self._held = self._held, 0
        try:
            await self._send_pending(pending, trigger)
        finally:  # handed on (the next stage counts what it keeps), or dropped
            LEDGER.release(self._component, held)

    async def _send_pending(self, pending: list[Batch], trigger: str) -> None:
        if not pending:
            return
        self._telemetry.add(f"otelcol_processor_batch_{trigger}_trigger_send", 1, self._attrs,
                            description=f"Batches sent because of the {trigger}")
        for group in _groups(pending, self._config.send_batch_max_size):
            try:
                merged = [group[0] if len(group) == 1 else Batch.merge(group[0].signal, group)]
            except Exception as exc:  # one bad request must not take the others' data with it: one by one
                self._log.error("batch_merge_failed", error=str(exc), batches=len(group))
                merged = group
            for batch in merged:
                try:
                    parts = split(batch, self._config.send_batch_max_size)
                except Exception as exc:
                    self._dropped(batch, exc)
                    continue
                for part in parts:
                    await self._send(part)

    async def _send(self, batch: Batch) -> None:
        if self._next is None:
            raise RuntimeError("batch processor is not bound to a next stage")
        try:
            await self._next.consume(batch)
        except Exception as exc:
            self._dropped(batch, exc)

    def _dropped(self, batch: Batch, exc: Exception) -> None:
        n = batch.item_count()
        self._telemetry.add(f"otelcol_processor_dropped_{ITEM_UNITS[batch.signal]}", n, self._attrs,
                            description="Items dropped by a processor")
        self._log.error("batch_send_failed", error=str(exc), dropped_items=n)

    async def shutdown(self) -> None:
        """Flush what is pending (the pipeline shuts down upstream-first, so the next stage still runs)."""
        await self._flush("shutdown")
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _groups(pending: list[Batch], max_items: int) -> list[list[Batch]]:
    """Consecutive runs of whole batches of at most ``max_items`` items together (0: one run): merged as
    bytes, only a batch bigger than ``max_items`` on its own has to be decoded and cut."""
    if not max_items:
        return [pending]
    groups: list[list[Batch]] = []
    current: list[Batch] = []
    room = max_items
    for batch in pending:
        n = batch.item_count()
        if current and n > room:
            groups.append(current)
            current, room = [], max_items
        current.append(batch)
        room -= n
    if current:
        groups.append(current)
    return groups


def create(settings: CreateSettings, config: Config) -> BatchProcessor:
    return BatchProcessor(settings, config)
