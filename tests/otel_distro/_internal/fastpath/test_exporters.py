"""Exporters at exit: one shared, short budget for the collector, so a dev's Ctrl-C is quick without one."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_distro._internal.fastpath import exporters


class _Result:
    status_code = 200
    reason = "OK"
    error = None

    def headers(self) -> dict[str, str]:
        return {}


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> tuple[OTLPSpanExporter, list[float]]:
    exporter = exporters.bound_at_exit(OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces", timeout=10))
    timeouts: list[float] = []

    def request(*_: Any, timeout: float, **__: Any) -> _Result:
        timeouts.append(timeout)
        return _Result()

    monkeypatch.setattr(exporter._client._transport, "request", request)
    return exporter, timeouts


def _spans() -> list[Any]:
    with TracerProvider().get_tracer("t").start_as_current_span("work") as span:
        pass
    return [span]


def test_outside_an_exit_the_configured_timeout_applies(exporter: tuple[OTLPSpanExporter, list[float]]) -> None:
    span_exporter, timeouts = exporter
    assert span_exporter.export(_spans()) is SpanExportResult.SUCCESS
    assert 9 < timeouts[0] <= 10


def test_at_exit_an_export_waits_at_most_the_remaining_budget(exporter: tuple[OTLPSpanExporter, list[float]]) -> None:
    span_exporter, timeouts = exporter
    with exporters.exit_budget(1.5):
        assert span_exporter.export(_spans()) is SpanExportResult.SUCCESS
    assert timeouts[0] <= 1.5
    span_exporter.export(_spans())
    assert timeouts[1] > 9  # the budget ended with the block


def test_once_the_budget_is_spent_exports_give_up_without_sending(
    exporter: tuple[OTLPSpanExporter, list[float]],
) -> None:
    span_exporter, timeouts = exporter
    with exporters.exit_budget(0):
        assert span_exporter.export(_spans()) is SpanExportResult.FAILURE
    assert timeouts == []


def test_bounding_twice_wraps_once(exporter: tuple[OTLPSpanExporter, list[float]]) -> None:
    span_exporter, _ = exporter
    export = span_exporter._client.export
    exporters.bound_at_exit(span_exporter)
    assert span_exporter._client.export is export


def test_upstreams_http_span_and_log_exporters_get_the_faster_encoder() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter  # noqa: PLC0415
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: PLC0415

    assert issubclass(exporters.fast_exporter_class(OTLPSpanExporter), OTLPSpanExporter)
    assert exporters.fast_exporter_class(OTLPSpanExporter) is not OTLPSpanExporter
    assert issubclass(exporters.fast_exporter_class(OTLPLogExporter), OTLPLogExporter)
    assert exporters.fast_exporter_class(GrpcSpanExporter) is GrpcSpanExporter


def _sent_bodies(monkeypatch: pytest.MonkeyPatch, exporter: Any) -> list[bytes]:
    """The request bodies ``exporter`` sends from now on (answered 200, nothing leaves the process)."""
    sent: list[bytes] = []

    def request(*_: Any, data: bytes, **__: Any) -> _Result:
        sent.append(data)
        return _Result()

    monkeypatch.setattr(exporter._client._transport, "request", request)
    return sent


def test_the_faster_exporter_sends_what_upstream_would(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: PLC0415
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: PLC0415

    exporter = exporters.fast_exporter_class(OTLPSpanExporter)(endpoint="http://127.0.0.1:9/v1/traces")
    sent = _sent_bodies(monkeypatch, exporter)
    spans = _spans()
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert ExportTraceServiceRequest.FromString(sent[0]) == encode_spans(spans)


def test_a_batch_the_fast_encoder_refuses_is_sent_as_upstream_encodes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """An int beyond int64 on one record: upstream drops that attribute; the batch still goes, once."""
    from opentelemetry._logs import SeverityNumber  # noqa: PLC0415
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: PLC0415
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: PLC0415
    from opentelemetry.sdk._logs.export import LogRecordExportResult  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415

    from otel_distro._internal.fastpath import log_records as logs  # noqa: PLC0415

    fast = exporters.fast_exporter_class(OTLPLogExporter)(endpoint="http://127.0.0.1:9/v1/logs")
    sent = _sent_bodies(monkeypatch, fast)
    resource = Resource({"service.name": "s"})
    batch = [
        logs.DirectRecord(1, SeverityNumber.INFO, "INFO", "paid", {"order": 1 << 64, "ok": 1}, 0, 0, 0, resource,
                           None),
        logs.DirectRecord(2, SeverityNumber.INFO, "INFO", "shipped", {"ok": 2}, 0, 0, 0, resource, None),
    ]
    assert fast.export(batch) is LogRecordExportResult.SUCCESS
    (request_body,) = sent
    records = ExportLogsServiceRequest.FromString(request_body).resource_logs[0].scope_logs[0].log_records
    assert [r.body.string_value for r in records] == ["paid", "shipped"]
    assert [[a.key for a in r.attributes] for r in records] == [["ok"], ["ok"]]
