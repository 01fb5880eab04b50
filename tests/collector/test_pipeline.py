"""The pipeline graph: processors in order, fan-out with copies only where needed, lifecycle order."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from collector import registry
from collector.component import ComponentID, CreateSettings, Kind, for_transport
from collector.config import load
from collector.errors import DropBatch, Refused
from collector.pdata import Batch, Signal
from collector.pipeline import FanOut, build
from collector.sending.settings import SenderSettings
from collector.testing import RecordingTelemetry
from tests.collector.sending.fakes import names, traces

EVENTS: list[str] = []


class _Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: str = ""
    mutates: bool = False
    fail: bool = False


def _fake_module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(TYPE=name.rsplit(".", 1)[-1], SIGNALS=frozenset(Signal), Config=_Empty, **attrs)
    return module


class FakeReceiver:
    def __init__(self, settings: CreateSettings, consumers: Any) -> None:
        self.id = settings.id
        self.consumers = consumers
        RECEIVERS[str(settings.id)] = self

    async def start(self) -> None:
        EVENTS.append(f"start receiver {self.id}")

    async def shutdown(self) -> None:
        EVENTS.append(f"stop receiver {self.id}")


class FakeExporter:
    def __init__(self, settings: CreateSettings, config: _Empty) -> None:
        self.id = settings.id
        self.config = config
        self.got: list[Batch] = []
        EXPORTERS[f"{settings.id}:{settings.signal}"] = self

    async def start(self) -> None:
        EVENTS.append(f"start exporter {self.id}")

    async def export(self, batch: Batch) -> None:
        if self.config.fail:
            raise OSError(28, "No space left on device")
        if self.config.mutates:
            batch.resources[0].scope_spans[0].spans[0].name = f"mutated by {self.id}"
        self.got.append(batch)

    async def shutdown(self) -> None:
        EVENTS.append(f"stop exporter {self.id}")


def tagger(settings: CreateSettings, config: _Empty) -> Any:
    def process(batch: Batch) -> Batch:
        for rs in batch.resources:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    s.name += config.tag
        return batch

    return process


def dropper(settings: CreateSettings, config: _Empty) -> Any:
    def process(batch: Batch) -> Batch:
        if any(n.startswith("drop") for n in names(batch)):
            raise DropBatch
        if any(n.startswith("refuse") for n in names(batch)):
            raise Refused("busy", retry_after=2)
        return batch

    return process


RECEIVERS: dict[str, FakeReceiver] = {}
EXPORTERS: dict[str, FakeExporter] = {}


@pytest.fixture(autouse=True)
def fake_components(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fakes = {
        (Kind.RECEIVER, "fakercv"): _fake_module("fakercv", create=lambda s, c, consumers: FakeReceiver(s, consumers)),
        (Kind.PROCESSOR, "tag"): _fake_module("tag", create=tagger),
        (Kind.PROCESSOR, "gate"): _fake_module("gate", create=dropper),
        (Kind.EXPORTER, "fakeexp"): _fake_module("fakeexp", create=FakeExporter),
        (Kind.EXPORTER, "mutator"): _fake_module("mutator", create=FakeExporter, MUTATES_DATA=True),
    }
    for (kind, name), module in fakes.items():
        monkeypatch.setitem(registry.COMPONENTS[kind], name, f"tests_fake.{name}")
        monkeypatch.setitem(sys.modules, f"tests_fake.{name}", module)
    EVENTS.clear()
    RECEIVERS.clear()
    EXPORTERS.clear()
    yield


def graph_for(pipelines: dict[str, Any], **sections: Any) -> Any:
    cfg = {
        "receivers": {"fakercv": None, "fakercv/2": None},
        "processors": {"tag/a": {"tag": "+a"}, "tag/b": {"tag": "+b"}, "gate": None, "batch": {"timeout": "1h"}},
        "exporters": {"fakeexp": None, "fakeexp/2": None, "mutator": {"mutates": True}, "fakeexp/full": {"fail": True}},
        "service": {"pipelines": pipelines, "telemetry": {"metrics": {"level": "none"}}},
    }
    cfg.update(sections)
    tel = RecordingTelemetry()
    return build(load(cfg, environ={}), host=_Host(), telemetry=tel), tel


class _Host:
    def get_extension(self, id: ComponentID) -> None:
        return None


def test_processors_run_in_the_configured_order() -> None:
    graph, _ = graph_for({"traces": {"receivers": ["fakercv"], "processors": ["tag/b", "tag/a"],
                                     "exporters": ["fakeexp"]}})

    async def scenario() -> None:
        await graph.start()
        await RECEIVERS["fakercv"].consumers[Signal.TRACES].consume(traces(1))
        await graph.shutdown()

    asyncio.run(scenario())
    assert names(EXPORTERS["fakeexp:traces"].got[0]) == ["s0+b+a"]


def test_a_receiver_gets_one_head_per_signal_it_serves() -> None:
    graph_for({"traces": {"receivers": ["fakercv"], "exporters": ["fakeexp"]},
               "logs": {"receivers": ["fakercv", "fakercv/2"], "exporters": ["fakeexp"]}})
    assert set(RECEIVERS["fakercv"].consumers) == {Signal.TRACES, Signal.LOGS}
    assert set(RECEIVERS["fakercv/2"].consumers) == {Signal.LOGS}
    assert {"fakeexp:traces", "fakeexp:logs"} <= set(EXPORTERS)  # one exporter instance per (id, signal)


def test_fan_out_shares_the_batch_unless_an_exporter_mutates() -> None:
    graph, _ = graph_for({"traces": {"receivers": ["fakercv"], "exporters": ["fakeexp", "fakeexp/2", "mutator"]}})
    original = traces(1)

    async def scenario() -> None:
        await graph.start()
        await RECEIVERS["fakercv"].consumers[Signal.TRACES].consume(original)
        await graph.shutdown()

    asyncio.run(scenario())
    plain, plain2 = EXPORTERS["fakeexp:traces"].got[0], EXPORTERS["fakeexp/2:traces"].got[0]
    mutated = EXPORTERS["mutator:traces"].got[0]
    assert plain is original and plain2 is original  # no copy for readers
    assert mutated is not original
    assert names(plain) == ["s0"] and names(mutated) == ["mutated by mutator"]


def test_pipelines_sharing_a_receiver_each_get_their_own_data() -> None:
    graph, _ = graph_for({
        "traces/a": {"receivers": ["fakercv"], "processors": ["tag/a"], "exporters": ["fakeexp"]},
        "traces/b": {"receivers": ["fakercv"], "processors": ["tag/b"], "exporters": ["fakeexp/2"]},
    })

    async def scenario() -> None:
        await graph.start()
        await RECEIVERS["fakercv"].consumers[Signal.TRACES].consume(traces(1))
        await graph.shutdown()

    asyncio.run(scenario())
    assert names(EXPORTERS["fakeexp:traces"].got[0]) == ["s0+a"]
    assert names(EXPORTERS["fakeexp/2:traces"].got[0]) == ["s0+b"]


def test_drop_is_counted_and_refusal_reaches_the_receiver() -> None:
    graph, tel = graph_for({"traces": {"receivers": ["fakercv"], "processors": ["gate"], "exporters": ["fakeexp"]}})

    async def scenario() -> None:
        await graph.start()
        head = RECEIVERS["fakercv"].consumers[Signal.TRACES]
        await head.consume(traces(2, name="drop"))
        with pytest.raises(Refused):
            await head.consume(traces(3, name="refuse"))
        await head.consume(traces(4))
        await graph.shutdown()

    asyncio.run(scenario())
    assert EXPORTERS["fakeexp:traces"].got and names(EXPORTERS["fakeexp:traces"].got[0]) == [f"s{i}" for i in range(4)]
    assert tel.value("otelcol_processor_dropped_spans", processor="gate") == 2
    assert tel.value("otelcol_receiver_refused_spans", receiver="fakercv") == 3
    assert tel.value("otelcol_receiver_accepted_spans", receiver="fakercv") == 6  # dropped data was accepted
    assert tel.value("otelcol_exporter_sent_spans", exporter="fakeexp") == 4


def test_start_is_downstream_first_and_shutdown_upstream_first_flushing_batch() -> None:
    graph, _ = graph_for({"traces": {"receivers": ["fakercv"], "processors": ["tag/a", "batch"],
                                     "exporters": ["fakeexp"]}})

    async def scenario() -> None:
        await graph.start()
        await RECEIVERS["fakercv"].consumers[Signal.TRACES].consume(traces(1))
        assert EXPORTERS["fakeexp:traces"].got == []  # held by batch (timeout: 1h)
        await graph.shutdown()

    asyncio.run(scenario())
    assert EVENTS == ["start exporter fakeexp", "start receiver fakercv", "stop receiver fakercv",
                      "stop exporter fakeexp"]
    assert names(EXPORTERS["fakeexp:traces"].got[0]) == ["s0+a"]  # flushed before the exporter stopped


def test_fan_out_raises_a_branch_refusal_after_every_branch_had_the_data() -> None:
    got: list[str] = []

    class Branch:
        def __init__(self, name: str, refuse: bool) -> None:
            self.name, self.refuse = name, refuse

        async def consume(self, batch: Batch) -> None:
            got.append(self.name)
            if self.refuse:
                raise Refused("full")

    fan = FanOut([Branch("a", True), Branch("b", False)], [False, False])
    with pytest.raises(Refused):
        asyncio.run(fan.consume(traces(1)))
    assert got == ["a", "b"]


def test_an_unclassified_exporter_failure_refuses_so_the_client_keeps_the_data() -> None:
    graph, tel = graph_for({"traces": {"receivers": ["fakercv"], "exporters": ["fakeexp/full"]}})

    async def scenario() -> None:
        await graph.start()
        with pytest.raises(Refused, match="No space left"):
            await RECEIVERS["fakercv"].consumers[Signal.TRACES].consume(traces(2))
        await graph.shutdown()

    asyncio.run(scenario())
    assert tel.value("otelcol_receiver_refused_spans") == 2


def test_a_receivers_transports_are_counted_apart() -> None:
    graph, tel = graph_for({"traces": {"receivers": ["fakercv"], "exporters": ["fakeexp"]}})

    async def scenario() -> None:
        await graph.start()
        heads = RECEIVERS["fakercv"].consumers
        await for_transport(heads, "grpc")[Signal.TRACES].consume(traces(2))
        await for_transport(heads, "http")[Signal.TRACES].consume(traces(3))
        await graph.shutdown()

    asyncio.run(scenario())
    assert tel.value("otelcol_receiver_accepted_spans", receiver="fakercv", transport="grpc") == 2
    assert tel.value("otelcol_receiver_accepted_spans", receiver="fakercv", transport="http") == 3
    assert len(EXPORTERS["fakeexp:traces"].got) == 2


class _SlowConfig(SenderSettings):
    model_config = ConfigDict(extra="forbid")


class SlowExporter:
    """A backend that takes a while per batch: a sending queue of one fills up at once."""

    def __init__(self, settings: CreateSettings, config: _SlowConfig) -> None:
        self.got: list[Batch] = []
        EXPORTERS[f"{settings.id}:{settings.signal}"] = self  # type: ignore[assignment]

    async def start(self) -> None:
        return None

    async def export(self, batch: Batch) -> None:
        await asyncio.sleep(0.02)
        self.got.append(batch)

    async def shutdown(self) -> None:
        return None


def test_what_batch_flushes_on_shutdown_waits_for_room_in_a_full_sending_queue(
        monkeypatch: pytest.MonkeyPatch) -> None:
    module = _fake_module("slow", create=SlowExporter)
    module.Config = _SlowConfig  # type: ignore[attr-defined]
    monkeypatch.setitem(registry.COMPONENTS[Kind.EXPORTER], "slow", "tests_fake.slow")
    monkeypatch.setitem(sys.modules, "tests_fake.slow", module)
    graph, tel = graph_for(
        {"traces": {"receivers": ["fakercv"], "processors": ["batch"], "exporters": ["slow"]}},
        processors={"batch": {"timeout": "1h", "send_batch_size": 0, "send_batch_max_size": 1}},
        exporters={"slow": {"sending_queue": {"queue_size": 1, "num_consumers": 1}}},
    )

    async def scenario() -> None:
        await graph.start()
        await RECEIVERS["fakercv"].consumers[Signal.TRACES].consume(traces(6))  # held by batch until shutdown
        await graph.shutdown()  # flushed as 6 batches of 1 into a queue of 1

    asyncio.run(scenario())
    assert sorted(n for b in EXPORTERS["slow:traces"].got for n in names(b)) == [f"s{i}" for i in range(6)]
    assert tel.value("otelcol_processor_dropped_spans") == 0
