"""The persistent sending queue: one file per batch in a directory owned by one exporter and signal.

Invariants (what makes delivery at-least-once across backend outages, restarts and ``kill -9``):

1. ``put`` returns only after the batch is in its final file ``<seq>.pb`` (written to ``.tmp-<seq>``, then
   renamed; with ``fsync`` the file and the directory are synced first). The receiver answers the client only
   after ``put`` returned, so an accepted batch is on disk.
2. A file is deleted only by ``ack``: after the exporter confirmed it, or rejected it permanently.
3. Retries running out never delete: ``nack`` puts the item back at the tail (rewriting it first when only
   part of it is left to send; when that rewrite fails, the whole item goes back). The queue thus holds data
   for an outage of any length the disk allows.
4. When the queue is full (``queue_size`` batches) or the disk is, ``put`` refuses: the client keeps the data
   and retries later (503). Nothing is ever half-stored.
5. ``open`` makes every complete ``<seq>.pb`` ready again, in sequence order, and deletes ``.tmp-*`` files
   (partial writes of batches that were never acknowledged to a client).
6. One queue owns its directory: ``open`` takes an exclusive lock on it (``flock``, released by ``close`` or
   when the process ends, ``kill -9`` included), so two collectors given the same ``file_storage`` directory
   fail to start instead of sending and deleting each other's batches.

Writes: the sender's ``put`` stores each batch on a worker thread (``asyncio.to_thread``), so that a slow disk
or ``fsync`` never stalls the event loop that serves receivers. Its sequence number and its place in the
capacity are taken on the loop before the write starts; the batch becomes ready when its write completes.
Batches put one after another keep their order; batches put concurrently (different requests) become ready
in the order their writes complete — they had no order between them to keep. A ``put`` whose caller is
cancelled mid-write still makes its batch ready (the file is on disk; dropping it would only delay it to the
next start). ``put_nowait`` and the rewrite in ``nack`` (a rare path) write on the calling thread.

Duplicates: a crash re-sends, once per crash, each batch that was being exported at that moment (at most
``num_consumers`` batches: sent to the backend, but not yet deleted). A client that did not get its answer
before the crash may also re-send what it had sent. Nothing is sent twice without a crash, but for one case:
when the rest of a partly sent batch cannot be stored (a full disk), the whole batch is sent again.
Only data that reached the queue is covered: a ``batch`` processor in front holds data in memory for up to
its ``timeout`` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from collector.pdata import Batch, Signal
from collector.sending.queue import Item, QueueClosed, QueueFull

__all__ = ["PersistentQueue"]

_log = structlog.get_logger("collector.sending")
_SUFFIX = ".pb"
_SIGNAL_TAG = {Signal.TRACES: b"T", Signal.METRICS: b"M", Signal.LOGS: b"L"}
_TAG_SIGNAL = {v: k for k, v in _SIGNAL_TAG.items()}


class PersistentQueue:
    def __init__(self, directory: Path, capacity: int, *, fsync: bool = False) -> None:
        self.directory = directory
        self._capacity = capacity
        self._fsync = fsync
        self._ready: deque[Path] = deque()
        self._in_flight: set[Path] = set()
        self._writing = 0  # puts whose write is under way: they hold a place in the capacity
        self._next_seq = 0
        self._closed = False
        self._changed = asyncio.Event()  # set on every change; waiters clear it and re-check
        self._unlock: weakref.finalize[..., Any] | None = None

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return len(self._ready) + len(self._in_flight) + self._writing

    async def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock()
        for tmp in self.directory.glob(".tmp-*"):
            tmp.unlink(missing_ok=True)
        files = sorted((p for p in self.directory.glob(f"*{_SUFFIX}") if p.stem.isdigit()), key=lambda p: int(p.stem))
        self._ready.extend(files)
        # after every number in use, set-aside (.corrupt) files included: a new batch never takes their name
        used = [int(p.stem) for p in self.directory.iterdir() if p.stem.isdigit()]
        self._next_seq = max(used) + 1 if used else 0
        if files:
            _log.info("persistent_queue_recovered", directory=str(self.directory), batches=len(files))

    def _lock(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(
                f"persistent queue directory {self.directory} is in use by another collector (or queue): give each "
                "its own file_storage directory"
            ) from None
        self._unlock = weakref.finalize(self, os.close, fd)  # closing the descriptor releases the lock

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _write(self, seq: int, batch: Batch) -> Path:
        """Store ``batch`` as ``<seq>.pb`` (any thread: touches no queue state); `QueueFull` when it cannot."""
        final = self.directory / f"{seq:020d}{_SUFFIX}"
        tmp = self.directory / f".tmp-{seq:020d}"
        try:
            with open(tmp, "wb") as f:
                f.write(_SIGNAL_TAG[batch.signal])
                f.write(batch.to_bytes())
                if self._fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, final)
        except OSError as exc:  # a full disk: refuse the batch (the client keeps it), keep what is stored
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise QueueFull(f"cannot store the batch in {self.directory}: {exc.strerror or exc}") from exc
        if self._fsync:
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return final

    def _notify(self) -> None:
        self._changed.set()

    async def _wait(self, ready: Callable[[], bool]) -> None:
        while not ready():
            self._changed.clear()
            await self._changed.wait()

    def _reserve(self) -> int:
        """A sequence number and a place in the capacity for a batch about to be written."""
        if self._closed:
            raise QueueClosed("the sending queue is shut down")
        if len(self) >= self._capacity:
            raise QueueFull(f"persistent sending queue is full ({self._capacity} batches)")
        self._writing += 1
        return self._take_seq()

    def _stored(self, path: Path | None) -> None:
        self._writing -= 1
        if path is not None:
            self._ready.append(path)
        self._notify()

    def put_nowait(self, batch: Batch) -> None:
        seq = self._reserve()
        path: Path | None = None
        try:
            path = self._write(seq, batch)
        finally:
            self._stored(path)

    async def put(self, batch: Batch, *, block: bool = True) -> None:
        if block:
            await self._wait(lambda: self._closed or len(self) < self._capacity)
        seq = self._reserve()
        write = asyncio.ensure_future(asyncio.to_thread(self._write, seq, batch))
        write.add_done_callback(
            lambda f: self._stored(f.result() if not f.cancelled() and f.exception() is None else None))
        await asyncio.shield(write)  # a cancelled caller does not undo a write under way

    async def get(self) -> Item:
        while True:
            await self._wait(lambda: self._closed or bool(self._ready))
            if self._closed:
                raise QueueClosed
            path = self._ready.popleft()
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # removed by hand: nothing left to send
                _log.warning("persistent_queue_item_missing", file=str(path))
                continue
            except OSError as exc:  # cannot read it now (out of file descriptors, I/O error): later, not lost
                self._ready.append(path)
                _log.warning("persistent_queue_read_failed", file=str(path), error=str(exc), retry_in_seconds=1)
                await asyncio.sleep(1.0)
                continue
            try:
                batch = Batch.from_bytes(_TAG_SIGNAL[data[:1]], data[1:])
            except Exception as exc:  # a corrupt file can never be sent: set it aside, keep going
                bad = path.with_suffix(".corrupt")
                with contextlib.suppress(OSError):
                    path.rename(bad)
                _log.error("persistent_queue_corrupt_item", file=str(bad), error=str(exc))
                continue
            self._in_flight.add(path)
            return Item(batch, path)

    def ack(self, item: Item) -> None:
        path = item.key
        if isinstance(path, Path):
            self._in_flight.discard(path)
            path.unlink(missing_ok=True)
            self._notify()

    def nack(self, item: Item, batch: Batch | None = None) -> None:
        path = item.key
        if not isinstance(path, Path):
            return
        self._in_flight.discard(path)
        if self._closed:
            return  # stays on disk; `open` makes it ready again
        if batch is not None and batch is not item.batch:
            try:
                # the rest first, then drop the whole: a crash in between duplicates only
                new = self._write(self._take_seq(), batch)
            except QueueFull as exc:  # no room for the rest (a full disk): keep the whole, re-send what was sent
                _log.warning("persistent_queue_rewrite_failed", file=str(path), error=str(exc))
            else:
                path.unlink(missing_ok=True)
                path = new
        self._ready.append(path)
        self._notify()

    async def close(self, *, drain: bool) -> None:
        self._closed = True
        self._notify()
        if self._unlock is not None:
            self._unlock()
