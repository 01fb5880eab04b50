"""``batch``: sends on size, on timeout, cut to the max size, and flushes on shutdown."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from collector.component import ComponentID, CreateSettings
from collector.errors import Refused
from collector.memory import LEDGER
from collector.pdata import Batch
from collector.processors.batch import BatchProcessor, Config
from collector.testing import RecordingTelemetry
from tests.collector.sending.fakes import traces


class Sink:
    def __init__(self, refuse: bool = False) -> None:
        self.got: list[Batch] = []
        self.refuse = refuse

    async def consume(self, batch: Batch) -> None:
        if self.refuse:
            raise Refused("full")
        self.got.append(batch)


def make(sink: Sink, **cfg: object) -> tuple[BatchProcessor, RecordingTelemetry]:
    tel = RecordingTelemetry()
    proc = BatchProcessor(CreateSettings(ComponentID("batch"), telemetry=tel), Config.model_validate(cfg))
    proc.bind(sink)
    return proc, tel


def test_sends_when_send_batch_size_items_are_pending() -> None:
    sink = Sink()
    proc, _ = make(sink, send_batch_size=5, timeout="1h")

    async def scenario() -> None:
        await proc.start()
        for _ in range(4):
            await proc.consume(traces(2))
        assert [b.item_count() for b in sink.got] == [6]  # 3 requests reached 6 >= 5
        await proc.shutdown()

    asyncio.run(scenario())
    assert [b.item_count() for b in sink.got] == [6, 2]  # the rest flushed on shutdown


def test_sends_after_the_timeout_when_not_full() -> None:
    sink = Sink()
    proc, _ = make(sink, send_batch_size=1000, timeout="20ms")

    async def scenario() -> None:
        await proc.consume(traces(1))
        await proc.consume(traces(1))
        for _ in range(200):
            if sink.got:
                break
            await asyncio.sleep(0.01)
        await proc.shutdown()

    asyncio.run(scenario())
    assert [b.item_count() for b in sink.got] == [2]


def test_batches_are_cut_to_send_batch_max_size() -> None:
    sink = Sink()
    proc, _ = make(sink, send_batch_size=4, send_batch_max_size=4, timeout="1h")

    async def scenario() -> None:
        await proc.consume(traces(10))
        await proc.shutdown()

    asyncio.run(scenario())
    assert [b.item_count() for b in sink.got] == [4, 4, 2]


def test_timeout_zero_passes_batches_straight_through() -> None:
    sink = Sink()
    proc, _ = make(sink, timeout=0)
    b = traces(3)
    asyncio.run(proc.consume(b))
    assert sink.got == [b]


def test_a_refused_batch_is_counted_as_dropped() -> None:
    proc, tel = make(Sink(refuse=True), send_batch_size=1, timeout="1h")
    asyncio.run(proc.consume(traces(3)))
    assert tel.value("otelcol_processor_dropped_spans", processor="batch") == 3


def test_max_size_must_not_be_below_size() -> None:
    with pytest.raises(ValidationError, match="send_batch_max_size"):
        Config(send_batch_size=10, send_batch_max_size=5)


def test_a_batch_that_cannot_be_merged_does_not_take_the_others_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = Sink()
    proc, _ = make(sink, send_batch_size=1000, timeout="1h")

    def refuse(*_: object) -> Batch:
        raise ValueError("Exceeded upb_DecodeOptions_MaxDepth")

    monkeypatch.setattr(Batch, "merge", refuse)

    async def scenario() -> None:
        for n in (1, 2, 3):
            await proc.consume(traces(n))
        await proc.shutdown()

    asyncio.run(scenario())
    assert [b.item_count() for b in sink.got] == [1, 2, 3]  # sent one by one, none lost


def test_a_batch_that_cannot_be_cut_is_counted_as_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = Sink()
    proc, tel = make(sink, send_batch_size=1000, send_batch_max_size=1000, timeout="1h")

    def refuse(*_: object) -> list[Batch]:
        raise ValueError("cannot split")

    monkeypatch.setattr("collector.processors.batch.split", refuse)

    async def scenario() -> None:
        await proc.consume(traces(4))
        await proc.shutdown()

    asyncio.run(scenario())
    assert sink.got == []
    assert tel.value("otelcol_processor_dropped_spans") == 4


def test_pending_batches_count_as_held_until_handed_on_even_when_refused() -> None:
    sink = Sink(refuse=True)
    proc, tel = make(sink, send_batch_size=100, timeout="1h")
    b1, b2 = traces(2), traces(3)

    async def scenario() -> None:
        await proc.start()
        await proc.consume(b1)
        await proc.consume(b2)
        assert LEDGER.by_component() == {"processor/batch": b1.byte_size() + b2.byte_size()}
        await proc.shutdown()  # the next stage refuses: dropped and counted, no longer held

    asyncio.run(scenario())
    assert LEDGER.by_component() == {}
    assert tel.value("otelcol_processor_dropped_spans") == 5
