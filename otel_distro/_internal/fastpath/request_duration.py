"""``http.server.request.duration`` aggregated by the middleware itself, handed to the readers at collection.

A synchronous SDK histogram costs about 8 µs per request (a measurement object, an attribute hash, a lookup and
an aggregation under locks, per reader); the request path records one point per request with the same handful of
attribute sets over and over. `RequestDurationHistogram` keeps the explicit-bucket counts per attribute set in a
dict (a bisect and a few increments), and `PreAggregatedReader` — the distro's periodic OTLP reader, also behind
/metrics — adds the finished histogram to every collection, in the same resource, under the
``otel_distro.http`` scope, each series cumulative from its first measurement, with the SDK's 2000-series limit
and overflow series: what the SDK would report.

It is used only where it gives the same data as the SDK: every reader of the provider is a
`PreAggregatedReader` (the distro's own set-up) whose exporter wants cumulative explicit-bucket histograms (the
OTLP default), and exemplars are off (the distro's default; with ``OTEL_METRICS_EXEMPLAR_FILTER`` set to record
them, the SDK histogram is used and offers each measurement).
Anywhere else — the pytest plugin's in-memory readers, a reader the app added — `duration_recorder` returns the
SDK histogram behind the same ``record(seconds, key)`` call.
"""

from __future__ import annotations

import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter
from opentelemetry.sdk.metrics import Histogram as SdkHistogram
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.view import DefaultAggregation, ExplicitBucketHistogramAggregation
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_distro._internal import fastpath, guard

__all__ = [
    "DURATION_BUCKETS",
    "PreAggregatedReader",
    "RequestDurationHistogram",
    "can_share",
    "duration_recorder",
    "periodic_reader",
    "pre_aggregate",
]

#: Semantic-convention buckets of ``http.server.request.duration`` (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
NAME = "http.server.request.duration"
UNIT = "s"
DESCRIPTION = "Duration of HTTP server requests."
SCOPE = "otel_distro.http"

#: ``(http.request.method, url.scheme, http.response.status_code, http.route or None, error.type or None)``
Key = tuple[str, str, int, "str | None", "str | None"]


def _attributes(key: Key) -> dict[str, Any]:
    if key == _OVERFLOW:
        return {"otel.metric.overflow": True}  # as the SDK names it
    method, scheme, status, route, error_type = key
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.scheme": scheme,
        "http.response.status_code": status,
    }
    if route:
        attributes["http.route"] = route
    if error_type is not None:
        attributes["error.type"] = error_type
    return attributes


#: Attribute sets per histogram, as the SDK's default cardinality limit; later ones count in one overflow series.
CARDINALITY_LIMIT = 2000
_OVERFLOW: Key = ("", "", 0, None, "\0overflow")


class _Point:
    __slots__ = ("buckets", "count", "max", "min", "start", "sum")

    def __init__(self, size: int) -> None:
        self.start = time.time_ns()  # a cumulative series starts with its first measurement
        self.buckets = [0] * size
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")


class RequestDurationHistogram:
    """Cumulative explicit-bucket histogram points by request attribute set."""

    def __init__(self, boundaries: Sequence[float] = DURATION_BUCKETS) -> None:
        self._bounds = tuple(float(b) for b in boundaries)
        self._points: dict[Key, _Point] = {}
        self._lock = threading.Lock()

    def record(self, seconds: float, key: Key) -> None:
        """One request of ``seconds`` (a value equal to a boundary counts in the bucket it closes, as in OTel)."""
        with self._lock:
            point = self._points.get(key)
            if point is None:
                if len(self._points) >= CARDINALITY_LIMIT:
                    key = _OVERFLOW
                    point = self._points.get(key)
                if point is None:
                    point = self._points[key] = _Point(len(self._bounds) + 1)
            point.buckets[bisect_left(self._bounds, seconds)] += 1
            point.count += 1
            point.sum += seconds
            if seconds < point.min:  # noqa: PLR1730 - a branch costs less than a call, on every request
                point.min = seconds
            if seconds > point.max:  # noqa: PLR1730
                point.max = seconds

    def metric(self, now: int | None = None) -> Metric | None:
        """The histogram as the SDK collects it (cumulative), or None before the first request."""
        now = time.time_ns() if now is None else now
        with self._lock:
            snapshot = [
                (key, p.start, list(p.buckets), p.count, p.sum, p.min, p.max) for key, p in self._points.items()
            ]
        if not snapshot:
            return None
        points = [
            HistogramDataPoint(
                attributes=_attributes(key),
                start_time_unix_nano=start,
                time_unix_nano=now,
                count=count,
                sum=total,
                bucket_counts=buckets,
                explicit_bounds=self._bounds,
                min=low,
                max=high,
                exemplars=[],
            )
            for key, start, buckets, count, total, low, high in snapshot
        ]
        return Metric(
            name=NAME,
            description=DESCRIPTION,
            unit=UNIT,
            data=Histogram(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE),
        )

    def after_fork(self) -> None:
        """A forked worker starts its own series (what the parent counted is the parent's)."""
        self._lock = threading.Lock()
        with self._lock:
            self._points = {}


class PreAggregatedReader(PeriodicExportingMetricReader):
    """The periodic exporting reader, adding the distro's pre-aggregated metrics to each collection."""

    def __init__(self, exporter: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(exporter, *args, **kwargs)
        self._sources: list[tuple[RequestDurationHistogram, Any]] = []

    def add_source(self, histogram: RequestDurationHistogram, meter_provider: Any) -> None:
        """Report ``histogram`` with ``meter_provider``'s resource (read at each collection: it changes at fork)."""
        self._sources.append((histogram, meter_provider))

    def _with_sources(self, metrics_data: Any) -> Any:
        """``metrics_data`` (a `MetricsData`, or None when the SDK collected nothing) with the sources added;
        as it came if adding them fails (reported once): the rest of the collection is never lost to them."""
        if not self._sources:
            return metrics_data
        try:
            return self._add_sources(metrics_data)
        except Exception as exc:
            guard.internal_error("request_duration_collect", exc)
            return metrics_data

    def _add_sources(self, metrics_data: Any) -> Any:
        now = time.time_ns()
        resource_metrics = list(metrics_data.resource_metrics) if metrics_data is not None else []
        for histogram, provider in self._sources:
            metric = histogram.metric(now)
            if metric is None:
                continue
            scope = ScopeMetrics(scope=InstrumentationScope(SCOPE), metrics=[metric], schema_url="")
            resource = getattr(getattr(provider, "_sdk_config", None), "resource", None)
            for index, existing in enumerate(resource_metrics):
                if resource is None or existing.resource is resource:
                    resource_metrics[index] = ResourceMetrics(
                        resource=existing.resource,
                        scope_metrics=[*existing.scope_metrics, scope],
                        schema_url=existing.schema_url,
                    )
                    break
            else:
                if resource is not None:
                    resource_metrics.append(ResourceMetrics(resource=resource, scope_metrics=[scope], schema_url=""))
        return MetricsData(resource_metrics=resource_metrics) if resource_metrics else metrics_data

    def _receive_metrics(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        # The SDK calls this only when it collected something; whenever the histogram has points, the request
        # counters the middleware keeps beside it (observable counters of the same provider) have some too.
        super()._receive_metrics(self._with_sources(metrics_data), timeout_millis, **kwargs)


class _SdkRecorder:
    """The SDK histogram behind `RequestDurationHistogram.record`'s call."""

    def __init__(self, meter_provider: Any) -> None:
        self._histogram = meter_provider.get_meter(SCOPE).create_histogram(
            NAME, unit=UNIT, description=DESCRIPTION, explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS)
        )

    def record(self, seconds: float, key: Key) -> None:
        self._histogram.record(seconds, _attributes(key))


#: The pre-aggregated histogram of each meter provider the distro set up (see `pre_aggregate`).
_installed: weakref.WeakKeyDictionary[Any, RequestDurationHistogram] = weakref.WeakKeyDictionary()


def can_share(exporter: MetricExporter) -> bool:
    """Whether ``exporter``'s reader collects what the SDK would give Prometheus text and this histogram alike
    (cumulative temporality, explicit-bucket histograms: the OTLP default)."""
    if not fastpath.active():
        return False
    temporality = getattr(exporter, "_preferred_temporality", None) or {}
    aggregation = getattr(exporter, "_preferred_aggregation", None) or {}
    if any(value is not AggregationTemporality.CUMULATIVE for value in temporality.values()):
        return False
    histogram = aggregation.get(SdkHistogram, DefaultAggregation())
    return isinstance(histogram, (DefaultAggregation, ExplicitBucketHistogramAggregation))


def pre_aggregate(meter_provider: Any, readers: Sequence[Any]) -> RequestDurationHistogram | None:
    """The pre-aggregated request histogram of ``meter_provider`` when it reports what the SDK would: every reader
    is the distro's, its exporter wants cumulative explicit-bucket histograms (the OTLP default), and exemplars are
    off; else None, and the middleware records into an SDK histogram, which honours delta temporality, exponential
    buckets, exemplars."""
    if not fastpath.active() or not readers or not all(
        isinstance(reader, PreAggregatedReader)
        and getattr(reader, "_exporter", None) is not None
        and can_share(reader._exporter)
        for reader in readers
    ):
        return None
    config = getattr(meter_provider, "_sdk_config", None)
    if not isinstance(getattr(config, "exemplar_filter", None), AlwaysOffExemplarFilter):
        return None
    histogram = RequestDurationHistogram()
    for reader in readers:
        reader.add_source(histogram, meter_provider)
    _installed[meter_provider] = histogram
    return histogram


def periodic_reader(exporter: MetricExporter) -> PeriodicExportingMetricReader:
    """The distro's periodic OTLP reader for ``exporter``: one that can carry the pre-aggregated histogram, or the
    SDK's own with the fast path off."""
    return PreAggregatedReader(exporter) if fastpath.active() else PeriodicExportingMetricReader(exporter)


def duration_recorder(meter_provider: Any) -> RequestDurationHistogram | _SdkRecorder:
    """Where the middleware records request durations for ``meter_provider`` (see the module docstring)."""
    histogram = _installed.get(meter_provider)
    return histogram if histogram is not None else _SdkRecorder(meter_provider)
