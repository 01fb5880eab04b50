"""The C transcoder (``_ctranscode``, built from ``_transcode.c`` when a compiler is at hand): the serialized
request straight to OTLP/JSON, byte for byte what the Python encoder writes, several times faster.

Its tables are made here from the protobuf descriptors, following the Python encoder's rules field by field
(JSON names, hex ids, 64-bit integers as strings, presence, the order fields are written in), so a field the
descriptors gain is written by both or, unknown to both, makes the C code hand the request back. It returns
None for whatever it is not sure to render as the Python encoder would (see the C file); `encode` then uses the
Python encoder. Without the extension (no compiler when installing), or with tables it refuses, `transcode` always
returns None.

``enabled`` switches the C path off (tests compare both paths; not a setting).
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.otlpjson._decode import MAX_DEPTH
from collector.pdata import Signal

try:
    from collector.otlpjson import _ctranscode
except ImportError:  # built without a compiler: the Python encoder does everything
    _ctranscode = None  # type: ignore[assignment]

__all__ = ["available", "enabled", "transcode"]

_ID_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})  # as _encode's: lower-case hex
_KEY_VALUE = "opentelemetry.proto.common.v1.KeyValue"
_SPAN = "opentelemetry.proto.trace.v1.Span"
# The order `_encode._span` writes a Span's fields in (it applies to a Span of these 16 fields only)
_SPAN_ORDER = ("trace_id", "span_id", "trace_state", "parent_span_id", "flags", "name", "kind",
               "start_time_unix_nano", "end_time_unix_nano", "attributes", "dropped_attributes_count", "events",
               "dropped_events_count", "links", "dropped_links_count", "status")
_KIND_HEX = 19  # the C file's K_BYTES_HEX; the other kinds are FieldDescriptor.TYPE_* numbers
_REPEATED, _PRESENCE, _ALWAYS = 1, 2, 4

_Field = tuple[int, bytes, int, int, int, int]


class _Tables:
    def __init__(self) -> None:
        self.types: list[tuple[_Field, ...]] = []
        self.index: dict[tuple[str, bool], int] = {}

    def type_index(self, descriptor: Descriptor, as_list_item: bool = False) -> int:
        """The table of a message type; ``as_list_item``: a KeyValue of an attribute list, which the Python
        encoder writes as ``{"key": ..., "value": ...}`` (the key even when empty, nothing else)."""
        key = (descriptor.full_name, as_list_item)
        if key in self.index:
            return self.index[key]
        index = self.index[key] = len(self.types)
        self.types.append(())  # reserved: a type may contain itself (AnyValue)
        fields = list(descriptor.fields)
        if as_list_item:
            fields = [fd for fd in fields if fd.name in ("key", "value")]
        if descriptor.full_name == _SPAN and len(fields) == len(_SPAN_ORDER):
            by_name = {fd.name: fd for fd in fields}
            fields = [by_name[name] for name in _SPAN_ORDER]
        else:
            fields.sort(key=lambda fd: fd.number)  # ListFields' order
        self.types[index] = tuple(self.field(fd, as_list_item) for fd in fields)
        return index

    def field(self, fd: FieldDescriptor, in_list_item: bool) -> _Field:
        if fd.type == FieldDescriptor.TYPE_GROUP:
            raise ValueError(f"{fd.full_name}: groups are not supported")
        flags = _REPEATED if fd.is_repeated else 0
        if not fd.is_repeated and fd.has_presence:
            flags |= _PRESENCE
        if in_list_item and fd.name == "key":
            flags |= _ALWAYS
        kind, subtype = fd.type, -1
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            if fd.message_type is None:
                raise ValueError(f"{fd.full_name}: a message field without its type")
            list_item = bool(fd.is_repeated) and fd.message_type.full_name == _KEY_VALUE
            subtype = self.type_index(fd.message_type, list_item)
        elif fd.type == FieldDescriptor.TYPE_BYTES and fd.name in _ID_FIELDS:
            kind = _KIND_HEX
        oneof = fd.containing_oneof
        oneof_index = -1 if oneof is None or fd.containing_type is None \
            else list(fd.containing_type.oneofs).index(oneof)
        return (fd.number, orjson.dumps(fd.json_name) + b":", kind, flags, oneof_index, subtype)


def _configure() -> dict[Signal, int] | None:
    """Each signal's request table, or None when the C code cannot hold the schema (a newer opentelemetry-proto
    past its limits, or with a group): the Python encoder then does everything, and the collector still starts."""
    tables = _Tables()
    try:
        roots = {
            Signal.TRACES: tables.type_index(ExportTraceServiceRequest.DESCRIPTOR),
            Signal.LOGS: tables.type_index(ExportLogsServiceRequest.DESCRIPTOR),
            Signal.METRICS: tables.type_index(ExportMetricsServiceRequest.DESCRIPTOR),
        }
        _ctranscode.configure(tuple(tables.types), MAX_DEPTH, orjson.dumps)
    except (TypeError, ValueError) as exc:
        structlog.get_logger("collector").warning("otlpjson_transcoder_off", error=str(exc))
        return None
    return roots


_ROOTS = _configure() if _ctranscode is not None else None
available = _ROOTS is not None
enabled = available


def transcode(signal: Signal, data: bytes) -> bytes | None:
    """The serialized request ``data`` as compact OTLP/JSON, or None: the Python encoder must do it."""
    if not enabled or _ROOTS is None:
        return None
    out: Any = _ctranscode.transcode(_ROOTS[signal], data)
    return out  # type: ignore[no-any-return]
