"""Real OpenTelemetry SDK data for the sentry exporter's tests: spans and log records made by the SDK and
encoded by its own OTLP encoder into the batches the collector carries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from collector.pdata import Batch, Signal

RESOURCE = {
    "service.name": "chat-api",
    "service.version": "2.4.1",
    "deployment.environment.name": "staging",
    "host.name": "web-1",
}


@dataclass
class Sdk:
    tracer: Tracer
    logger: logging.Logger
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter

    def traces_batch(self) -> Batch:
        return Batch(Signal.TRACES, encode_spans(self.spans.get_finished_spans()))

    def logs_batch(self) -> Batch:
        return Batch(Signal.LOGS, encode_logs(self.logs.get_finished_logs()))


@contextmanager
def sdk(resource: dict[str, str] | None = None, logger_name: str = "chat.api") -> Iterator[Sdk]:
    """A tracer and a stdlib logger wired to in-memory exporters through the real SDK pipeline."""
    res = Resource.create(RESOURCE if resource is None else resource)
    tracer_provider = TracerProvider(resource=res)
    spans = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=res)
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = LoggingHandler(logger_provider=logger_provider)
    logger = logging.getLogger(logger_name)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield Sdk(tracer_provider.get_tracer("chat.api.routes"), logger, spans, logs)
    finally:
        logger.removeHandler(handler)
        tracer_provider.shutdown()
        logger_provider.shutdown()


def failing_request(s: Sdk, *, user: str = "alice@example.com", fail: Callable[[], None] | None = None) -> None:
    """A server span for ``POST /chat`` whose handler logs the error and lets it escape, as a route does."""

    def handler() -> None:
        raise ValueError("model backend returned garbage")

    with s.tracer.start_as_current_span(
        "POST /chat",
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": "POST",
            "http.route": "/chat",
            "url.path": "/chat",
            "url.scheme": "http",
            "server.address": "api.example.com",
            "http.response.status_code": 500,
            "enduser.id": user,
        },
    ) as span:
        with s.tracer.start_as_current_span("SELECT chat", attributes={"db.system.name": "postgresql"}):
            pass
        try:
            (fail or handler)()
        except ValueError as exc:
            s.logger.exception("chat request failed")
            span.record_exception(exc, escaped=True)
            span.set_status(Status(StatusCode.ERROR))
