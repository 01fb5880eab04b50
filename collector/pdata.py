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

__all__ = ["Batch", "Request", "Signal"]

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
