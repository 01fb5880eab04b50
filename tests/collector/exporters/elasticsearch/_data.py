"""Batches for the elasticsearch exporter tests: real OTLP requests from the OTel SDK, and small hand-made
ones where a test needs exact control over attributes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from collector.pdata import Batch, Signal

RESOURCE = Resource.create({"service.name": "chat-api", "deployment.environment": "test"})


def sdk_records(n_logs: int = 3, *, message: str = "message %d stored") -> tuple[
        Sequence[ReadableSpan], Sequence[ReadableLogRecord]]:
    """What the SDK recorded: one server span with `n_logs` log records emitted inside it through the logging
    bridge, so the logs carry the span's trace and span ids."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=RESOURCE)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    logger_provider = LoggerProvider(resource=RESOURCE)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    logger = logging.getLogger("tests.elasticsearch.sdk")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        tracer = tracer_provider.get_tracer("tests.elasticsearch", "1.0")
        with tracer.start_as_current_span("POST /chat/messages", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", "POST")
            span.add_event("message.stored", {"message.length": 42})
            for i in range(n_logs):
                logger.info(message, i, extra={"chat.room": "general"})
    finally:
        logger.removeHandler(handler)
        tracer_provider.shutdown()
        logger_provider.shutdown()
    return spans.get_finished_spans(), logs.get_finished_logs()


def sdk_batches(n_logs: int = 3) -> tuple[Batch, Batch]:
    """(traces, logs) batches as the collector receives them from `sdk_records`."""
    spans, logs = sdk_records(n_logs)
    return Batch(Signal.TRACES, encode_spans(spans)), Batch(Signal.LOGS, encode_logs(logs))


def sdk_metrics() -> Batch:
    """A metrics batch from the SDK: a counter (3 requests), a histogram (2 latencies) and a gauge."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    try:
        meter = provider.get_meter("tests.elasticsearch", "1.0")
        meter.create_counter("chat.requests", unit="{request}").add(3, {"room": "general"})
        latency = meter.create_histogram("chat.latency", unit="ms",
                                         explicit_bucket_boundaries_advisory=[0.0, 5.0, 10.0, 100.0])
        latency.record(3.0)
        latency.record(60.0)
        meter.create_gauge("chat.queue").set(1.5)
        data = reader.get_metrics_data()
    finally:
        provider.shutdown()
    if data is None:
        raise AssertionError("the SDK recorded no metrics")
    return Batch(Signal.METRICS, encode_metrics(data))


def _value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=str(v))


def kvs(attrs: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in attrs.items()]


def log_batch(records: list[Mapping[str, Any]], *, resource: Mapping[str, Any] | None = None,
              scope: Mapping[str, Any] | None = None) -> Batch:
    """One resource, one scope, one log record per entry of `records` (its attributes; "body" is the body)."""
    batch = Batch.empty(Signal.LOGS)
    rl = batch.resources.add()
    rl.resource.attributes.extend(kvs(resource or {"service.name": "chat-api"}))
    sl = rl.scope_logs.add()
    sl.scope.name = "tests"
    sl.scope.attributes.extend(kvs(scope or {}))
    for i, attrs in enumerate(records):
        attrs = dict(attrs)
        body = attrs.pop("body", f"record {i}")
        sl.log_records.append(LogRecord(
            time_unix_nano=1_700_000_000_000_000_000 + i,
            severity_number=9,  # type: ignore[arg-type]
            severity_text="INFO",
            body=AnyValue(string_value=body),
            attributes=kvs(attrs),
            trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
            span_id=bytes.fromhex("eee19b7ec3c1b174"),
        ))
    return batch


def bodies(batch: Batch) -> list[str]:
    """Log bodies of a logs batch, in order."""
    return [r.body.string_value for rl in batch.resources for sl in rl.scope_logs for r in sl.log_records]


def in_namespace(batch: Batch, namespace: str) -> Batch:
    """The batch with ``data_stream.namespace`` set on every resource (isolates a case on a shared cluster)."""
    for resource in batch.resources:
        resource.resource.attributes.extend(kvs({"data_stream.namespace": namespace}))
    return batch
