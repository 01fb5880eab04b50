"""The batch that flows through a pipeline: the OTLP export request itself.

Like otelcol's pdata, `Batch` is a thin typed wrapper over the protobuf message a receiver decoded
(`ExportTraceServiceRequest`, `ExportMetricsServiceRequest`, `ExportLogsServiceRequest`). Nothing on the
hot path converts it to other objects: processors edit the message in place and return it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["Batch", "Request", "Signal", "split"]

Request = ExportTraceServiceRequest | ExportMetricsServiceRequest | ExportLogsServiceRequest


class Signal(StrEnum):
    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"

    @property
    def request_type(self) -> type[Request]:
        return _REQUEST_TYPES[self]


_REQUEST_TYPES: dict[Signal, type[Request]] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}


def _metric_points(metric: Any) -> int:
    kind = metric.WhichOneof("data")
    if kind is None:
        return 0
    return len(getattr(metric, kind).data_points)


@dataclass(slots=True)
class Batch:
    """One OTLP export request of one signal."""

    signal: Signal
    request: Request

    @classmethod
    def empty(cls, signal: Signal) -> Batch:
        return cls(signal, signal.request_type())

    @classmethod
    def from_bytes(cls, signal: Signal, data: bytes) -> Batch:
        """Decode protobuf bytes; raises `google.protobuf.message.DecodeError` on bad input."""
        request = signal.request_type()
        request.ParseFromString(data)
        return cls(signal, request)

    def to_bytes(self) -> bytes:
        return self.request.SerializeToString()

    @property
    def resources(self) -> Any:
        """The repeated top-level field: resource_spans, resource_metrics or resource_logs."""
        if self.signal is Signal.TRACES:
            return self.request.resource_spans  # type: ignore[union-attr]
        if self.signal is Signal.METRICS:
            return self.request.resource_metrics  # type: ignore[union-attr]
        return self.request.resource_logs  # type: ignore[union-attr]

    def item_count(self) -> int:
        """Spans, metric data points or log records: the unit otelcol counts in."""
        n = 0
        if self.signal is Signal.TRACES:
            for rs in self.request.resource_spans:  # type: ignore[union-attr]
                for ss in rs.scope_spans:
                    n += len(ss.spans)
        elif self.signal is Signal.METRICS:
            for rm in self.request.resource_metrics:  # type: ignore[union-attr]
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        n += _metric_points(m)
        else:
            for rl in self.request.resource_logs:  # type: ignore[union-attr]
                for sl in rl.scope_logs:
                    n += len(sl.log_records)
        return n

    def copy(self) -> Batch:
        """A deep copy, for a fan-out branch whose exporter mutates data."""
        clone = self.signal.request_type()
        clone.CopyFrom(self.request)  # type: ignore[arg-type]
        return Batch(self.signal, clone)

    def is_empty(self) -> bool:
        return len(self.resources) == 0

    @classmethod
    def merge(cls, signal: Signal, batches: Iterable[Batch]) -> Batch:
        """Concatenate requests of one signal (resource entries are appended, not deduplicated)."""
        out = cls.empty(signal)
        for b in batches:
            if b.signal is not signal:
                raise ValueError(f"cannot merge a {b.signal} batch into {signal}")
            out.resources.extend(b.resources)
        return out

    def __iter__(self) -> Iterator[Any]:
        return iter(self.resources)



def _items_field(signal: Signal) -> tuple[str, str]:
    """(scope-level repeated field, item field) per signal."""
    if signal is Signal.TRACES:
        return "scope_spans", "spans"
    if signal is Signal.METRICS:
        return "scope_metrics", "metrics"
    return "scope_logs", "log_records"


class _Splitter:
    """Fills batches of at most ``max_items`` items, opening resource and scope entries as needed."""

    def __init__(self, signal: Signal, max_items: int) -> None:
        self.signal = signal
        self.max_items = max_items
        self.scopes_field, self.items_field = _items_field(signal)
        self.out: list[Batch] = []
        self.current = Batch.empty(signal)
        self.room = max_items
        self.res_copy: Any = None
        self.scope_copy: Any = None

    def new_batch(self) -> None:
        self.out.append(self.current)
        self.current = Batch.empty(self.signal)
        self.room = self.max_items
        self.res_copy = self.scope_copy = None

    def items(self, res: Any, scope: Any) -> Any:
        """The item list to append to, with room for at least one item."""
        if self.room <= 0:
            self.new_batch()
        if self.res_copy is None:
            self.res_copy = self.current.resources.add(resource=res.resource, schema_url=res.schema_url)
        if self.scope_copy is None:
            self.scope_copy = getattr(self.res_copy, self.scopes_field).add(
                scope=scope.scope, schema_url=scope.schema_url)
        return getattr(self.scope_copy, self.items_field)

    def run(self, batch: Batch) -> list[Batch]:
        for res in batch.resources:
            self.res_copy = self.scope_copy = None
            for scope in getattr(res, self.scopes_field):
                self.scope_copy = None
                for item in getattr(scope, self.items_field):
                    if self.signal is Signal.METRICS:
                        self._metric(res, scope, item)
                    else:
                        self.items(res, scope).add().CopyFrom(item)
                        self.room -= 1
        if not self.current.is_empty():
            self.out.append(self.current)
        return self.out

    def _metric(self, res: Any, scope: Any, metric: Any) -> None:
        kind = metric.WhichOneof("data")
        points = list(getattr(metric, kind).data_points) if kind else []
        if not points:
            self.items(res, scope).add().CopyFrom(metric)
            return
        while points:
            target = self.items(res, scope).add()
            target.CopyFrom(metric)
            take, points = points[: self.room], points[self.room :]
            dps = getattr(target, kind).data_points
            del dps[:]
            dps.extend(take)
            self.room -= len(take)


def split(batch: Batch, max_items: int) -> list[Batch]:
    """Cut a batch into batches of at most ``max_items`` items (spans, data points, log records), keeping order
    and each item's resource and scope. Metrics are cut between data points."""
    if max_items <= 0 or batch.item_count() <= max_items:
        return [batch]
    return _Splitter(batch.signal, max_items).run(batch)
