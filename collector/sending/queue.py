"""The in-memory sending queue, and the interface the persistent queue shares with it.

A queue holds batches between the pipeline (``put``) and the sender's consumers (``get``). A consumer that took
an item settles it exactly once: ``ack`` (sent, or dropped for good) or ``nack`` (give it back; only the
persistent queue keeps such items, the memory queue lets them go).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from collector.memory import LEDGER
from collector.pdata import Batch

__all__ = ["Item", "MemoryQueue", "Queue", "QueueClosed", "QueueFull"]


class QueueFull(Exception):
    """No room for another batch (the pipeline answers the client with back-pressure)."""


class QueueClosed(Exception):
    """The queue is closed and, for a draining queue, empty."""


@dataclass(slots=True)
class Item:
    batch: Batch
    key: object = None  # the persistent queue's handle on the stored copy
    held: int = 0  # the memory queue: bytes reported to `collector.memory` until the item is settled


class Queue(Protocol):
    @property
    def capacity(self) -> int: ...

    def __len__(self) -> int: ...

    async def open(self) -> None: ...

    def put_nowait(self, batch: Batch) -> None:
        """Enqueue or raise `QueueFull`. Once it returns, the queue owns the batch."""
        ...

    async def put(self, batch: Batch, *, block: bool = True) -> None:
        """Enqueue; with ``block`` wait for room (``block_on_overflow``), else raise `QueueFull`. Once it
        returns, the queue owns the batch (the persistent queue: it is on disk)."""
        ...

    async def get(self) -> Item:
        """The next item, waiting for one; raises `QueueClosed` once closed (and drained)."""
        ...

    def ack(self, item: Item) -> None: ...

    def nack(self, item: Item, batch: Batch | None = None) -> None:
        """Give an item back (``batch``: what is left of it to send)."""
        ...

    async def close(self, *, drain: bool) -> None:
        """Stop accepting. With ``drain`` the consumers get what is left first, else they stop now."""
        ...


class MemoryQueue:
    """A bounded FIFO in memory: lost on a crash, drained on a clean shutdown. Its batches count as held
    (`collector.memory`) from ``put`` until their consumer settles them (``ack``, ``nack``) or `discard`."""

    def __init__(self, capacity: int, name: str = "sending_queue") -> None:
        self._capacity = capacity
        self._name = name
        self._queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=capacity)
        self._closed = False
        self._drain = True
        self._closed_event = asyncio.Event()

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return self._queue.qsize()

    async def open(self) -> None:
        return None

    def put_nowait(self, batch: Batch) -> None:
        if self._closed:
            raise QueueClosed("the sending queue is shut down")
        item = self._item(batch)
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._settle(item)
            raise QueueFull(f"sending queue is full ({self._capacity} batches)") from None

    async def put(self, batch: Batch, *, block: bool = True) -> None:
        if not block:
            self.put_nowait(batch)
            return
        if self._closed:
            raise QueueClosed("the sending queue is shut down")
        item = self._item(batch)
        try:
            await self._queue.put(item)
        except BaseException:
            self._settle(item)
            raise

    def _item(self, batch: Batch) -> Item:
        return Item(batch, held=LEDGER.hold(self._name, batch.byte_size()))

    def _settle(self, item: Item) -> None:
        held, item.held = item.held, 0
        LEDGER.release(self._name, held)

    async def get(self) -> Item:
        while True:
            if self._closed and (not self._drain or self._queue.empty()):
                raise QueueClosed
            if not self._queue.empty():
                return self._queue.get_nowait()
            getter = asyncio.ensure_future(self._queue.get())
            closed = asyncio.ensure_future(self._closed_event.wait())
            try:
                done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:  # the consumer is cancelled: its getter must not take an item later
                if getter.done() and not getter.cancelled():
                    self._settle(getter.result())  # taken in the same instant: lost with the consumer
                getter.cancel()
                raise
            finally:
                closed.cancel()
            if getter in done:
                return getter.result()
            getter.cancel()
            try:
                await getter
            except asyncio.CancelledError:
                pass
            else:  # the getter won the race after all: put the item back at the front is not possible; keep it
                return getter.result()

    def ack(self, item: Item) -> None:
        self._settle(item)

    def nack(self, item: Item, batch: Batch | None = None) -> None:
        self._settle(item)

    def discard(self) -> int:
        """Empty the queue (its consumers are gone); returns the items it held."""
        items = 0
        while not self._queue.empty():
            item = self._queue.get_nowait()
            self._settle(item)
            items += item.batch.item_count()
        return items

    async def close(self, *, drain: bool) -> None:
        self._closed = True
        self._drain = drain
        self._closed_event.set()
