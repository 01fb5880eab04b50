"""The persistent queue's invariants (see its module docstring)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from collector.sending.persistent_queue import PersistentQueue
from collector.sending.queue import QueueClosed, QueueFull
from tests.collector.sending.fakes import names, traces


def test_put_is_on_disk_and_survives_reopening_in_order(tmp_path: Path) -> None:
    async def first() -> None:
        q = PersistentQueue(tmp_path, 10, fsync=True)
        await q.open()
        for name in "abc":
            q.put_nowait(traces(1, name))
        assert len(list(tmp_path.glob("*.pb"))) == 3
        item = await q.get()  # taken but never acked: a crash while exporting
        assert names(item.batch) == ["a0"]

    async def second() -> list[str]:
        q = PersistentQueue(tmp_path, 10)
        await q.open()
        got = []
        for _ in range(3):
            item = await q.get()
            got.extend(names(item.batch))
            q.ack(item)
        q.put_nowait(traces(1, "d"))  # sequence numbers continue after the recovered ones
        assert names((await q.get()).batch) == ["d0"]
        return got

    asyncio.run(first())
    assert asyncio.run(second()) == ["a0", "b0", "c0"]


def test_ack_deletes_and_nack_requeues_at_the_tail(tmp_path: Path) -> None:
    async def scenario() -> None:
        q = PersistentQueue(tmp_path, 10)
        await q.open()
        q.put_nowait(traces(1, "a"))
        q.put_nowait(traces(1, "b"))
        a = await q.get()
        q.nack(a)
        b = await q.get()
        assert names(b.batch) == ["b0"]
        q.ack(b)
        again = await q.get()
        assert names(again.batch) == ["a0"]
        q.nack(again, traces(1, "rest-of-a"))  # only part left to send: rewritten
        rest = await q.get()
        assert names(rest.batch) == ["rest-of-a0"]
        q.ack(rest)
        assert len(q) == 0

    asyncio.run(scenario())
    assert list(tmp_path.iterdir()) == []


def test_capacity_counts_items_in_flight(tmp_path: Path) -> None:
    async def scenario() -> None:
        q = PersistentQueue(tmp_path, 2)
        await q.open()
        q.put_nowait(traces(1))
        q.put_nowait(traces(1))
        item = await q.get()
        with pytest.raises(QueueFull):
            q.put_nowait(traces(1))
        q.ack(item)
        q.put_nowait(traces(1))

    asyncio.run(scenario())


def test_partial_writes_are_discarded_and_corrupt_files_set_aside(tmp_path: Path) -> None:
    (tmp_path / ".tmp-00000000000000000007").write_bytes(b"half a batch")
    (tmp_path / "00000000000000000003.pb").write_bytes(b"?not a batch")

    async def scenario() -> None:
        q = PersistentQueue(tmp_path, 10)
        await q.open()
        q.put_nowait(traces(1, "good"))
        item = await q.get()
        assert names(item.batch) == ["good0"]

    asyncio.run(scenario())
    assert not (tmp_path / ".tmp-00000000000000000007").exists()
    assert (tmp_path / "00000000000000000003.corrupt").exists()


def test_close_wakes_waiting_consumers(tmp_path: Path) -> None:
    async def scenario() -> None:
        q = PersistentQueue(tmp_path, 2)
        await q.open()
        waiter = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        await q.close(drain=False)
        with pytest.raises(QueueClosed):
            await waiter

    asyncio.run(scenario())


def test_a_full_disk_refuses_the_batch_and_leaves_no_partial_file(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    async def scenario() -> None:
        q = PersistentQueue(tmp_path, 10)
        await q.open()
        q.put_nowait(traces(1, "stored"))
        monkeypatch.setattr(os, "replace", no_space)
        with pytest.raises(QueueFull, match="No space left"):
            q.put_nowait(traces(1, "refused"))
        monkeypatch.undo()
        assert len(q) == 1

    asyncio.run(scenario())
    assert [p.name for p in tmp_path.iterdir()] == ["00000000000000000000.pb"]


class _SlowDisk(PersistentQueue):
    """A disk whose writes take a while (a busy disk, fsync on a spinning one)."""

    def _write(self, *args: Any) -> Path:
        time.sleep(0.2)
        return super()._write(*args)


def test_a_slow_write_does_not_stall_the_event_loop(tmp_path: Path) -> None:
    async def scenario() -> int:
        q = _SlowDisk(tmp_path, 10, fsync=True)
        await q.open()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        await q.put(traces(1, "a"), block=False)
        during = ticks - before
        task.cancel()
        item = await q.get()
        assert names(item.batch) == ["a0"]
        return during

    assert asyncio.run(scenario()) > 1  # other tasks (receivers) ran while the batch was being stored


def test_writes_under_way_hold_their_place_and_a_cancelled_put_is_still_stored(tmp_path: Path) -> None:
    async def scenario() -> None:
        q = _SlowDisk(tmp_path, 2)
        await q.open()
        first = asyncio.create_task(q.put(traces(1, "a"), block=False))
        second = asyncio.create_task(q.put(traces(1, "b"), block=False))
        await asyncio.sleep(0.05)  # both writes under way
        with pytest.raises(QueueFull):
            await q.put(traces(1, "c"), block=False)
        first.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        got = []
        for _ in range(2):
            item = await asyncio.wait_for(q.get(), 5)
            got.extend(names(item.batch))
            q.ack(item)
        assert sorted(got) == ["a0", "b0"]

    asyncio.run(scenario())
    assert list(tmp_path.glob("*.pb")) == []


def test_an_unreadable_file_is_read_again_later_not_set_aside(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    real_read = Path.read_bytes
    failures = [OSError(24, "Too many open files")]

    def read_bytes(self: Path) -> bytes:
        if failures:
            raise failures.pop()
        return real_read(self)

    async def scenario() -> None:
        q = PersistentQueue(tmp_path, 10)
        await q.open()
        q.put_nowait(traces(1, "kept"))
        monkeypatch.setattr(Path, "read_bytes", read_bytes)
        item = await asyncio.wait_for(q.get(), 10)
        assert names(item.batch) == ["kept0"]
        q.ack(item)

    asyncio.run(scenario())
    assert list(tmp_path.iterdir()) == []  # sent and acknowledged, never renamed .corrupt


def test_new_batches_never_take_the_name_of_a_set_aside_file_and_strays_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "00000000000000000009.corrupt").write_bytes(b"kept for a human to look at")
    (tmp_path / "notes.pb").write_bytes(b"not ours")

    async def scenario() -> None:
        q = PersistentQueue(tmp_path, 10)
        await q.open()
        q.put_nowait(traces(1, "new"))
        item = await q.get()
        assert names(item.batch) == ["new0"]
        assert int(Path(str(item.key)).stem) > 9

    asyncio.run(scenario())
    assert (tmp_path / "00000000000000000009.corrupt").read_bytes() == b"kept for a human to look at"


def test_a_directory_is_owned_by_one_queue_at_a_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        first = PersistentQueue(tmp_path, 10)
        await first.open()
        second = PersistentQueue(tmp_path, 10)
        with pytest.raises(RuntimeError, match="in use by another collector"):
            await second.open()
        await first.close(drain=False)
        await second.open()  # free again once the owner closed
        await second.close(drain=False)

    asyncio.run(scenario())
    assert list(tmp_path.iterdir()) == []  # the lock leaves no file behind
