"""OTLP/JSON encoding: planned per message type, fast paths for attributes (the file exporter's hot path)."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf.descriptor import FieldDescriptor
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from collector.otlpjson import _transcode
from collector.otlpjson._lean import LEAN_LOGS, LEAN_TRACES
from collector.pdata import Batch, Signal

__all__ = ["encode", "encode_message"]

_INT64_TYPES = frozenset({
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64,
})
_ID_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})
_KEY_VALUE = "opentelemetry.proto.common.v1.KeyValue"
_ANY_VALUE = "opentelemetry.proto.common.v1.AnyValue"
_SPAN = "opentelemetry.proto.trace.v1.Span"
_SPAN_FIELDS = 16  # the fields `_span` knows; a newer Span with more goes through the generic path
_LEAN_ATTRIBUTES = frozenset({"attributes"})  # the lean types' `repeated bytes` attribute lists

# The encoder is on the file exporter's hot path: per message type, a plan maps each field to its JSON name and
# a converter chosen once (None: the value is already JSON); attributes (KeyValue lists) have their own path.


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _any_value(value: Any) -> dict[str, Any]:
    which = value.WhichOneof("value")
    if which == "string_value":
        return {"stringValue": value.string_value}
    if which == "int_value":
        return {"intValue": str(value.int_value)}
    if which == "bool_value":
        return {"boolValue": value.bool_value}
    if which == "double_value":
        return {"doubleValue": _float(value.double_value)}
    if which is None:
        return {}
    return _message(value)


def _key_value(kv: Any) -> dict[str, Any]:
    return {"key": kv.key, "value": _any_value(kv.value)} if kv.HasField("value") else {"key": kv.key}


def _attributes(values: Any) -> list[dict[str, Any]]:
    if values and isinstance(values[0], bytes):
        return _serialized_attributes(values)
    return [_key_value(kv) for kv in values]


_PAIRS_MAX = 8192  # distinct serialized pairs remembered (cleared when full)
_PAIRS_BYTES_MAX = 600  # longer pairs are not remembered
_pairs: dict[bytes, dict[str, Any]] = {}


def _serialized_attributes(values: Any) -> list[dict[str, Any]]:
    """Attributes as serialized ``KeyValue``s (`collector.otlpjson._lean`): each distinct pair is turned into
    JSON once, and its object reused (the encoder only reads them)."""
    out: list[dict[str, Any]] = []
    pairs = _pairs
    for kv in values:
        obj = pairs.get(kv)
        if obj is None:
            obj = _key_value(KeyValue.FromString(kv))
            if len(kv) <= _PAIRS_BYTES_MAX:
                if len(pairs) >= _PAIRS_MAX:
                    pairs.clear()
                pairs[kv] = obj
        out.append(obj)
    return out


_Converter = Callable[[Any], Any] | None
_PLANS: dict[Any, dict[str, tuple[str, _Converter, bool]]] = {}  # by descriptor: the lean types share names


def _converter(fd: FieldDescriptor) -> _Converter:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        if fd.message_type is not None and fd.message_type.full_name == _ANY_VALUE:
            return _any_value
        return _message
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return bytes.hex if fd.name in _ID_FIELDS else _b64
    if fd.type in _INT64_TYPES:
        return str
    if fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _float
    return None  # int32, bool, string, enum (as its integer)


def _plan(descriptor: Any) -> dict[str, tuple[str, _Converter, bool]]:
    plan: dict[str, tuple[str, _Converter, bool]] = {}
    for fd in descriptor.fields:
        convert = _converter(fd)
        if fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type is not None \
                and fd.message_type.full_name == _SPAN and len(fd.message_type.fields) == _SPAN_FIELDS:
            plan[fd.name] = (fd.json_name, _span, bool(fd.is_repeated))
        elif fd.is_repeated and fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type.full_name == _KEY_VALUE:
            plan[fd.name] = (fd.json_name, _attributes, False)  # the whole list at once
        elif fd.is_repeated and fd.type == FieldDescriptor.TYPE_BYTES and fd.name in _LEAN_ATTRIBUTES:
            plan[fd.name] = (fd.json_name, _serialized_attributes, False)
        else:
            plan[fd.name] = (fd.json_name, convert, bool(fd.is_repeated))
    _PLANS[descriptor] = plan
    return plan


def _message(message: Any) -> dict[str, Any]:
    descriptor = message.DESCRIPTOR
    plan = _PLANS.get(descriptor) or _plan(descriptor)
    out: dict[str, Any] = {}
    for fd, value in message.ListFields():
        json_name, convert, repeated = plan[fd.name]
        if convert is None:
            out[json_name] = list(value) if repeated else value
        elif repeated:
            out[json_name] = [convert(v) for v in value]
        else:
            out[json_name] = convert(value)
    return out


def _span(span: Any) -> dict[str, Any]:
    """Spans are most of the data: their fields are read directly rather than through ``ListFields``."""
    out: dict[str, Any] = {}
    if span.trace_id:
        out["traceId"] = span.trace_id.hex()
    if span.span_id:
        out["spanId"] = span.span_id.hex()
    if span.trace_state:
        out["traceState"] = span.trace_state
    if span.parent_span_id:
        out["parentSpanId"] = span.parent_span_id.hex()
    if span.flags:
        out["flags"] = span.flags
    if span.name:
        out["name"] = span.name
    if span.kind:
        out["kind"] = span.kind
    if span.start_time_unix_nano:
        out["startTimeUnixNano"] = str(span.start_time_unix_nano)
    if span.end_time_unix_nano:
        out["endTimeUnixNano"] = str(span.end_time_unix_nano)
    if span.attributes:
        out["attributes"] = _attributes(span.attributes)
    if span.dropped_attributes_count:
        out["droppedAttributesCount"] = span.dropped_attributes_count
    if span.events:
        out["events"] = [_message(e) for e in span.events]
    if span.dropped_events_count:
        out["droppedEventsCount"] = span.dropped_events_count
    if span.links:
        out["links"] = [_message(link) for link in span.links]
    if span.dropped_links_count:
        out["droppedLinksCount"] = span.dropped_links_count
    if span.HasField("status"):
        out["status"] = _message(span.status)
    return out


def encode_message(message: Any) -> dict[str, Any]:
    """Any OTLP message as an OTLP/JSON object (hex ids, camelCase, integer enums, 64-bit ints as strings)."""
    if message.DESCRIPTOR.full_name == _ANY_VALUE:
        return _any_value(message)
    return _message(message)


def encode(batch: Batch) -> bytes:
    """One export request as compact OTLP/JSON (no newline inside, so it fits on one line).

    Spans and log records that are still serialized (as received, or as a processor left them) are read with the
    lean types of `collector.otlpjson._lean`: the same JSON, each distinct attribute pair encoded once. The C
    transcoder (`collector.otlpjson._transcode`), when built, writes the same bytes from the serialized request
    first; what it hands back comes here."""
    if _transcode.enabled:
        data = batch.to_bytes() if batch.has_bytes else batch.view.SerializeToString()  # the batch is left as it is
        out = _transcode.transcode(batch.signal, data)
        if out is not None:
            return out
    if batch.has_bytes and batch.signal is not Signal.METRICS:
        lean = LEAN_TRACES if batch.signal is Signal.TRACES else LEAN_LOGS
        return orjson.dumps(_message(lean.FromString(batch.to_bytes())))
    return orjson.dumps(_message(batch.view))
