"""/metrics from the OTLP reader's own aggregation: current values on every scrape, nothing exported twice."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from prometheus_client import CollectorRegistry, generate_latest

from otel_distro._internal.fastpath.prometheus import SharedPrometheusReader, can_share


class RecordingExporter(MetricExporter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exported: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def _points(data: MetricsData, name: str) -> list[Any]:
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_each_scrape_shows_the_current_totals_and_is_not_exported_over_otlp() -> None:
    exporter = RecordingExporter()
    registry = CollectorRegistry()
    reader = SharedPrometheusReader(exporter, registry=registry)
    provider = MeterProvider(metric_readers=[reader])
    try:
        histogram = provider.get_meter("t").create_histogram("http.server.request.duration", unit="s")
        for _ in range(3):
            histogram.record(0.01, {"http.route": "/a"})
        first = generate_latest(registry).decode()
        assert 'http_server_request_duration_seconds_count{http_route="/a"' in first
        assert "_count{" in first and " 3.0" in first.split("http_server_request_duration_seconds_count{")[1]

        histogram.record(0.01, {"http.route": "/a"})
        second = generate_latest(registry).decode()
        assert " 4.0" in second.split("http_server_request_duration_seconds_count{")[1].splitlines()[0]
        assert exporter.exported == []  # scrapes do not send to the collector

        provider.force_flush()
        (point,) = _points(exporter.exported[-1], "http.server.request.duration")
        assert point.count == 4  # the periodic export carries the same cumulative totals
    finally:
        provider.shutdown()
    assert "http_server_request_duration" not in generate_latest(registry).decode()


def test_creating_the_reader_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """The registry collects once on registration, before the reader has a provider: that collection must not
    reach the reader (the SDK would print "Cannot call collect on a MetricReader until it is registered")."""
    caplog.set_level(logging.DEBUG)
    registry = CollectorRegistry(auto_describe=True)  # as prometheus_client's global REGISTRY
    reader = SharedPrometheusReader(RecordingExporter(), registry=registry)
    provider = MeterProvider(metric_readers=[reader])
    try:
        provider.get_meter("t").create_counter("requests").add(2)
        assert "} 2.0" in generate_latest(registry).decode().split("requests_total{")[1]
    finally:
        provider.shutdown()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")] == []


def test_only_cumulative_explicit_bucket_readers_are_shared() -> None:
    assert can_share(RecordingExporter())
    assert not can_share(RecordingExporter(preferred_temporality={Counter: AggregationTemporality.DELTA}))
    assert not can_share(RecordingExporter(preferred_aggregation={Histogram: ExponentialBucketHistogramAggregation()}))
