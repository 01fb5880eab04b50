"""OTLP records -> Elasticsearch documents, per mapping mode, each routed to its index or data stream.

Routing follows otelcol-contrib: a fixed ``logs_index`` / ``traces_index`` wins; with ``*_dynamic_index``
enabled the ``elasticsearch.index`` attribute (record, then scope, then resource) names the index; otherwise
the record goes to the data stream ``<type>-<dataset>-<namespace>`` where ``data_stream.dataset`` /
``data_stream.namespace`` come from the same attribute chain (default ``generic`` / ``default``). The ``otel``
mode suffixes the dataset with ``.otel`` so that Elasticsearch's OTel-native templates apply.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from collector.pdata import Batch, Signal

from ._config import Config

__all__ = ["Doc", "Encoder", "any_value", "format_timestamp", "sanitize_dataset", "sanitize_namespace"]

DATASET_ATTR = "data_stream.dataset"
NAMESPACE_ATTR = "data_stream.namespace"
INDEX_ATTR = "elasticsearch.index"
DEFAULT_DATASET = "generic"
DEFAULT_NAMESPACE = "default"
_ROUTING_ATTRS = frozenset({DATASET_ATTR, NAMESPACE_ATTR, "data_stream.type", INDEX_ATTR})
_MAX_NAME_LEN = 100
_DISALLOWED_DATASET = frozenset('\\/*?"<>| ,#:-')
_DISALLOWED_NAMESPACE = frozenset('\\/*?"<>| ,#:')

_SPAN_KINDS = {0: "Unspecified", 1: "Internal", 2: "Server", 3: "Client", 4: "Producer", 5: "Consumer"}
_STATUS_CODES = {0: "Unset", 1: "Ok", 2: "Error"}
_ECS_OUTCOMES = {0: "unknown", 1: "success", 2: "failure"}
_SEVERITY_LEVELS = ((21, "fatal"), (17, "error"), (13, "warn"), (9, "info"), (5, "debug"), (1, "trace"))

# Resource attributes that have an ECS name of their own; the rest keep their OTel name at the root.
_ECS_RESOURCE = {
    "service.instance.id": "service.node.name",
    "deployment.environment": "service.environment",
    "deployment.environment.name": "service.environment",
    "host.arch": "host.architecture",
    "os.type": "host.os.platform",
    "os.description": "host.os.full",
    "os.name": "host.os.name",
    "os.version": "host.os.version",
    "process.executable.path": "process.executable",
    "process.runtime.name": "service.runtime.name",
    "process.runtime.version": "service.runtime.version",
    "k8s.namespace.name": "kubernetes.namespace",
    "k8s.pod.name": "kubernetes.pod.name",
    "k8s.pod.uid": "kubernetes.pod.uid",
    "k8s.node.name": "kubernetes.node.name",
    "k8s.deployment.name": "kubernetes.deployment.name",
    "telemetry.sdk.name": "agent.name",
    "telemetry.sdk.version": "agent.version",
}
_ECS_RECORD = {
    "exception.type": "error.type",
    "exception.message": "error.message",
    "exception.stacktrace": "error.stack_trace",
}


@dataclass(slots=True, frozen=True)
class Doc:
    """One document to ``create``: its target, its JSON source, and the record it came from — its positions
    in the batch: (resource, scope, record), or (resource, scope, metric, data point) — so that a partial
    failure can be re-batched."""

    index: str
    source: bytes
    ref: tuple[int, ...]


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as plain JSON data (bytes base64, non-finite doubles as strings)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        d = value.double_value
        return d if math.isfinite(d) else str(d)
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _scopes(rs: Any, signal: Signal) -> Any:
    if signal is Signal.LOGS:
        return rs.scope_logs
    return rs.scope_spans if signal is Signal.TRACES else rs.scope_metrics


def _records(ss: Any, signal: Signal, ri: int, si: int) -> Iterator[tuple[tuple[int, ...], Any]]:
    """(ref, record) for every log record, span, or metric data point (carrying its metric) of a scope."""
    if signal is Signal.LOGS:
        for i, record in enumerate(ss.log_records):
            yield (ri, si, i), record
    elif signal is Signal.TRACES:
        for i, span in enumerate(ss.spans):
            yield (ri, si, i), span
    else:
        for mi, metric in enumerate(ss.metrics):
            kind = metric.WhichOneof("data")
            if kind is None:
                continue
            for di, point in enumerate(getattr(metric, kind).data_points):
                yield (ri, si, mi, di), _Point(metric, kind, point)


@dataclass(slots=True, frozen=True)
class _Point:
    """A metric data point with the metric it belongs to."""

    metric: Any
    kind: str
    point: Any

    @property
    def attributes(self) -> Any:
        return self.point.attributes

    def value(self) -> Any:
        """The value as Elasticsearch stores it: a number; ``{"counts", "values"}`` (its ``histogram`` field
        type, bucket midpoints as values) for explicit histograms; ``{"sum", "value_count"}`` otherwise."""
        p = self.point
        if self.kind in ("gauge", "sum"):
            if p.WhichOneof("value") == "as_int":
                return p.as_int
            return p.as_double if math.isfinite(p.as_double) else str(p.as_double)
        if self.kind == "histogram":
            bounds = list(p.explicit_bounds)
            counts, values = [], []
            for i, count in enumerate(p.bucket_counts):
                if count == 0:
                    continue
                if not bounds:
                    mid = p.sum / p.count if p.count else 0.0
                elif i == 0:
                    mid = bounds[0] / 2 if bounds[0] > 0 else bounds[0]
                elif i >= len(bounds):
                    mid = bounds[-1]
                else:
                    mid = (bounds[i - 1] + bounds[i]) / 2
                counts.append(count)
                values.append(mid)
            return {"counts": counts, "values": values}
        return {"sum": p.sum, "value_count": p.count}  # summary, exponential histogram


class _SecondCache:
    """Records of one batch mostly share their second: format it once. The (second, text) pair is swapped
    in as one tuple, so concurrent callers never see a mismatched pair."""

    last: tuple[int, str] = (-1, "")


def format_timestamp(unix_nano: int) -> str:
    """RFC 3339 in UTC with nanoseconds, as Elasticsearch ``date`` and ``date_nanos`` fields accept."""
    secs, nanos = divmod(unix_nano, 1_000_000_000)
    cached_secs, prefix = _SecondCache.last
    if secs != cached_secs:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        _SecondCache.last = (secs, prefix)
    return f"{prefix}.{nanos:09d}Z"


def _sanitize(value: str, disallowed: frozenset[str]) -> str:
    cleaned = "".join("_" if ch in disallowed else ch for ch in value.lower())
    return cleaned[:_MAX_NAME_LEN]


def sanitize_dataset(value: str) -> str:
    return _sanitize(value, _DISALLOWED_DATASET) or DEFAULT_DATASET


def sanitize_namespace(value: str) -> str:
    return _sanitize(value, _DISALLOWED_NAMESPACE) or DEFAULT_NAMESPACE


def _lookup(key: str, *layers: Mapping[str, Any]) -> str | None:
    for layer in layers:
        found = layer.get(key)
        if isinstance(found, str) and found:
            return found
    return None


def _without_routing(attrs: dict[str, Any]) -> dict[str, Any]:
    if _ROUTING_ATTRS.isdisjoint(attrs):
        return attrs
    return {k: v for k, v in attrs.items() if k not in _ROUTING_ATTRS}


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _dumps(doc: Mapping[str, Any]) -> bytes:
    return _JSON.encode(doc).encode()


@dataclass(slots=True)
class _Context:
    """What every record under one resource and scope shares, computed once. In otel mode ``tail`` is the
    ``"resource"`` and ``"scope"`` members already serialized, spliced into each document's JSON."""

    resource_attrs: dict[str, Any]
    scope_attrs: dict[str, Any]
    resource: dict[str, Any]
    tail: bytes
    route: tuple[str, dict[str, str] | None] | None = None  # for records without routing attributes


class Encoder:
    """Turns one batch into documents. Settings are read once; ``encode`` is the hot path."""

    def __init__(self, config: Config, signal: Signal) -> None:
        self._signal = signal
        self._mode = config.mapping.mode
        self._type = signal.value  # "logs", "traces", "metrics": the data stream type
        self._fixed_index, dynamic = {
            Signal.LOGS: (config.logs_index, config.logs_dynamic_index),
            Signal.TRACES: (config.traces_index, config.traces_dynamic_index),
            Signal.METRICS: (config.metrics_index, config.metrics_dynamic_index),
        }[signal]
        self._dynamic = dynamic.enabled
        self._dataset_suffix = ".otel" if self._mode == "otel" else ""
        otel = self._mode == "otel"
        self._to_doc: Callable[[Any, _Context, dict[str, Any]], dict[str, Any]] = {
            Signal.LOGS: self._otel_log if otel else self._ecs_log,
            Signal.TRACES: self._otel_span if otel else self._ecs_span,
            Signal.METRICS: self._otel_point if otel else self._ecs_point,
        }[signal]

    def encode(self, batch: Batch) -> list[Doc]:
        if batch.signal is not self._signal:
            raise ValueError(f"expected a {self._signal} batch, got {batch.signal}")
        docs: list[Doc] = []
        for ri, rs in enumerate(batch.resources):
            resource_attrs = attributes(rs.resource.attributes)
            resource = self._resource(rs, resource_attrs)
            for si, ss in enumerate(_scopes(rs, self._signal)):
                scope_attrs = attributes(ss.scope.attributes)
                tail = b""
                if self._mode == "otel":
                    scope = self._scope(ss, scope_attrs)
                    tail = b',"resource":' + _dumps(resource) + b',"scope":' + _dumps(scope) + b"}"
                ctx = _Context(resource_attrs, scope_attrs, resource, tail)
                for ref, record in _records(ss, self._signal, ri, si):
                    record_attrs = attributes(record.attributes)
                    doc = self._to_doc(record, ctx, record_attrs)
                    index = self._route(doc, record_attrs, ctx)
                    source = _dumps(doc)
                    if tail:
                        source = source[:-1] + tail
                    docs.append(Doc(index, source, ref))
        return docs

    # -- routing ------------------------------------------------------------------------------------------

    def _route(self, doc: dict[str, Any], record_attrs: dict[str, Any], ctx: _Context) -> str:
        if self._fixed_index:
            return self._fixed_index
        if _ROUTING_ATTRS.isdisjoint(record_attrs):
            if ctx.route is None:
                ctx.route = self._resolve(record_attrs, ctx)
            index, data_stream = ctx.route
        else:
            index, data_stream = self._resolve(record_attrs, ctx)
        if data_stream is not None:
            doc["data_stream"] = data_stream
        return index

    def _resolve(self, record_attrs: dict[str, Any], ctx: _Context) -> tuple[str, dict[str, str] | None]:
        layers = (record_attrs, ctx.scope_attrs, ctx.resource_attrs)
        if self._dynamic:
            named = _lookup(INDEX_ATTR, *layers)
            if named:
                return named.lower(), None
        dataset = sanitize_dataset(_lookup(DATASET_ATTR, *layers) or DEFAULT_DATASET)
        if self._dataset_suffix and not dataset.endswith(self._dataset_suffix):
            dataset += self._dataset_suffix
        namespace = sanitize_namespace(_lookup(NAMESPACE_ATTR, *layers) or DEFAULT_NAMESPACE)
        return f"{self._type}-{dataset}-{namespace}", {"type": self._type, "dataset": dataset, "namespace": namespace}

    # -- shared parts -------------------------------------------------------------------------------------

    def _resource(self, rs: Any, attrs: dict[str, Any]) -> dict[str, Any]:
        if self._mode == "ecs":
            out: dict[str, Any] = {}
            for key, value in _without_routing(attrs).items():
                out[_ECS_RESOURCE.get(key, key)] = value
            return out
        resource: dict[str, Any] = {"attributes": _without_routing(attrs)}
        if rs.resource.dropped_attributes_count:
            resource["dropped_attributes_count"] = rs.resource.dropped_attributes_count
        if rs.schema_url:
            resource["schema_url"] = rs.schema_url
        return resource

    def _scope(self, ss: Any, attrs: dict[str, Any]) -> dict[str, Any]:
        if self._mode == "ecs":
            return {}
        scope: dict[str, Any] = {}
        if ss.scope.name:
            scope["name"] = ss.scope.name
        if ss.scope.version:
            scope["version"] = ss.scope.version
        if attrs:
            scope["attributes"] = _without_routing(attrs)
        if ss.schema_url:
            scope["schema_url"] = ss.schema_url
        return scope

    # -- otel mode ----------------------------------------------------------------------------------------

    def _otel_log(self, record: Any, ctx: _Context, attrs: dict[str, Any]) -> dict[str, Any]:
        observed = record.observed_time_unix_nano
        doc: dict[str, Any] = {"@timestamp": format_timestamp(record.time_unix_nano or observed or time.time_ns())}
        if observed:
            doc["observed_timestamp"] = format_timestamp(observed)
        if record.severity_text:
            doc["severity_text"] = record.severity_text
        if record.severity_number:
            doc["severity_number"] = record.severity_number
        if record.event_name:
            doc["event_name"] = record.event_name
        if record.HasField("body"):
            body = any_value(record.body)
            doc["body"] = {"text": body} if isinstance(body, str) else {"structured": body}
        doc["attributes"] = _without_routing(attrs)
        if record.dropped_attributes_count:
            doc["dropped_attributes_count"] = record.dropped_attributes_count
        if record.trace_id:
            doc["trace_id"] = record.trace_id.hex()
        if record.span_id:
            doc["span_id"] = record.span_id.hex()
        return doc

    def _otel_span(self, span: Any, ctx: _Context, attrs: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": format_timestamp(span.start_time_unix_nano),
            "trace_id": span.trace_id.hex(),
            "span_id": span.span_id.hex(),
            "name": span.name,
            "kind": _SPAN_KINDS.get(span.kind, "Unspecified"),
            "duration": max(0, span.end_time_unix_nano - span.start_time_unix_nano),
            "attributes": _without_routing(attrs),
            "status": {"code": _STATUS_CODES.get(span.status.code, "Unset")},
        }
        if span.parent_span_id:
            doc["parent_span_id"] = span.parent_span_id.hex()
        if span.trace_state:
            doc["trace_state"] = span.trace_state
        if span.status.message:
            doc["status"]["message"] = span.status.message
        for name in ("dropped_attributes_count", "dropped_events_count", "dropped_links_count"):
            if getattr(span, name):
                doc[name] = getattr(span, name)
        if span.events:
            doc["events"] = [
                {
                    "@timestamp": format_timestamp(e.time_unix_nano),
                    "name": e.name,
                    "attributes": attributes(e.attributes),
                }
                for e in span.events
            ]
        if span.links:
            doc["links"] = [
                {
                    "trace_id": link.trace_id.hex(),
                    "span_id": link.span_id.hex(),
                    "attributes": attributes(link.attributes),
                }
                for link in span.links
            ]
        return doc

    def _otel_point(self, point: _Point, ctx: _Context, attrs: dict[str, Any]) -> dict[str, Any]:
        p = point.point
        doc: dict[str, Any] = {"@timestamp": format_timestamp(p.time_unix_nano or time.time_ns())}
        if p.start_time_unix_nano:
            doc["start_timestamp"] = format_timestamp(p.start_time_unix_nano)
        doc["metrics"] = {point.metric.name: point.value()}
        if point.metric.unit:
            doc["unit"] = point.metric.unit
        doc["attributes"] = _without_routing(attrs)
        return doc

    # -- ecs mode -----------------------------------------------------------------------------------------

    def _ecs_point(self, point: _Point, ctx: _Context, attrs: dict[str, Any]) -> dict[str, Any]:
        doc = self._ecs_common(ctx, attrs)
        doc["@timestamp"] = format_timestamp(point.point.time_unix_nano or time.time_ns())
        doc[point.metric.name] = point.value()
        return doc

    def _ecs_common(self, ctx: _Context, attrs: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = dict(ctx.resource)
        for key, value in _without_routing(attrs).items():
            doc[_ECS_RECORD.get(key, key)] = value
        return doc

    def _ecs_log(self, record: Any, ctx: _Context, attrs: dict[str, Any]) -> dict[str, Any]:
        doc = self._ecs_common(ctx, attrs)
        doc["@timestamp"] = format_timestamp(record.time_unix_nano or record.observed_time_unix_nano or time.time_ns())
        if record.HasField("body"):
            body = any_value(record.body)
            doc["message"] = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
        level = record.severity_text.lower() or _level_of(record.severity_number)
        if level:
            doc["log.level"] = level
        if record.severity_number:
            doc["event.severity"] = record.severity_number
        if record.event_name:
            doc["event.action"] = record.event_name
        if record.trace_id:
            doc["trace.id"] = record.trace_id.hex()
        if record.span_id:
            doc["span.id"] = record.span_id.hex()
        return doc

    def _ecs_span(self, span: Any, ctx: _Context, attrs: dict[str, Any]) -> dict[str, Any]:
        doc = self._ecs_common(ctx, attrs)
        doc["@timestamp"] = format_timestamp(span.start_time_unix_nano)
        doc["trace.id"] = span.trace_id.hex()
        doc["span.id"] = span.span_id.hex()
        if span.parent_span_id:
            doc["parent.id"] = span.parent_span_id.hex()
        doc["span.name"] = span.name
        doc["span.kind"] = _SPAN_KINDS.get(span.kind, "Unspecified").lower()
        doc["event.duration"] = max(0, span.end_time_unix_nano - span.start_time_unix_nano)
        doc["event.outcome"] = _ECS_OUTCOMES.get(span.status.code, "unknown")
        if span.status.message:
            doc["span.status.message"] = span.status.message
        return doc


def _level_of(severity_number: int) -> str:
    for floor, name in _SEVERITY_LEVELS:
        if severity_number >= floor:
            return name
    return ""
