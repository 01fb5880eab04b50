"""The OTLP trace and log request types with every attribute list as serialized ``KeyValue`` bytes.

The same schema as opentelemetry-proto's, in a pool of its own, but for one change: a repeated ``KeyValue``
field is ``repeated bytes`` (a message and ``bytes`` share their wire format, so the same bytes parse). The
encoder reads a batch's bytes with these types and turns each attribute into JSON once per distinct pair (the
same method, route, user agent and host repeat on every span) instead of reading four objects out of it.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

__all__ = ["LEAN_LOGS", "LEAN_TRACES"]

_KEY_VALUE = ".opentelemetry.proto.common.v1.KeyValue"


def _build() -> tuple[Any, Any]:
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, trace_pb2, logs_pb2, trace_service_pb2, logs_service_pb2):
        fdp = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(fdp)
        if module is not common_pb2:  # KeyValue's own lists (kvlist_value) stay messages: the encoder walks them
            messages = list(fdp.message_type)
            while messages:
                message = messages.pop()
                messages.extend(message.nested_type)
                for field in message.field:
                    if field.type_name == _KEY_VALUE:
                        field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                        field.ClearField("type_name")
        pool.Add(fdp)

    def cls(name: str) -> Any:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))

    return (cls("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"),
            cls("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest"))


LEAN_TRACES, LEAN_LOGS = _build()
