"""The buffer: bounded, written by its own thread at the batch size, the interval, on demand and at close;
failed writes keep their events and are retried; the full-buffer policy drops the newest and counts it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from otel_distro.analytics import AnalyticsEvent
from otel_distro.analytics._buffer import BufferHooks, EventBuffer


class Down(ConnectionError):
    """The database is away."""


class Refused(ValueError):
    """The database refuses this row's data."""


class FakeStore:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.down = False
        self.refuse: set[str] = set()
        self.calls = 0
        self.lock = threading.Lock()

    def write(self, events: Sequence[AnalyticsEvent]) -> None:
        with self.lock:
            self.calls += 1
            if self.down:
                raise Down("connection refused")
            if any(e.name in self.refuse for e in events):
                raise Refused("bad row")
            self.batches.append([e.name for e in events])

    @property
    def stored(self) -> list[str]:
        with self.lock:
            return [name for batch in self.batches for name in batch]


def events(n: int, prefix: str = "e") -> list[AnalyticsEvent]:
    return [AnalyticsEvent(name=f"{prefix}{i}") for i in range(n)]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def buffer(store: FakeStore, **kwargs: object) -> EventBuffer:
    return EventBuffer(store.write, retryable=lambda error: isinstance(error, Down), **kwargs)  # type: ignore[arg-type]


def test_a_full_batch_is_written_without_waiting_for_the_interval() -> None:
    store = FakeStore()
    buf = buffer(store, batch_size=5, flush_interval=3600)
    for event in events(12):
        assert buf.add(event)
    wait_until(lambda: len(store.stored) >= 10)
    assert store.batches[:2] == [[f"e{i}" for i in range(5)], [f"e{i}" for i in range(5, 10)]]
    assert len(buf) == 2  # the rest waits for the interval, a flush or close
    assert buf.close() == 0
    assert store.stored == [f"e{i}" for i in range(12)]


def test_the_oldest_event_waits_at_most_the_flush_interval() -> None:
    store = FakeStore()
    buf = buffer(store, batch_size=100, flush_interval=0.05)
    buf.add(AnalyticsEvent(name="lonely"))
    wait_until(lambda: store.stored == ["lonely"])
    buf.close()


def test_flush_writes_everything_taken_so_far_and_says_whether_it_could() -> None:
    store = FakeStore()
    buf = buffer(store, batch_size=100, flush_interval=3600)
    buf.add_all(events(3))
    assert buf.flush(5) is True
    assert store.stored == ["e0", "e1", "e2"]
    store.down = True
    buf.add_all(events(2, "f"))
    assert buf.flush(5) is False  # the database is away: kept, not lost
    assert len(buf) == 2
    store.down = False
    assert buf.flush(5) is True
    assert store.stored == ["e0", "e1", "e2", "f0", "f1"]
    buf.close()


def test_a_failed_write_is_retried_with_backoff_until_the_database_is_back() -> None:
    store = FakeStore()
    store.down = True
    buf = buffer(store, batch_size=2, flush_interval=3600, max_backoff=0.05)
    buf.add_all(events(4))
    wait_until(lambda: store.calls >= 3)  # retried on its own
    assert len(buf) == 4 and buf.last_error == "Down"
    store.down = False
    wait_until(lambda: len(store.stored) == 4)
    assert store.stored == ["e0", "e1", "e2", "e3"]
    assert buf.last_error is None
    buf.close()


def test_when_full_the_newest_events_are_dropped_and_counted() -> None:
    store = FakeStore()
    store.down = True
    dropped: list[tuple[str, str]] = []
    buf = buffer(store, batch_size=1000, flush_interval=3600, capacity=3,
                 hooks=BufferHooks(dropped=lambda evs, reason: dropped.extend((e.name, reason) for e in evs)))
    assert buf.add_all(events(3))
    assert buf.add(AnalyticsEvent(name="late")) is False
    assert buf.add_all(events(1, "batch")) is False
    assert dropped == [("late", "buffer_full"), ("batch0", "buffer_full")]
    assert buf.room() == 0
    store.down = False
    assert buf.flush(5)
    assert store.stored == ["e0", "e1", "e2"]  # the accepted ones, all of them
    buf.close()


def test_rows_the_database_refuses_are_dropped_alone_and_the_rest_is_written() -> None:
    store = FakeStore()
    store.refuse = {"bad"}
    dropped: list[tuple[str, str]] = []
    buf = buffer(store, batch_size=100, flush_interval=3600,
                 hooks=BufferHooks(dropped=lambda evs, reason: dropped.extend((e.name, reason) for e in evs)))
    buf.add_all([AnalyticsEvent(name="a"), AnalyticsEvent(name="bad"), AnalyticsEvent(name="b")])
    assert buf.flush(5)
    assert store.stored == ["a", "b"]
    assert dropped == [("bad", "invalid")]
    buf.close()


def test_close_keeps_trying_within_its_budget_then_counts_what_is_lost() -> None:
    store = FakeStore()
    store.down = True
    dropped: list[tuple[str, str]] = []
    buf = buffer(store, batch_size=100, flush_interval=3600,
                 hooks=BufferHooks(dropped=lambda evs, reason: dropped.extend((e.name, reason) for e in evs)))
    buf.add_all(events(2))
    assert buf.close(timeout=0.2) == 2
    assert dropped == [("e0", "shutdown"), ("e1", "shutdown")]
    assert buf.add(AnalyticsEvent(name="after")) is False  # closed: nothing more is taken
    assert dropped[-1] == ("after", "shutdown")


def test_close_writes_what_waits_when_the_database_answers() -> None:
    store = FakeStore()
    buf = buffer(store, batch_size=100, flush_interval=3600)
    buf.add_all(events(3))
    assert buf.close() == 0
    assert store.stored == ["e0", "e1", "e2"]


@pytest.mark.parametrize("threads", [8])
def test_adding_from_many_threads_loses_nothing(threads: int) -> None:
    store = FakeStore()
    buf = buffer(store, batch_size=7, flush_interval=3600, capacity=100_000)

    def add(prefix: str) -> None:
        for event in events(200, prefix):
            buf.add(event)

    workers = [threading.Thread(target=add, args=(f"t{i}_",)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert buf.close() == 0
    assert sorted(store.stored) == sorted(f"t{i}_{j}" for i in range(threads) for j in range(200))


def test_events_a_failed_flush_kept_are_retried_on_their_own_before_the_interval() -> None:
    store = FakeStore()
    store.down = True
    buf = buffer(store, batch_size=100, flush_interval=3600, max_backoff=0.05)
    buf.add_all(events(2))
    assert buf.flush(5) is False
    store.down = False
    wait_until(lambda: store.stored == ["e0", "e1"])  # no second flush asked for
    buf.close()


def test_a_write_still_running_when_close_gives_up_flushing_is_counted_stored_not_lost(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A slow database: the write in progress when close's flush budget runs out ends while close waits for the
    # thread. Its events are stored: close must not report them lost, and the thread must not crash on them.
    crashes: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashes.append(args.exc_value))
    stored: list[str] = []
    dropped: list[tuple[int, str]] = []
    started = threading.Event()
    holder: list[EventBuffer] = []

    def slow_write(batch: Sequence[AnalyticsEvent]) -> None:
        started.set()
        wait_until(lambda: holder[0].room() == 0)  # ends once close has stopped taking events
        stored.extend(e.name for e in batch)

    buf = EventBuffer(slow_write, batch_size=3, hooks=BufferHooks(
        stored=lambda evs: None, dropped=lambda evs, reason: dropped.append((len(evs), reason))))
    holder.append(buf)
    assert buf.add_all(events(3))
    assert started.wait(10)
    lost = buf.close(timeout=1.0)
    assert stored == ["e0", "e1", "e2"]
    assert (lost, dropped, crashes) == (0, [], [])
