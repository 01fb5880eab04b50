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
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from otel_distro._internal.fastpath import otlp_encode

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


@pytest.mark.parametrize("value", [1 << 63, (1 << 64) + 5, -(1 << 63) - 1, [1, 1 << 70]])
def test_an_int_outside_int64_is_refused_so_upstream_encodes_the_batch_without_it(value: Any) -> None:
    """A wrong varint would corrupt the whole request; upstream drops just that attribute."""
    from otel_distro._internal.fastpath import log_records as logs  # noqa: PLC0415

    record = logs.DirectRecord(1, SeverityNumber.INFO, "INFO", "order placed", {"order": value, "ok": 1}, 0, 0, 0,
                                Resource({"service.name": "s"}), None)
    with pytest.raises(ValueError, match="int64"):
        otlp_encode.encode_logs([record])
    fallback = ExportLogsServiceRequest.FromString(upstream_encode_logs([record]).SerializeToString())
    (kept,) = fallback.resource_logs[0].scope_logs[0].log_records
    assert [attribute.key for attribute in kept.attributes] == ["ok"]


def test_the_int64_bounds_themselves_are_encoded() -> None:
    for value in (-(1 << 63), (1 << 63) - 1, -1, 0):
        decoded = ExportLogsServiceRequest()
        from otel_distro._internal.fastpath import log_records as logs  # noqa: PLC0415

        record = logs.DirectRecord(1, SeverityNumber.INFO, "INFO", "x", {"n": value}, 0, 0, 0,
                                    Resource({"service.name": "s"}), None)
        decoded.ParseFromString(otlp_encode.encode_logs([record]))
        assert decoded.resource_logs[0].scope_logs[0].log_records[0].attributes[0].value.int_value == value


def _server_spans() -> list[Any]:
    """`ServerSpan`s as the middleware makes them, one changed by the app after start, and SDK spans between."""
    from otel_distro._internal.fastpath.server_span import start_server_span  # noqa: PLC0415

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "server"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("server.mw")
    other = TracerProvider(resource=Resource({"service.name": "other"})).get_tracer("other.lib")
    other.span_processor.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[attr-defined]
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")]))
    for n in range(3):
        attributes = {"http.request.method": "GET", "request_id": f"id-{n}", "server.port": 8000, "ok": True}
        span = start_server_span(tracer, "GET /items/{id}", None, attributes)
        span.end()
    plain = start_server_span(tracer, "GET /x", None, {"http.request.method": "GET", "server.port": 8000.0})
    plain.end()
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    changed = start_server_span(tracer, "POST /items", parent, {"http.request.method": "POST", "n": 1})
    changed.set_attribute("app.user", "u-1")  # the attributes move into a BoundedAttributes
    changed.set_attribute("n", True)  # a bool where an int was: not the int's cached encoding
    changed.add_event("checkpoint", {"step": 1})
    changed.add_link(remote, {"link.attr": 1.0})
    changed.set_status(Status(StatusCode.ERROR, "it broke"))
    changed.end()
    with other.start_as_current_span("sdk span", attributes={"http.request.method": "GET", "n": 1.0}):
        pass
    late = start_server_span(tracer, "GET /items/{id}", None, {"http.request.method": "GET", "request_id": "id-9"})
    late.end()
    return list(exporter.get_finished_spans())


def test_server_spans_mixed_with_sdk_spans_decode_to_upstreams_message() -> None:
    spans = _server_spans()
    assert {type(span).__name__ for span in spans} == {"ServerSpan", "ReadableSpan"}
    for _ in range(2):  # the second time from the caches
        ours = ExportTraceServiceRequest.FromString(otlp_encode.encode_spans(spans))
        assert ours == upstream_encode_spans(spans)
    # The groups are in first-seen order, though the batch goes back and forth between them.
    assert [len(r.scope_spans[0].spans) for r in ours.resource_spans] == [6, 1]


def test_a_span_of_another_class_is_read_through_its_properties() -> None:
    class Renamed(ReadableSpan):
        @property
        def name(self) -> str:
            return "renamed"

    span = _spans()[0]
    renamed = Renamed(
        span.name,
        span.context,
        span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
    ours = ExportTraceServiceRequest.FromString(otlp_encode.encode_spans([renamed, span]))
    assert ours == upstream_encode_spans([renamed, span])
    assert ours.resource_spans[0].scope_spans[0].spans[0].name == "renamed"


@pytest.mark.parametrize("value", [1, True, 1.0, -0.0, 0, False, 0.0, "1", (1,), [1, 2]])
def test_a_cached_attribute_never_stands_for_an_equal_value_of_another_type(value: Any) -> None:
    encode = otlp_encode._Attributes(b"\x0a")
    for seen in (1, True, 1.0, 0, False, 0.0, "1"):
        encode({"k": seen})
    assert encode({"k": value}) == b"\x0a" + otlp_encode._varint(
        len(otlp_encode._key_value("k", value))
    ) + otlp_encode._key_value("k", value)


def test_a_key_whose_values_do_not_repeat_stops_being_cached() -> None:
    encode = otlp_encode._Attributes(b"\x0a")
    for n in range(otlp_encode._Attributes._PER_KEY_MAX + 10):
        encode({"request_id": f"id-{n}", "method": "GET"})
    assert len(encode) == otlp_encode._Attributes._PER_KEY_MAX + 1


def test_log_records_with_varied_severities_bodies_and_scopes_decode_to_upstreams_message() -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    providers = [LoggerProvider(resource=Resource({"service.name": name})) for name in ("a", "b")]
    for provider in providers:
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    for n in range(3):
        for provider in providers:  # back and forth between resources and scopes
            for scope in ("x", "y"):
                logger = provider.get_logger(scope)
                logger.emit(body="same", severity_number=SeverityNumber.INFO, severity_text="INFO")
                logger.emit(body="same", severity_number=SeverityNumber.WARN, severity_text="INFO")
                logger.emit(body="same", severity_number=SeverityNumber.WARN, severity_text="WARN")
                logger.emit(body=b"\x00bytes", attributes={"list": [1, 2], "n": n, "ratio": n / 3})
                logger.emit(body=["a", {"b": None}], severity_text="custom")
    logs = list(exporter.get_finished_logs())
    for _ in range(2):
        ours = ExportLogsServiceRequest.FromString(otlp_encode.encode_logs(logs))
        assert ours == upstream_encode_logs(logs)
    assert [[len(s.log_records) for s in r.scope_logs] for r in ours.resource_logs] == [[15, 15], [15, 15]]
