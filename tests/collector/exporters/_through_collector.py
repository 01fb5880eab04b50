"""Scaffolding for tests that run one exporter inside a real collector: the OTel SDK's own OTLP/HTTP exporters
send logs and traces in, the exporter (behind the shared sender, with quick retries) takes them out."""

from __future__ import annotations

import time
from collections.abc import MutableMapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

__all__ = ["QUICK_RETRIES", "collector_config", "send_with_sdk", "wait_for_log"]

QUICK_RETRIES = {"initial_interval": "50ms", "max_interval": "200ms", "max_elapsed_time": "60s"}


def collector_config(port: int, exporter: str, settings: dict[str, Any]) -> dict[str, Any]:
    """OTLP/HTTP on ``port`` -> ``exporter`` (its ``settings`` over quick retries), for logs and traces."""
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "exporters": {exporter: {"retry_on_failure": dict(QUICK_RETRIES), **settings}},
        "service": {
            "pipelines": {
                "logs": {"receivers": ["otlp"], "exporters": [exporter]},
                "traces": {"receivers": ["otlp"], "exporters": [exporter]},
            },
            "telemetry": {"metrics": {"level": "none"}},
        },
    }


def send_with_sdk(port: int, spans: Sequence[ReadableSpan], logs: Sequence[ReadableLogRecord]) -> None:
    """Ship SDK data with the SDK's own OTLP/HTTP exporters; the collector must accept it."""
    span_exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
    log_exporter = OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs")
    try:
        if spans:
            assert span_exporter.export(spans) is SpanExportResult.SUCCESS
        if logs:
            assert log_exporter.export(logs).name == "SUCCESS"
    finally:
        span_exporter.shutdown()  # type: ignore[no-untyped-call]
        log_exporter.shutdown()  # type: ignore[no-untyped-call]


def wait_for_log(logs: list[MutableMapping[str, Any]], event: str, timeout: float = 15.0) -> MutableMapping[str, Any]:
    """The first captured log entry named ``event``, waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [entry for entry in list(logs) if entry.get("event") == event]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no {event!r} log within {timeout}s; got {[e.get('event') for e in logs]}")
