"""In-memory telemetry for tests: capture spans, metrics and log records, and assert on their correlation.

The pytest plugin (`otel_distro.pytest_plugin`) hands out an `OtelCapture` as the ``otel`` fixture::

    def test_login(client, otel):
        client.post("/auth/login", json={...})
        span = otel.span(attributes={"http.route": "/auth/login"})
        assert otel.logs_for(span), "the login logs carry the span's trace_id"

Providers are installed globally once per session, on first use, and emptied between tests, so tracers and
meters that instrumented code cached stay valid; nothing is installed until a test asks for ``otel``.
"""

from __future__ import annotations

import io
import itertools
import os
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from structlog.typing import EventDict, WrappedLogger

from otel_distro._internal import logs, state
from otel_distro._internal.db_metrics import DbDurationSpanProcessor
from otel_distro._internal.fastpath import sdk
from otel_distro._internal.scrub import install_client_id_check, scrubbing_hooks
from otel_distro.settings import Settings, load_settings

__all__ = ["MetricPoint", "OtelCapture", "TelemetrySession", "session"]

_DELTA: dict[type, AggregationTemporality] = {
    kind: AggregationTemporality.DELTA
    for kind in (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
}


class SwitchableIdGenerator(IdGenerator):
    """Random ids, or 1, 2, 3, ... (trace and span ids counted separately) after `deterministic`."""

    def __init__(self) -> None:
        self.reset(deterministic=False)

    def reset(self, *, deterministic: bool) -> None:
        self._deterministic = deterministic
        self._trace_ids = itertools.count(1)
        self._span_ids = itertools.count(1)

    def generate_trace_id(self) -> int:
        return next(self._trace_ids) if self._deterministic else random.getrandbits(128) or 1

    def generate_span_id(self) -> int:
        return next(self._span_ids) if self._deterministic else random.getrandbits(64) or 1


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One collected data point: ``value`` for sums and gauges, ``count``/``sum`` for histograms."""

    name: str
    unit: str
    attributes: Mapping[str, Any]
    value: float | None = None
    count: int | None = None
    sum: float | None = None


def _nothing() -> None:
    return None


class TelemetrySession:
    """The process-wide in-memory providers, created once; `OtelCapture` empties them per test."""

    def __init__(self) -> None:
        resource = Resource.create({"service.name": "test", "deployment.environment.name": "test"})
        self.id_generator = SwitchableIdGenerator()
        self.span_exporter = InMemorySpanExporter()
        self.metric_reader = InMemoryMetricReader(preferred_temporality=_DELTA)
        self.log_exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[self.metric_reader])
        self.tracer_provider = TracerProvider(resource=resource, id_generator=self.id_generator)
        self.scrub = scrubbing_hooks(load_settings())
        for processor in self.scrub.span_chain(
            [DbDurationSpanProcessor(self.meter_provider), SimpleSpanProcessor(self.span_exporter)]
        ):
            self.tracer_provider.add_span_processor(processor)
        self.logger_provider = LoggerProvider(resource=resource)
        for log_processor in self.scrub.log_record_processors:
            self.logger_provider.add_log_record_processor(log_processor)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        sdk.force_global_providers(self.tracer_provider, self.meter_provider, self.logger_provider)


_session: TelemetrySession | None = None


def session() -> TelemetrySession:
    global _session  # noqa: PLW0603
    if _session is None:
        _session = TelemetrySession()
    return _session


class _CaptureEvents:
    """Log chain step: keep a copy of each finished event dict (after scrubbing, before rendering)."""

    def __init__(self, sink: list[dict[str, Any]]) -> None:
        self.sink = sink

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        self.sink.append(dict(event_dict))
        return event_dict


class OtelCapture:
    """What one test emitted: spans, metric points, OTel log records and the printed log lines."""

    def __init__(self, telemetry: TelemetrySession, settings: Settings | None = None) -> None:
        self._session = telemetry
        self._settings = settings or load_settings()
        self._points: list[MetricPoint] = []
        self._events: list[dict[str, Any]] = []
        self.output = io.BytesIO()
        self._previous_settings: Settings | None = None
        self._restore_client_id_check: Callable[[], None] = _nothing

    # -- lifecycle (driven by the fixture) -------------------------------------------------------------

    def start(self) -> None:
        import structlog  # noqa: PLC0415

        # As under the distro: stable HTTP semantic conventions (read once per process, on first use).
        os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
        self._structlog_config = structlog.get_config()
        self._previous_settings = state.settings() if state.is_loaded() else None
        state.set_settings(self._settings)
        self.clear()
        pipeline = logs.build_pipeline(
            log_format="json",
            stream=self.output,
            emitter=logs.OtelLogEmitter(
                self._session.logger_provider, pre_scrubbed=self._session.scrub.structlog is not None
            ),
            scrubber=self._session.scrub.structlog,
            extra_processors=[_CaptureEvents(self._events)],
        )
        logs.install(pipeline, level="debug")
        # As under the distro: a client request id the scrubber would redact is replaced.
        self._restore_client_id_check = install_client_id_check(self._session.scrub)

    def stop(self) -> None:
        import structlog  # noqa: PLC0415

        self._restore_client_id_check()
        logs.uninstall()
        structlog.configure(**self._structlog_config)
        state.set_settings(self._previous_settings)
        self._session.id_generator.reset(deterministic=False)

    def clear(self) -> None:
        """Forget everything captured so far (spans, metrics, logs)."""
        self._session.span_exporter.clear()
        self._session.log_exporter.clear()
        self._session.metric_reader.get_metrics_data()  # drain: later collections hold only new deltas
        self._points.clear()
        self._events.clear()
        self.output.seek(0)
        self.output.truncate()

    def deterministic_ids(self) -> OtelCapture:
        """From now on trace ids and span ids are 1, 2, 3, ... (reset for every test)."""
        self._session.id_generator.reset(deterministic=True)
        return self

    def instrument_sqlalchemy(self) -> None:
        """Instrument SQLAlchemy engines created from now on, as the distro does (for the rest of the session,
        like the providers: modules that imported ``create_engine`` keep the instrumented one).

        Call it before the app's modules import SQLAlchemy's ``create_engine``.
        """
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # noqa: PLC0415

        instrumentor = SQLAlchemyInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()

    def instrument(self, app: Any) -> Any:
        """Instrument a FastAPI app as ``opentelemetry-instrument`` would (spans, request context, routes)."""
        from otel_distro._internal.fastapi_app import instrument_app  # noqa: PLC0415

        return instrument_app(app)

    # -- spans -------------------------------------------------------------------------------------------

    def spans(self, name: str | None = None, *, attributes: Mapping[str, Any] | None = None) -> list[ReadableSpan]:
        """Finished spans, oldest first, optionally those named ``name`` having all of ``attributes``."""
        found = []
        for span in self._session.span_exporter.get_finished_spans():
            if name is not None and span.name != name:
                continue
            span_attributes = span.attributes or {}
            if attributes and any(span_attributes.get(k) != v for k, v in attributes.items()):
                continue
            found.append(span)
        return found

    def span(self, name: str | None = None, *, attributes: Mapping[str, Any] | None = None) -> ReadableSpan:
        """The one finished span matching; fails the test listing what was captured when there is none or several."""
        found = self.spans(name, attributes=attributes)
        if len(found) != 1:
            seen = [(s.name, dict(s.attributes or {})) for s in self.spans()]
            raise AssertionError(
                f"expected one span matching name={name!r} attributes={dict(attributes or {})!r}, "
                f"found {len(found)}; captured: {seen!r}"
            )
        return found[0]

    @staticmethod
    def trace_id(span: ReadableSpan) -> str:
        return format(span.context.trace_id, "032x") if span.context else ""

    # -- logs --------------------------------------------------------------------------------------------

    @property
    def logs(self) -> list[dict[str, Any]]:
        """The log events as printed (dicts with ``message``, ``level``, ``logger``, ``trace_id``, ...)."""
        return list(self._events)

    def log_lines(self) -> list[str]:
        """The printed JSON lines."""
        return self.output.getvalue().decode().splitlines()

    def logs_for(self, span: ReadableSpan) -> list[dict[str, Any]]:
        """Log events that carry ``span``'s trace id."""
        trace_id = self.trace_id(span)
        return [event for event in self._events if event.get("trace_id") == trace_id]

    def log_records(self) -> list[ReadableLogRecord]:
        """The OTel log records that would have been exported over OTLP."""
        return list(self._session.log_exporter.get_finished_logs())

    def assert_correlated(self, span: ReadableSpan, *messages: str) -> list[dict[str, Any]]:
        """Each of ``messages`` was logged inside ``span``'s trace, as a printed line and as an OTel record."""
        trace_id = self.trace_id(span)
        events = self.logs_for(span)
        printed = {event.get("message") for event in events}
        exported = {
            str(record.log_record.body)
            for record in self.log_records()
            if format(record.log_record.trace_id or 0, "032x") == trace_id
        }
        for message in messages:
            if message not in printed:
                raise AssertionError(f"no printed log line {message!r} with trace_id {trace_id}; got {printed!r}")
            if message not in exported:
                raise AssertionError(f"no exported log record {message!r} with trace_id {trace_id}; got {exported!r}")
        return events

    # -- metrics -----------------------------------------------------------------------------------------

    def _collect(self) -> None:
        data = self._session.metric_reader.get_metrics_data()
        if data is None:
            return
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        self._points.append(_to_point(metric.name, metric.unit or "", point))

    def metric_points(self, name: str, attributes: Mapping[str, Any] | None = None) -> list[MetricPoint]:
        """Points recorded so far for metric ``name`` having all of ``attributes``."""
        self._collect()
        wanted = dict(attributes or {})
        return [
            p
            for p in self._points
            if p.name == name and all(p.attributes.get(k) == v for k, v in wanted.items())
        ]

    def metric_names(self) -> set[str]:
        self._collect()
        return {point.name for point in self._points}

    def metric_total(self, name: str, attributes: Mapping[str, Any] | None = None) -> float:
        """Sum of values (counters) or of counts (histograms) over the matching points."""
        total = 0.0
        for point in self.metric_points(name, attributes):
            total += point.count if point.count is not None else (point.value or 0)
        return total


def _to_point(name: str, unit: str, point: Any) -> MetricPoint:
    attributes = dict(point.attributes or {})
    if hasattr(point, "bucket_counts"):
        return MetricPoint(name, unit, attributes, count=point.count, sum=point.sum)
    return MetricPoint(name, unit, attributes, value=point.value)


def capture(settings: Settings | None = None) -> Iterator[OtelCapture]:
    """Generator behind the ``otel`` fixture: one `OtelCapture` for the duration of a test."""
    capture_ = OtelCapture(session(), settings)
    capture_.start()
    try:
        yield capture_
    finally:
        capture_.stop()
