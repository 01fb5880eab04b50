"""The in-memory sending queue and its consumers report what they hold to `collector.memory`: from ``put`` until
the item is settled (sent, dropped, given back, discarded), whatever the order, errors or cancellation."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.component import ComponentID
from collector.errors import PermanentError
from collector.memory import LEDGER
from collector.pdata import Signal
from collector.sending.queue import Item, MemoryQueue, QueueFull
from collector.sending.sender import Sender
from collector.sending.settings import SenderSettings
from tests.collector.sending.fakes import ScriptedExporter, traces

NAME = "exporter/test/traces"


def held() -> int:
    return LEDGER.by_component().get(NAME, 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["put", "put", "get", "ack", "nack", "discard"]), max_size=30))
def test_held_bytes_are_those_of_the_items_not_settled_yet(ops: list[str]) -> None:
    async def scenario() -> None:
        queue = MemoryQueue(4, NAME)
        taken: list[Item] = []
        unsettled = 0
        for i, op in enumerate(ops):
            if op == "put":
                batch = traces(i % 3 + 1)
                try:
                    queue.put_nowait(batch)
                    unsettled += batch.byte_size()
                except QueueFull:
                    pass
            elif op == "get" and len(queue):
                taken.append(await queue.get())
            elif op in ("ack", "nack") and taken:
                item = taken.pop(0)
                (queue.ack if op == "ack" else queue.nack)(item)
                queue.ack(item)  # settling twice releases once
                unsettled -= item.batch.byte_size()
            elif op == "discard":
                before = held()  # what is queued goes; what consumers took stays held
                queue.discard()
                unsettled -= before - held()
            assert held() == unsettled
        for item in taken:
            queue.ack(item)
        queue.discard()
        assert held() == 0

    asyncio.run(scenario())


def _sender(exporter: ScriptedExporter, consumers: int = 2) -> Sender:
    cfg = SenderSettings.model_validate({"retry_on_failure": {"initial_interval": 0.001, "max_interval": 0.002},
                                         "sending_queue": {"num_consumers": consumers}})
    return Sender(ComponentID("test"), Signal.TRACES, exporter, cfg)


def test_data_sent_dropped_or_drained_is_no_longer_held() -> None:
    exporter = ScriptedExporter([None, PermanentError("no"), None])
    sender = _sender(exporter)

    async def scenario() -> None:
        await sender.start()
        for n in (1, 2, 3, 4):
            await sender.consume(traces(n))
        assert held() > 0
        await sender.shutdown()  # drains the memory queue

    asyncio.run(scenario())
    assert len(exporter.attempts) == 4
    assert held() == 0


def test_data_of_consumers_cancelled_at_the_shutdown_deadline_is_no_longer_held() -> None:
    exporter = ScriptedExporter(hang=True)
    sender = _sender(exporter, consumers=1)

    async def scenario() -> None:
        await sender.start()
        await sender.consume(traces(5))
        await sender.consume(traces(6))
        while not exporter.attempts:  # the consumer is stuck in the export, the second batch waits
            await asyncio.sleep(0)
        assert held() == traces(5).byte_size() + traces(6).byte_size()
        assert await sender.abandon(grace=0.1) > 0

    asyncio.run(scenario())
    assert held() == 0
