"""``db.client.operation.duration`` from the spans the SQLAlchemy instrumentation already makes.

The instrumentation times every statement for its span but records no duration metric; this span processor
turns each finished database client span into one histogram point (seconds, per the semantic conventions).
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind

__all__ = ["DbDurationSpanProcessor"]

_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


class DbDurationSpanProcessor(SpanProcessor):
    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter("otel_distro.db")
        self._duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=_BUCKETS,
        )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if span.kind is not SpanKind.CLIENT:  # database spans are client spans; skip the rest at once
            return
        attributes = span.attributes or {}
        system = attributes.get("db.system.name") or attributes.get("db.system")
        if system is None or span.start_time is None or span.end_time is None:
            return
        if "db.statement" not in attributes and "db.query.text" not in attributes:
            return  # pool connects are not queries
        operation = attributes.get("db.operation.name") or attributes.get("db.operation") or span.name
        point: dict[str, str] = {
            "db.system.name": str(system),
            # The instrumentation's operation reads "SELECT <database>": keep the verb only (low cardinality).
            "db.operation.name": str(operation).split(" ", 1)[0].upper(),
        }
        if not span.status.is_ok:
            point["error.type"] = "error"
        self._duration.record((span.end_time - span.start_time) / 1e9, point)
