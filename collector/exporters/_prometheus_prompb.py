"""Prometheus remote write 1.0 messages (``prometheus/prompb``: WriteRequest, TimeSeries, Label, Sample, ...).

No maintained Python package ships them, so the descriptors are built here at import time from the field
numbers of ``prompb/types.proto`` and ``prompb/remote.proto``; the classes are real protobuf messages
(serialise with ``SerializeToString``). Only the fields this exporter sends are declared (native histograms
with integer counts included); unknown fields from a newer peer are kept by protobuf as usual.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = [
    "METRIC_TYPES",
    "BucketSpan",
    "Exemplar",
    "Histogram",
    "Label",
    "MetricMetadata",
    "Sample",
    "SeriesEncoder",
    "TimeSeries",
    "WriteRequest",
]

_F = descriptor_pb2.FieldDescriptorProto
_DOUBLE = struct.Struct("<d")
_PACKAGE = "otel_distro.prompb"

METRIC_TYPES = {
    "unknown": 0,
    "counter": 1,
    "gauge": 2,
    "histogram": 3,
    "gaugehistogram": 4,
    "summary": 5,
    "info": 6,
    "stateset": 7,
}
"""``MetricMetadata.MetricType`` values."""


def _declare(name: str, number: int, kind: _F.Type.ValueType, *, repeated: bool = False, type_name: str = "") -> _F:
    field = _F(name=name, number=number, type=kind, label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if type_name:
        field.type_name = f".{_PACKAGE}.{type_name}"
    return field


def _file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(name="otel_distro/prompb.proto", package=_PACKAGE, syntax="proto3")
    f.message_type.add(name="Label").field.extend([
        _declare("name", 1, _F.TYPE_STRING),
        _declare("value", 2, _F.TYPE_STRING),
    ])
    f.message_type.add(name="Sample").field.extend([
        _declare("value", 1, _F.TYPE_DOUBLE),
        _declare("timestamp", 2, _F.TYPE_INT64),  # milliseconds since the epoch
    ])
    f.message_type.add(name="Exemplar").field.extend([
        _declare("labels", 1, _F.TYPE_MESSAGE, repeated=True, type_name="Label"),
        _declare("value", 2, _F.TYPE_DOUBLE),
        _declare("timestamp", 3, _F.TYPE_INT64),
    ])
    f.message_type.add(name="BucketSpan").field.extend([
        _declare("offset", 1, _F.TYPE_SINT32),
        _declare("length", 2, _F.TYPE_UINT32),
    ])
    f.message_type.add(name="Histogram").field.extend([  # native histograms, integer counts only
        _declare("count_int", 1, _F.TYPE_UINT64),
        _declare("sum", 3, _F.TYPE_DOUBLE),
        _declare("schema", 4, _F.TYPE_SINT32),
        _declare("zero_threshold", 5, _F.TYPE_DOUBLE),
        _declare("zero_count_int", 6, _F.TYPE_UINT64),
        _declare("negative_spans", 8, _F.TYPE_MESSAGE, repeated=True, type_name="BucketSpan"),
        _declare("negative_deltas", 9, _F.TYPE_SINT64, repeated=True),
        _declare("positive_spans", 11, _F.TYPE_MESSAGE, repeated=True, type_name="BucketSpan"),
        _declare("positive_deltas", 12, _F.TYPE_SINT64, repeated=True),
        _declare("timestamp", 15, _F.TYPE_INT64),
    ])
    f.message_type.add(name="TimeSeries").field.extend([
        _declare("labels", 1, _F.TYPE_MESSAGE, repeated=True, type_name="Label"),
        _declare("samples", 2, _F.TYPE_MESSAGE, repeated=True, type_name="Sample"),
        _declare("exemplars", 3, _F.TYPE_MESSAGE, repeated=True, type_name="Exemplar"),
        _declare("histograms", 4, _F.TYPE_MESSAGE, repeated=True, type_name="Histogram"),
    ])
    metadata = f.message_type.add(name="MetricMetadata")
    metric_type = metadata.enum_type.add(name="MetricType")
    for name, number in METRIC_TYPES.items():
        metric_type.value.add(name=name.upper(), number=number)
    metadata.field.extend([
        _declare("type", 1, _F.TYPE_ENUM, type_name="MetricMetadata.MetricType"),
        _declare("metric_family_name", 2, _F.TYPE_STRING),
        _declare("help", 4, _F.TYPE_STRING),
        _declare("unit", 5, _F.TYPE_STRING),
    ])
    f.message_type.add(name="WriteRequest").field.extend([
        _declare("timeseries", 1, _F.TYPE_MESSAGE, repeated=True, type_name="TimeSeries"),
        _declare("metadata", 3, _F.TYPE_MESSAGE, repeated=True, type_name="MetricMetadata"),
    ])
    return f


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file())


def _message(name: str) -> Any:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))


BucketSpan: Any = _message("BucketSpan")
Exemplar: Any = _message("Exemplar")
Histogram: Any = _message("Histogram")
Label: Any = _message("Label")
Sample: Any = _message("Sample")
TimeSeries: Any = _message("TimeSeries")
MetricMetadata: Any = _message("MetricMetadata")
WriteRequest: Any = _message("WriteRequest")


# --- a direct encoder for the hot path -----------------------------------------------------------------------
#
# Building upb messages field by field costs more than the translation itself, so series are written straight
# to protobuf bytes here, with each distinct label encoded once. The bytes are the ones `WriteRequest`
# serialises to (the tests decode them with it and compare).


_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    value &= 0xFFFFFFFFFFFFFFFF  # int64 as protobuf writes it: negative numbers take ten bytes
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(payload)) + payload


_LABEL_NAME, _LABEL_VALUE = 0x0A, 0x12  # Label.name = 1, Label.value = 2 (length-delimited)
_SERIES_LABEL, _SERIES_SAMPLE, _SERIES_EXEMPLAR = 0x0A, 0x12, 0x1A  # TimeSeries.labels/samples/exemplars
_SAMPLE_VALUE, _SAMPLE_TIMESTAMP = 0x09, 0x10  # Sample.value = 1 (64-bit), Sample.timestamp = 2 (varint)
_EXEMPLAR_VALUE, _EXEMPLAR_TIMESTAMP = 0x11, 0x18  # Exemplar.value = 2 (64-bit), Exemplar.timestamp = 3
_REQUEST_SERIES = 0x0A  # WriteRequest.timeseries = 1
_ZERO_DOUBLE = bytes(8)


class SeriesEncoder:
    """Encodes ``WriteRequest.timeseries`` entries to bytes; keeps the encoded labels it has seen."""

    def __init__(self) -> None:
        self._labels: dict[tuple[str, str], bytes] = {}

    def _label(self, name: str, value: str) -> bytes:
        encoded = self._labels.get((name, value))
        if encoded is None:
            inner = b""
            if name:
                inner += _field(_LABEL_NAME, name.encode())
            if value:
                inner += _field(_LABEL_VALUE, value.encode())
            encoded = self._labels[(name, value)] = _field(_SERIES_LABEL, inner)
        return encoded

    def series(self, labels: Iterable[tuple[str, str]], samples: Iterable[tuple[int, float]],
               exemplars: Iterable[tuple[Iterable[tuple[str, str]], float, int]] = ()) -> bytes:
        """One ``timeseries`` field of a WriteRequest: labels (in the order given), samples ``(ms, value)``,
        exemplars ``(labels, value, ms)``."""
        parts = [self._label(name, value) for name, value in labels]
        for timestamp_ms, value in samples:
            parts.append(_field(_SERIES_SAMPLE, _number(_SAMPLE_VALUE, value, _SAMPLE_TIMESTAMP, timestamp_ms)))
        for exemplar_labels, value, timestamp_ms in exemplars:
            inner = b"".join(self._label(name, label_value) for name, label_value in exemplar_labels)
            parts.append(_field(_SERIES_EXEMPLAR,
                                inner + _number(_EXEMPLAR_VALUE, value, _EXEMPLAR_TIMESTAMP, timestamp_ms)))
        return _field(_REQUEST_SERIES, b"".join(parts))


def _number(value_tag: int, value: float, timestamp_tag: int, timestamp_ms: int) -> bytes:
    """A value and a timestamp field, each left out at its proto3 default (0.0, 0) as protobuf does."""
    out = b""
    packed = _DOUBLE.pack(value)
    if packed != _ZERO_DOUBLE:
        out += bytes((value_tag,)) + packed
    if timestamp_ms:
        out += bytes((timestamp_tag,)) + _varint(timestamp_ms)
    return out
