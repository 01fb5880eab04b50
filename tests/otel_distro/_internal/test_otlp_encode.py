"""The distro's OTLP writer: its bytes decode to the very message upstream's encoder builds."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as upstream_encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as upstream_encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from otel_distro._internal import otlp_encode

ATTRIBUTES: dict[str, Any] = {
    "http.request.method": "GET",
    "http.response.status_code": 200,
    "negative": -42,
    "zero": 0,
    "big": 2**62,
    "ratio": 0.25,
    "flag": True,
    "off": False,
    "empty": "",
    "unicode": "çay ☕",
    "names": ("a", "b"),
    "numbers": (1, 2, 3),
}


def _spans() -> list[Any]:
    exporter = InMemorySpanExporter()
    resources = [Resource({"service.name": "one", "n": 1}), Resource({"service.name": "two"}, "https://schema/1")]
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")]))
    for resource in resources:
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("lib.a", "1.2", schema_url="https://schema/2", attributes={"scope.attr": "x"})
        other = provider.get_tracer("lib.b")
        parent_context = trace.set_span_in_context(trace.NonRecordingSpan(remote))
        with tracer.start_as_current_span(
            "server",
            context=parent_context,
            kind=SpanKind.SERVER,
            attributes=ATTRIBUTES,
            links=[Link(remote, {"link.attr": 1})],
        ) as span:
            span.add_event("checkpoint", {"step": 1})
            span.add_event("empty")
            with other.start_as_current_span("child") as child:
                child.set_status(Status(StatusCode.ERROR, "it broke"))
            for _ in range(2):  # the same attributes again: from the cache this time
                with tracer.start_as_current_span("again", attributes=ATTRIBUTES):
                    pass
        with tracer.start_as_current_span("ok") as ok:
            ok.set_status(StatusCode.OK)
    return list(exporter.get_finished_spans())


def test_spans_decode_to_upstreams_message() -> None:
    spans = _spans()
    ours = ExportTraceServiceRequest.FromString(otlp_encode.encode_spans(spans))
    assert ours == upstream_encode_spans(spans)
    assert sum(len(s.spans) for r in ours.resource_spans for s in r.scope_spans) == len(spans) == 10


def _logs() -> list[Any]:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider(resource=Resource({"service.name": "logs"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("app.logs", "0.1")
    with TracerProvider().get_tracer("t").start_as_current_span("work"):
        logger.emit(
            body="request_finished",
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            attributes=ATTRIBUTES,
            timestamp=1_700_000_000_000_000_000,
        )
    logger.emit(
        body={"nested": {"list": [1, "two", None]}, "n": 1},
        severity_number=SeverityNumber.ERROR,
        event_name="app.crash",
    )
    logger.emit(body=None)
    provider.get_logger("other").emit(body=3.5, attributes={"k": "v"})
    return [record for record in exporter.get_finished_logs()]


def test_logs_decode_to_upstreams_message() -> None:
    logs = _logs()
    ours = ExportLogsServiceRequest.FromString(otlp_encode.encode_logs(logs))
    assert ours == upstream_encode_logs(logs)
    assert sum(len(s.log_records) for r in ours.resource_logs for s in r.scope_logs) == 4


def test_an_empty_batch_is_an_empty_request() -> None:
    assert otlp_encode.encode_spans([]) == b"" == upstream_encode_spans([]).SerializeToString()


def test_an_unencodable_value_fails_loudly() -> None:
    with pytest.raises(TypeError):
        otlp_encode._any_value(object())
