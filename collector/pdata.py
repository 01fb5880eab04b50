"""The batch that flows through a pipeline: the OTLP export request itself.

Like otelcol's pdata, `Batch` is a thin typed wrapper over the protobuf message a receiver decoded
(`ExportTraceServiceRequest`, `ExportMetricsServiceRequest`, `ExportLogsServiceRequest`). Nothing on the
hot path converts it to other objects: processors edit the message in place and return it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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


def _resources(signal: Signal, request: Any) -> Any:
    if signal is Signal.TRACES:
        return request.resource_spans
    if signal is Signal.METRICS:
        return request.resource_metrics
    return request.resource_logs


def _count(signal: Signal, request: Any) -> int:
    n = 0
    if signal is Signal.TRACES:
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                n += len(ss.spans)
    elif signal is Signal.METRICS:
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    n += _metric_points(m)
    else:
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                n += len(sl.log_records)
    return n


def _metric_points(metric: Any) -> int:
    kind = metric.WhichOneof("data")
    if kind is None:
        return 0
    return len(getattr(metric, kind).data_points)


class Batch:
    """One OTLP export request of one signal.

    A batch holds the decoded message, its serialized bytes, or both. One received as bytes
    (`from_bytes`) is decoded only when a stage needs the message, and sent on as the very bytes it came in
    as while no stage changed it: a pipeline whose processors change nothing is a pass-through. `request`
    (and `resources`, iteration) hand out the message *to edit*: the bytes are dropped then, and serialized
    again when needed. Read-only users take `view` and keep them. Do not keep a message obtained from
    `request` across stages: the next `to_bytes` would not see later edits.
    """

    __slots__ = ("_items", "_lent", "_raw", "_request", "signal")

    def __init__(self, signal: Signal, request: Request | None = None, *, raw: bytes | None = None,
                 items: int | None = None) -> None:
        self.signal = signal
        self._request = request
        self._raw = raw
        self._items = items
        # the caller holds the message (it passed it in, or `request` handed it out): updated in place, never swapped
        self._lent = request is not None and raw is None
        if request is None and raw is None:
            self._request = signal.request_type()

    def __repr__(self) -> str:
        return f"Batch({self.signal.value}, items={self.item_count()})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Batch):
            return NotImplemented
        return self.signal is other.signal and self.view == other.view

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def empty(cls, signal: Signal) -> Batch:
        return cls(signal, signal.request_type())

    @classmethod
    def from_bytes(cls, signal: Signal, data: bytes) -> Batch:
        """Decode protobuf bytes (validating them), keeping the bytes to send on unchanged; raises
        `google.protobuf.message.DecodeError` on bad input."""
        request = signal.request_type()
        request.ParseFromString(data)
        return cls(signal, request, raw=bytes(data))

    @classmethod
    def from_trusted_bytes(cls, signal: Signal, data: bytes, items: int | None = None) -> Batch:
        """Bytes this collector serialized itself (a persistent queue's file): decoded only if a reader needs
        the message."""
        return cls(signal, None, raw=data, items=items)

    @property
    def request(self) -> Request:
        """The message, to read or edit in place (the serialized bytes are dropped: they may go stale)."""
        request = self.view
        self._raw = None
        self._items = None
        self._lent = True
        return request

    @property
    def view(self) -> Request:
        """The message, to read only."""
        if self._request is None:
            request = self.signal.request_type()
            request.ParseFromString(self._raw or b"")
            self._request = request
        return self._request

    def to_bytes(self) -> bytes:
        """The serialized request: the bytes it arrived as while nothing changed it, else serialized once."""
        if self._raw is None:
            self._raw = self.view.SerializeToString()
        return self._raw

    def byte_size(self) -> int:
        """Bytes of the serialized request: the length of the bytes it holds, else computed (not serialized)."""
        if self._raw is not None:
            return len(self._raw)
        return int(self.view.ByteSize())

    @property
    def has_bytes(self) -> bool:
        """Whether the serialized request is at hand (`to_bytes` costs nothing)."""
        return self._raw is not None

    @property
    def message_held(self) -> bool:
        """Whether a caller holds the decoded message (passed it in, or took it from `request`): edits must then
        be made in that message, where the caller sees them, not by `replace_bytes`."""
        return self._lent

    def replace_bytes(self, data: bytes) -> None:
        """The request is now ``data`` (a processor that rewrote the serialized form); the item count stays. For
        batches whose message nobody holds (see `message_held`)."""
        if self._lent:
            raise RuntimeError("the decoded message of this batch is held by a caller: edit it instead")
        self._raw = data
        self._request = None

    @property
    def resources(self) -> Any:
        """The repeated top-level field (resource_spans, resource_metrics or resource_logs), to edit."""
        return _resources(self.signal, self.request)

    def item_count(self) -> int:
        """Spans, metric data points or log records: the unit otelcol counts in."""
        if self._items is None:
            self._items = _count(self.signal, self.view)
        return self._items

    def copy(self) -> Batch:
        """A deep copy, for a fan-out branch whose exporter mutates data."""
        if self._raw is not None:
            return Batch(self.signal, None, raw=self._raw, items=self._items)
        clone = self.signal.request_type()
        clone.CopyFrom(self.view)  # type: ignore[arg-type]
        return Batch(self.signal, clone)

    def is_empty(self) -> bool:
        if self._request is None and not self._raw:
            return True
        return len(_resources(self.signal, self.view)) == 0

    @classmethod
    def merge(cls, signal: Signal, batches: Iterable[Batch]) -> Batch:
        """Concatenate requests of one signal (resource entries are appended, not deduplicated).

        Done on the serialized form: an export request is one repeated field, and protobuf parses
        concatenated encodings of repeated fields as one list — no message is copied."""
        parts: list[bytes] = []
        items = 0
        for b in batches:
            if b.signal is not signal:
                raise ValueError(f"cannot merge a {b.signal} batch into {signal}")
            parts.append(b.to_bytes())
            items += b.item_count()
        return cls(signal, None, raw=b"".join(parts), items=items)

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
        for res in _resources(batch.signal, batch.view):
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
