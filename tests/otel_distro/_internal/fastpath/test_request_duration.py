"""The pre-aggregated request histogram reports exactly what the SDK histogram would."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.resources import Resource

from otel_distro._internal.fastpath.request_duration import (
    DURATION_BUCKETS,
    PreAggregatedReader,
    RequestDurationHistogram,
    _SdkRecorder,
    duration_recorder,
)


class InMemoryMetricExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.exported: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def get_finished_metrics_data(self) -> list[MetricsData]:
        return self.exported

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


_REQUESTS: list[tuple[float, Any]] = [
    (0.003, ("GET", "http", 200, "/items/{id}", None)),
    (0.005, ("GET", "http", 200, "/items/{id}", None)),  # on a boundary: counted in the bucket it closes
    (0.0051, ("GET", "http", 200, "/items/{id}", None)),
    (12.0, ("GET", "http", 200, "/items/{id}", None)),  # above the last boundary
    (0.2, ("POST", "https", 500, "/fail", "RuntimeError")),
    (0.04, ("GET", "http", 404, None, None)),  # no route matched: no http.route attribute
]


def _points(data: MetricsData, name: str = "http.server.request.duration") -> dict[frozenset[Any], HistogramDataPoint]:
    found: dict[frozenset[Any], HistogramDataPoint] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        assert isinstance(point, HistogramDataPoint)
                        found[frozenset((point.attributes or {}).items())] = point
    return found


def test_it_reports_the_same_points_as_the_sdk_histogram() -> None:
    sdk_reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[sdk_reader], exemplar_filter=AlwaysOffExemplarFilter())
    sdk = _SdkRecorder(provider)
    ours = RequestDurationHistogram()
    for seconds, key in _REQUESTS:
        sdk.record(seconds, key)
        ours.record(seconds, key)

    expected = _points(sdk_reader.get_metrics_data())
    metric = ours.metric()
    assert metric is not None
    assert (metric.name, metric.unit) == ("http.server.request.duration", "s")
    got = {frozenset((p.attributes or {}).items()): p for p in metric.data.data_points}  # type: ignore[attr-defined]
    assert set(got) == set(expected) and len(got) == 3
    for attributes, want in expected.items():
        have = got[attributes]
        assert list(have.bucket_counts) == list(want.bucket_counts)
        assert list(have.explicit_bounds) == list(want.explicit_bounds) == list(DURATION_BUCKETS)
        assert (have.count, have.sum, have.min, have.max) == (want.count, want.sum, want.min, want.max)
    assert metric.data.aggregation_temporality == sdk_reader.get_metrics_data().resource_metrics[0].scope_metrics[
        0
    ].metrics[0].data.aggregation_temporality  # type: ignore[attr-defined]


def test_points_are_cumulative_from_the_first_collection_on() -> None:
    histogram = RequestDurationHistogram()
    assert histogram.metric() is None
    histogram.record(0.01, ("GET", "http", 200, "/a", None))
    first = histogram.metric(now=1)
    histogram.record(0.02, ("GET", "http", 200, "/a", None))
    second = histogram.metric(now=2)
    assert first is not None and second is not None
    (p1,) = first.data.data_points  # type: ignore[attr-defined]
    (p2,) = second.data.data_points  # type: ignore[attr-defined]
    assert (p1.count, p2.count) == (1, 2)
    assert p1.start_time_unix_nano == p2.start_time_unix_nano < 10**30
    assert (p1.time_unix_nano, p2.time_unix_nano) == (1, 2)


def test_a_forked_worker_starts_its_own_series() -> None:
    histogram = RequestDurationHistogram()
    histogram.record(0.01, ("GET", "http", 200, "/a", None))
    histogram.after_fork()
    assert histogram.metric() is None


def test_the_reader_adds_it_to_every_collection_in_the_providers_resource() -> None:
    exporter = InMemoryMetricExporter()
    reader = PreAggregatedReader(exporter, export_interval_millis=3_600_000)
    resource = Resource({"service.name": "svc"})
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    histogram = RequestDurationHistogram()
    reader.add_source(histogram, provider)

    provider.get_meter("app").create_counter("jobs").add(1)
    histogram.record(0.3, ("GET", "http", 200, "/a", None))
    reader.force_flush()

    (data,) = exporter.get_finished_metrics_data()
    (resource_metrics,) = data.resource_metrics
    assert resource_metrics.resource is resource
    scopes = {sm.scope.name: [m.name for m in sm.metrics] for sm in resource_metrics.scope_metrics}
    assert scopes == {"app": ["jobs"], "otel_distro.http": ["http.server.request.duration"]}
    provider.shutdown()


def test_outside_the_distros_own_set_up_the_sdk_histogram_is_used() -> None:
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    assert isinstance(duration_recorder(provider), _SdkRecorder)


def _configured(exemplar_filter: Any = None, **exporter_kwargs: Any) -> Any:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: PLC0415

    from otel_distro._internal.fastpath.request_duration import pre_aggregate  # noqa: PLC0415 - the decision under test

    reader = PreAggregatedReader(OTLPMetricExporter(**exporter_kwargs), export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], exemplar_filter=exemplar_filter or AlwaysOffExemplarFilter())
    try:
        return pre_aggregate(provider, [reader])
    finally:
        provider.shutdown()


def test_the_distro_pre_aggregates_only_what_the_exporter_would_get_from_the_sdk() -> None:
    from opentelemetry.sdk.metrics import Histogram  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import AggregationTemporality  # noqa: PLC0415
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation  # noqa: PLC0415

    assert isinstance(_configured(), RequestDurationHistogram)  # cumulative, explicit buckets: the OTLP default
    assert _configured(preferred_temporality={Histogram: AggregationTemporality.DELTA}) is None
    assert _configured(preferred_aggregation={Histogram: ExponentialBucketHistogramAggregation()}) is None
    assert _configured(exemplar_filter=TraceBasedExemplarFilter()) is None  # the SDK offers exemplars


def test_past_the_cardinality_limit_new_attribute_sets_count_in_one_overflow_series_as_in_the_sdk() -> None:
    sdk_reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[sdk_reader], exemplar_filter=AlwaysOffExemplarFilter())
    sdk = _SdkRecorder(provider)
    ours = RequestDurationHistogram()
    for n in range(2005):
        key = ("GET", "http", 200, f"/r{n}", None)
        sdk.record(0.01, key)
        ours.record(0.01, key)
    ours.record(0.01, ("GET", "http", 200, "/r0", None))  # a known set still counts as itself
    sdk.record(0.01, ("GET", "http", 200, "/r0", None))

    expected = _points(sdk_reader.get_metrics_data())
    metric = ours.metric()
    assert metric is not None
    got = {frozenset((p.attributes or {}).items()): p for p in metric.data.data_points}  # type: ignore[attr-defined]
    assert set(got) == set(expected)
    overflow = frozenset({("otel.metric.overflow", True)})
    assert got[overflow].count == expected[overflow].count == 5
    assert got[frozenset(_attributes_of("/r0").items())].count == 2


def _attributes_of(route: str) -> dict[str, Any]:
    return {"http.request.method": "GET", "url.scheme": "http", "http.response.status_code": 200, "http.route": route}


def test_a_failing_source_never_costs_the_rest_of_the_collection(monkeypatch: Any) -> None:
    from otel_distro._internal import guard  # noqa: PLC0415

    monkeypatch.setattr(guard, "should_raise", lambda: False)  # as in production: reported once, not raised
    exporter = InMemoryMetricExporter()
    reader = PreAggregatedReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    histogram = RequestDurationHistogram()
    reader.add_source(histogram, provider)
    provider.get_meter("app").create_counter("jobs").add(1)
    histogram.record(0.1, ("GET", "http", 200, "/a", None))

    def broken(now: int | None = None) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(histogram, "metric", broken)
    reader.force_flush()
    (data,) = exporter.get_finished_metrics_data()
    names = [m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert names == ["jobs"]
    provider.shutdown()
