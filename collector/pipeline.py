"""The pipeline graph built from ``service::pipelines``: receiver -> processors in order -> fan-out -> exporters.

Data flows one way. A receiver pushes into one head per signal, which fans out to every pipeline of that signal
using the receiver (each pipeline but the last gets its own copy: processors edit in place). A pipeline runs its
plain processors in a loop (`ProcessorChain`), hands over to a stateful one (``batch``) which later emits to the
rest, and ends in a `FanOut` to its exporters — copying the batch only for a branch whose exporter mutates data.
Push exporters sit behind a `collector.sending.Sender`; exporter instances are per (id, signal), shared by the
pipelines of that signal.

`Graph.start` starts downstream-first (exporters, processors, receivers); `Graph.shutdown` goes upstream-first
(receivers stop accepting, ``batch`` flushes — into sending queues that now wait for room rather than refuse —,
senders drain), so nothing accepted is left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from collector.component import (
    OFF_LOOP_BYTES,
    ComponentID,
    Consumer,
    CreateSettings,
    Exporter,
    Host,
    Kind,
    NoopTelemetry,
    Processor,
    Receiver,
    StatefulProcessor,
    Telemetry,
)
from collector.config import ServiceConfig
from collector.errors import DropBatch, ExportError, Refused
from collector.pdata import Batch, Signal
from collector.sending.persistent_queue import PersistentQueue
from collector.sending.queue import Queue
from collector.sending.sender import ITEM_UNITS, Sender
from collector.sending.settings import SenderSettings

__all__ = ["DirectExporter", "FanOut", "Graph", "ObservedConsumer", "ProcessorChain", "build"]

_log = structlog.get_logger("collector.pipeline")


class ProcessorChain:
    """Runs consecutive plain processors, then hands the result to ``next``. A batch above `OFF_LOOP_BYTES`
    goes through the leading ``thread_safe`` ones in a worker thread (the event loop serves other requests
    meanwhile), through the rest on the loop."""

    def __init__(self, pipeline: str, processors: Sequence[tuple[ComponentID, Processor]], next: Consumer,
                 telemetry: Telemetry) -> None:
        self._pipeline = pipeline
        self._processors = list(processors)
        self._next = next
        self._telemetry = telemetry
        self._off_loop = 0  # how many leading processors may run in a worker thread
        while (self._off_loop < len(self._processors)
               and getattr(self._processors[self._off_loop][1], "thread_safe", False)):
            self._off_loop += 1

    async def consume(self, batch: Batch) -> None:
        out: Batch | None = batch
        start = 0
        if self._off_loop and batch.byte_size() > OFF_LOOP_BYTES:
            out = await asyncio.to_thread(self._process, batch, 0, self._off_loop)
            start = self._off_loop
        if out is not None and start < len(self._processors):
            out = self._process(out, start, len(self._processors))
        if out is not None:
            await self._next.consume(out)

    def _process(self, batch: Batch, start: int, stop: int) -> Batch | None:
        """The batch after processors ``start`` to ``stop``, or None when one dropped it."""
        procs = self._processors if start == 0 and stop == len(self._processors) else self._processors[start:stop]
        for pid, proc in procs:
            try:
                batch = proc(batch)
            except DropBatch:
                self._telemetry.add(f"otelcol_processor_dropped_{ITEM_UNITS[batch.signal]}", batch.item_count(),
                                    {"processor": str(pid), "pipeline": self._pipeline},
                                    description="Items dropped by a processor on purpose")
                return None
            except Refused:
                self._telemetry.add(f"otelcol_processor_refused_{ITEM_UNITS[batch.signal]}", batch.item_count(),
                                    {"processor": str(pid), "pipeline": self._pipeline},
                                    description="Items refused by a processor (back-pressure)")
                raise
        return batch


class FanOut:
    """One batch to several consumers. ``copies[i]``: branch i gets its own deep copy. Raises the first
    `Refused` of any branch after every branch has had the data."""

    def __init__(self, branches: Sequence[Consumer], copies: Sequence[bool]) -> None:
        self._branches = list(branches)
        self._copies = list(copies)

    async def consume(self, batch: Batch) -> None:
        if len(self._branches) == 1:
            await self._branches[0].consume(batch.copy() if self._copies[0] else batch)
            return
        inputs = [batch.copy() if c else batch for c in self._copies]  # copy before any branch can edit
        results = await asyncio.gather(*(b.consume(x) for b, x in zip(self._branches, inputs, strict=True)),
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r


class ObservedConsumer:
    """The head a receiver pushes into: counts accepted and refused items per receiver, signal and, once a
    receiver asked for its view with `for_transport`, transport (``grpc``, ``http``), as otelcol does."""

    def __init__(self, receiver: ComponentID, signal: Signal, next: Consumer, telemetry: Telemetry,
                 transport: str | None = None) -> None:
        self._receiver = receiver
        self._signal = signal
        self._next = next
        self._telemetry = telemetry
        self._attrs = {"receiver": str(receiver)}
        if transport is not None:
            self._attrs["transport"] = transport
        unit = ITEM_UNITS[signal]
        self._accepted = f"otelcol_receiver_accepted_{unit}"
        self._refused = f"otelcol_receiver_refused_{unit}"

    def for_transport(self, transport: str) -> ObservedConsumer:
        """The same head, counting under ``transport``."""
        return ObservedConsumer(self._receiver, self._signal, self._next, self._telemetry, transport)

    async def consume(self, batch: Batch) -> None:
        n = batch.item_count()
        try:
            await self._next.consume(batch)
        except Exception:
            self._telemetry.add(self._refused, n, self._attrs, description="Items the pipeline could not accept")
            raise
        self._telemetry.add(self._accepted, n, self._attrs, description="Items accepted into the pipeline")


class DirectExporter:
    """An exporter without a sender (pull exporters, ``debug``): export inline, count, never retry."""

    def __init__(self, id: ComponentID, signal: Signal, exporter: Exporter, telemetry: Telemetry) -> None:
        self.exporter = exporter
        self._id = id
        self._signal = signal
        self._telemetry = telemetry
        self._attrs = {"exporter": str(id)}
        self._unit = ITEM_UNITS[signal]

    async def start(self) -> None:
        await self.exporter.start()

    async def shutdown(self) -> None:
        await self.exporter.shutdown()

    async def consume(self, batch: Batch) -> None:
        """Classified failures are counted and dropped; anything else (a full disk) refuses the data, so the
        client keeps it and retries."""
        n = batch.item_count()
        try:
            await self.exporter.export(batch)
        except ExportError as exc:
            self._telemetry.add(f"otelcol_exporter_send_failed_{self._unit}", n, self._attrs)
            _log.error("export_failed", exporter=str(self._id), signal=self._signal.value, error=str(exc),
                       dropped_items=n)
            return
        except Exception as exc:
            self._telemetry.add(f"otelcol_exporter_send_failed_{self._unit}", n, self._attrs)
            _log.error("export_failed", exporter=str(self._id), signal=self._signal.value, error=str(exc),
                       refused_items=n, exc_info=True)
            raise Refused(f"exporter {self._id} failed: {exc}", retry_after=5.0) from exc
        self._telemetry.add(f"otelcol_exporter_sent_{self._unit}", n, self._attrs)


@dataclass
class Graph:
    receivers: dict[ComponentID, Receiver] = field(default_factory=dict)
    # per pipeline, in pipeline order: the processors with a lifecycle (stateful ones, or callables with start)
    processors: list[Any] = field(default_factory=list)
    exporters: dict[tuple[ComponentID, Signal], Sender | DirectExporter] = field(default_factory=dict)
    heads: dict[str, Consumer] = field(default_factory=dict)  # pipeline name -> its first stage

    async def start(self) -> None:
        started: list[Callable[[], Awaitable[None]]] = []
        try:
            for exp in self.exporters.values():
                await exp.start()
                started.append(exp.shutdown)
            for proc in reversed(self.processors):
                await proc.start()
                started.append(proc.shutdown)
            for rcv in self.receivers.values():
                await rcv.start()
                started.append(rcv.shutdown)
        except BaseException:
            for stop in reversed(started):
                try:
                    await stop()
                except Exception:
                    _log.exception("shutdown_after_failed_start_failed")
            raise

    async def shutdown(self) -> None:
        async def drain_senders() -> None:  # what batch flushes now has no client left to retry it
            for exp in self.exporters.values():
                if isinstance(exp, Sender):
                    exp.begin_drain()

        async def stop_exporters() -> None:  # at once: one hung backend must not hold up the others' drain
            exporters = list(self.exporters.values())
            results = await asyncio.gather(*(e.shutdown() for e in exporters), return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    _log.error("component_shutdown_failed", exc_info=result)

        steps: list[Callable[[], Awaitable[None]]] = [
            *(r.shutdown for r in self.receivers.values()),
            drain_senders,
            *(p.shutdown for p in self.processors),
            stop_exporters,
        ]
        for stop in steps:
            try:
                await stop()
            except Exception:
                _log.exception("component_shutdown_failed")

    async def abandon(self) -> int:
        """After `shutdown` overran its deadline (and was cancelled): stop every sender now. Returns the items
        lost (in-memory queues); persistent queues keep theirs for the next start."""
        lost = 0
        for exp in self.exporters.values():
            if isinstance(exp, Sender):
                lost += await exp.abandon()
        return lost


def _settings(id: ComponentID, signal: Signal | None, host: Host, telemetry: Telemetry) -> CreateSettings:
    return CreateSettings(id=id, signal=signal, host=host, telemetry=telemetry,
                          logger=structlog.get_logger("collector").bind(component=str(id)))


def _queue_for(id: ComponentID, signal: Signal, cfg: SenderSettings, host: Host) -> Queue | None:
    storage = cfg.sending_queue.storage
    if not storage or not cfg.sending_queue.enabled:
        return None
    ext = host.get_extension(ComponentID.parse(storage))
    directory = getattr(ext, "directory_for", None)
    if directory is None:
        raise RuntimeError(f"exporters::{id}::sending_queue::storage: extension {storage!r} is not running")
    return PersistentQueue(directory(Kind.EXPORTER, id, signal.value), cfg.sending_queue.queue_size,
                           fsync=bool(getattr(ext, "fsync", False)))


def build(config: ServiceConfig, host: Host, telemetry: Telemetry | None = None) -> Graph:
    """Create every component the pipelines use and wire them (nothing is started)."""
    tel = telemetry or NoopTelemetry()
    graph = Graph()

    def exporter_for(eid: ComponentID, signal: Signal) -> Sender | DirectExporter:
        key = (eid, signal)
        if key not in graph.exporters:
            comp = config.component(Kind.EXPORTER, eid)
            settings = _settings(eid, signal, host, tel)
            runtime: Exporter = comp.module.create(settings, comp.config)
            if isinstance(comp.config, SenderSettings):
                graph.exporters[key] = Sender(eid, signal, runtime, comp.config,
                                              queue=_queue_for(eid, signal, comp.config, host),
                                              telemetry=tel, logger=settings.logger)
            else:
                graph.exporters[key] = DirectExporter(eid, signal, runtime, tel)
        return graph.exporters[key]

    disabled: dict[ComponentID, str | None] = {}

    def is_enabled(eid: ComponentID) -> bool:
        if eid not in disabled:
            comp = config.component(Kind.EXPORTER, eid)
            check = getattr(comp.module, "disabled_reason", None)
            disabled[eid] = check(comp.config) if check is not None else None
            if disabled[eid] is not None:
                structlog.get_logger("collector").warning("exporter_disabled", exporter=str(eid),
                                                          reason=disabled[eid])
        return disabled[eid] is None

    for name, pipe in config.pipelines.items():
        enabled = [eid for eid in pipe.exporters if is_enabled(eid)]
        branches = [exporter_for(eid, pipe.signal) for eid in enabled]
        mutates = [bool(getattr(config.component(Kind.EXPORTER, eid).module, "MUTATES_DATA", False))
                   for eid in enabled]
        next: Consumer = FanOut(branches, [m and len(branches) > 1 for m in mutates])
        segment: list[tuple[ComponentID, Processor]] = []
        lifecycle: list[Any] = []
        for pid in reversed(pipe.processors):
            comp = config.component(Kind.PROCESSOR, pid)
            proc = comp.module.create(_settings(pid, pipe.signal, host, tel), comp.config)
            if isinstance(proc, StatefulProcessor):
                if segment:
                    next = ProcessorChain(name, segment, next, tel)
                    segment = []
                proc.bind(next)
                next = proc
                lifecycle.append(proc)
            else:
                segment.insert(0, (pid, proc))
                if hasattr(proc, "start") and hasattr(proc, "shutdown"):
                    lifecycle.append(proc)
        if segment:
            next = ProcessorChain(name, segment, next, tel)
        graph.processors.extend(reversed(lifecycle))
        graph.heads[name] = next

    by_receiver: dict[ComponentID, dict[Signal, list[Consumer]]] = {}
    for name, pipe in config.pipelines.items():
        for rid in pipe.receivers:
            by_receiver.setdefault(rid, {}).setdefault(pipe.signal, []).append(graph.heads[name])
    for rid, per_signal in by_receiver.items():
        consumers: Mapping[Signal, Consumer] = {
            signal: ObservedConsumer(rid, signal, FanOut(heads, [i < len(heads) - 1 for i in range(len(heads))]),
                                     tel)
            for signal, heads in per_signal.items()
        }
        comp = config.component(Kind.RECEIVER, rid)
        graph.receivers[rid] = comp.module.create(_settings(rid, None, host, tel), comp.config, consumers)
    return graph
