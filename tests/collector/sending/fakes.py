"""A scripted exporter for sender tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.pdata import Batch, Signal


def traces(n: int, name: str = "s") -> Batch:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        ss.spans.add(name=f"{name}{i}", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    return Batch(Signal.TRACES, req)


def names(batch: Batch) -> list[str]:
    return [s.name for rs in batch.resources for ss in rs.scope_spans for s in ss.spans]


class ScriptedExporter:
    """Raises the scripted exceptions in order (None = succeed), then succeeds; records every attempt."""

    def __init__(self, script: Iterable[BaseException | None] = (), hang: bool = False) -> None:
        self.script = list(script)
        self.attempts: list[Batch] = []
        self.sent: list[Batch] = []
        self.hang = hang
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def shutdown(self) -> None:
        self.stopped = True

    async def export(self, batch: Batch) -> None:
        self.attempts.append(batch)
        if self.hang:
            self.hang = False
            await asyncio.sleep(3600)
        if self.script:
            outcome = self.script.pop(0)
            if outcome is not None:
                raise outcome
        self.sent.append(batch)
