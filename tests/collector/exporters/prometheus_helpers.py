"""Metrics batches for the prometheus exporters' tests: from the real OpenTelemetry SDK, or built by hand."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from collector.pdata import Batch, Signal

T = TypeVar("T")

DELTA = {Counter: AggregationTemporality.DELTA, UpDownCounter: AggregationTemporality.DELTA,
         Histogram: AggregationTemporality.DELTA}


TEMPORALITY = {True: metrics_pb2.AGGREGATION_TEMPORALITY_DELTA, False: metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE}


class SdkMetrics:
    """A MeterProvider with an in-memory reader; ``collect()`` gives what its OTLP exporter would send."""

    def __init__(self, resource: Mapping[str, Any] | None = None, *, delta: bool = False, exponential: bool = False,
                 scope: str = "test.meter", scope_version: str = "1.0") -> None:
        self.reader = InMemoryMetricReader(
            preferred_temporality=DELTA if delta else {},  # type: ignore[arg-type]
            preferred_aggregation={Histogram: ExponentialBucketHistogramAggregation()} if exponential else {},
        )
        self.provider = MeterProvider(resource=Resource.create(dict(resource or {"service.name": "api"})),
                                      metric_readers=[self.reader])
        self.meter = self.provider.get_meter(scope, scope_version)

    def collect(self) -> Batch:
        data = self.reader.get_metrics_data()
        request = encode_metrics(data) if data is not None else Batch.empty(Signal.METRICS).request
        return Batch(Signal.METRICS, request)

    def shutdown(self) -> None:
        self.provider.shutdown()


@contextmanager
def sdk_metrics(resource: Mapping[str, Any] | None = None, *, delta: bool = False,
                exponential: bool = False) -> Iterator[SdkMetrics]:
    sdk = SdkMetrics(resource, delta=delta, exponential=exponential)
    try:
        yield sdk
    finally:
        sdk.shutdown()


def attrs(values: Mapping[str, Any]) -> list[KeyValue]:
    out = []
    for key, value in values.items():
        if isinstance(value, bool):
            out.append(KeyValue(key=key, value=AnyValue(bool_value=value)))
        elif isinstance(value, int):
            out.append(KeyValue(key=key, value=AnyValue(int_value=value)))
        elif isinstance(value, float):
            out.append(KeyValue(key=key, value=AnyValue(double_value=value)))
        else:
            out.append(KeyValue(key=key, value=AnyValue(string_value=str(value))))
    return out


def batch(*metrics: metrics_pb2.Metric, resource: Mapping[str, Any] | None = None,
          scope: str = "test.meter", scope_version: str = "") -> Batch:
    """One resource, one scope, these metrics."""
    out = Batch.empty(Signal.METRICS)
    rm = out.request.resource_metrics.add()  # type: ignore[union-attr]
    rm.resource.attributes.extend(attrs(resource if resource is not None else {"service.name": "api"}))
    sm = rm.scope_metrics.add()
    sm.scope.name = scope
    sm.scope.version = scope_version
    sm.metrics.extend(metrics)
    return out


def number_point(value: float, *, t: int, start: int = 1, attributes: Mapping[str, Any] | None = None,
                 stale: bool = False) -> metrics_pb2.NumberDataPoint:
    dp = metrics_pb2.NumberDataPoint(start_time_unix_nano=start * 10**9, time_unix_nano=t * 10**9,
                                     flags=1 if stale else 0)
    if isinstance(value, int):
        dp.as_int = value
    else:
        dp.as_double = value
    dp.attributes.extend(attrs(attributes or {}))
    return dp


def sum_metric(name: str, *points: metrics_pb2.NumberDataPoint, unit: str = "", monotonic: bool = True,
               delta: bool = False, description: str = "") -> metrics_pb2.Metric:
    m = metrics_pb2.Metric(name=name, unit=unit, description=description)
    m.sum.is_monotonic = monotonic
    m.sum.aggregation_temporality = TEMPORALITY[delta]
    m.sum.data_points.extend(points)
    return m


def gauge_metric(name: str, *points: metrics_pb2.NumberDataPoint, unit: str = "") -> metrics_pb2.Metric:
    m = metrics_pb2.Metric(name=name, unit=unit)
    m.gauge.data_points.extend(points)
    return m


def histogram_metric(name: str, bounds: list[float], counts: list[int], total: float, *, t: int, start: int = 1,
                     unit: str = "", delta: bool = False,
                     attributes: Mapping[str, Any] | None = None) -> metrics_pb2.Metric:
    m = metrics_pb2.Metric(name=name, unit=unit)
    m.histogram.aggregation_temporality = TEMPORALITY[delta]
    dp = m.histogram.data_points.add(start_time_unix_nano=start * 10**9, time_unix_nano=t * 10**9,
                                     count=sum(counts), sum=total)
    dp.explicit_bounds.extend(bounds)
    dp.bucket_counts.extend(counts)
    dp.attributes.extend(attrs(attributes or {}))
    return m


class LoopThread:
    """An asyncio loop in a background thread, for running async components inside sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="prometheus-test-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextmanager
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    try:
        yield lt
    finally:
        lt.close()


WORKER = {"service.name": "api", "service.namespace": "shop", "service.instance.id": "w1"}


def sdk_batch_with_exemplars() -> tuple[Batch, str, str]:
    """A counter and a histogram recorded inside a span (the SDK keeps it as an exemplar): the batch, and the
    span's trace id and span id in hex."""
    tracer = TracerProvider().get_tracer("test")
    with sdk_metrics(WORKER) as sdk:
        messages = sdk.meter.create_counter("chat.messages")
        latency = sdk.meter.create_histogram("http.server.request.duration", unit="s",
                                             explicit_bucket_boundaries_advisory=[0.1, 1.0])
        with tracer.start_as_current_span("POST /chat") as span:
            messages.add(2)
            latency.record(0.5)
        context = span.get_span_context()
        return sdk.collect(), f"{context.trace_id:032x}", f"{context.span_id:016x}"
