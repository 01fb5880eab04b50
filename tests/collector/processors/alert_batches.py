"""Log and span batches for the alert_rules tests."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector.pdata import Batch, Signal
from collector.processors._actions import to_any_value

SEVERITY = {"debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}


def _attrs(target: Any, attributes: dict[str, Any]) -> None:
    for key, value in attributes.items():
        target.add(key=key, value=to_any_value(value))


def logs(*records: tuple[str, str] | tuple[str, str, dict[str, Any]], service: str = "shop-api",
         namespace: str | None = "shop", trace_id: bytes = b"") -> Batch:
    """Log records ``(severity, body[, attributes])`` of one service."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    _attrs(rl.resource.attributes, {"service.name": service, **({"service.namespace": namespace} if namespace
                                                                  else {})})
    scope = rl.scope_logs.add()
    for rec in records:
        severity, body = rec[0], rec[1]
        log = scope.log_records.add(severity_number=SEVERITY[severity], severity_text=severity.upper(),
                                    trace_id=trace_id)  # type: ignore[arg-type]
        log.body.string_value = body
        if len(rec) == 3:
            _attrs(log.attributes, rec[2])  # type: ignore[misc]
    return Batch(Signal.LOGS, request)


def spans(*items: tuple[str, float, dict[str, Any]], service: str = "shop-api", kind: int = Span.SPAN_KIND_SERVER,
          trace_id: bytes = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")) -> Batch:
    """Spans ``(name, duration seconds, attributes)`` of one service."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    _attrs(rs.resource.attributes, {"service.name": service})
    scope = rs.scope_spans.add()
    start = 1_700_000_000_000_000_000
    for name, duration, attributes in items:
        span = scope.spans.add(name=name, kind=kind, trace_id=trace_id,  # type: ignore[arg-type]
                               span_id=b"\x01" * 8, start_time_unix_nano=start,
                               end_time_unix_nano=start + int(duration * 1e9))
        _attrs(span.attributes, attributes)
    return Batch(Signal.TRACES, request)
