"""Prometheus remote write 1.0 messages (``prometheus/prompb``: WriteRequest, TimeSeries, Label, Sample).

No maintained Python package ships them, so the descriptors are built here at import time from the field
numbers of ``prompb/types.proto`` and ``prompb/remote.proto``; the classes are real protobuf messages
(serialise with ``SerializeToString``). Only the fields remote write 1.0 sends are declared; unknown fields
from a newer peer are kept by protobuf as usual.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["METRIC_TYPES", "Label", "MetricMetadata", "Sample", "TimeSeries", "WriteRequest"]

_F = descriptor_pb2.FieldDescriptorProto
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


def _field(name: str, number: int, kind: _F.Type.ValueType, *, repeated: bool = False, type_name: str = "") -> _F:
    field = _F(name=name, number=number, type=kind, label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if type_name:
        field.type_name = f".{_PACKAGE}.{type_name}"
    return field


def _file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(name="otel_distro/prompb.proto", package=_PACKAGE, syntax="proto3")
    f.message_type.add(name="Label").field.extend([
        _field("name", 1, _F.TYPE_STRING),
        _field("value", 2, _F.TYPE_STRING),
    ])
    f.message_type.add(name="Sample").field.extend([
        _field("value", 1, _F.TYPE_DOUBLE),
        _field("timestamp", 2, _F.TYPE_INT64),  # milliseconds since the epoch
    ])
    f.message_type.add(name="TimeSeries").field.extend([
        _field("labels", 1, _F.TYPE_MESSAGE, repeated=True, type_name="Label"),
        _field("samples", 2, _F.TYPE_MESSAGE, repeated=True, type_name="Sample"),
    ])
    metadata = f.message_type.add(name="MetricMetadata")
    metric_type = metadata.enum_type.add(name="MetricType")
    for name, number in METRIC_TYPES.items():
        metric_type.value.add(name=name.upper(), number=number)
    metadata.field.extend([
        _field("type", 1, _F.TYPE_ENUM, type_name="MetricMetadata.MetricType"),
        _field("metric_family_name", 2, _F.TYPE_STRING),
        _field("help", 4, _F.TYPE_STRING),
        _field("unit", 5, _F.TYPE_STRING),
    ])
    f.message_type.add(name="WriteRequest").field.extend([
        _field("timeseries", 1, _F.TYPE_MESSAGE, repeated=True, type_name="TimeSeries"),
        _field("metadata", 3, _F.TYPE_MESSAGE, repeated=True, type_name="MetricMetadata"),
    ])
    return f


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file())


def _message(name: str) -> Any:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))


Label: Any = _message("Label")
Sample: Any = _message("Sample")
TimeSeries: Any = _message("TimeSeries")
MetricMetadata: Any = _message("MetricMetadata")
WriteRequest: Any = _message("WriteRequest")
