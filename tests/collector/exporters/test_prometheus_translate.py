"""OTLP -> Prometheus translation, as otelcol does it (names, labels, job/instance, target_info, samples)."""

from __future__ import annotations

import math
import struct

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from collector.exporters import _prometheus_translate as tr
from collector.exporters._prometheus_translate import Kind


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("http.server.request.duration", "s", Kind.HISTOGRAM, "http_server_request_duration_seconds"),
        ("http.server.duration", "ms", Kind.HISTOGRAM, "http_server_duration_milliseconds"),
        ("system.memory.usage", "By", Kind.GAUGE, "system_memory_usage_bytes"),
        ("requests", "{request}", Kind.COUNTER, "requests_total"),
        ("requests.total", "", Kind.COUNTER, "requests_total"),
        ("total.requests", "", Kind.COUNTER, "requests_total"),
        ("cpu.utilization", "1", Kind.GAUGE, "cpu_utilization_ratio"),
        ("retries", "1", Kind.COUNTER, "retries_total"),
        ("network.io", "By/s", Kind.GAUGE, "network_io_bytes_per_second"),
        ("queue.size", "{batches}", Kind.GAUGE, "queue_size"),
        ("latency_seconds", "s", Kind.HISTOGRAM, "latency_seconds"),
        ("temperature", "Cel", Kind.GAUGE, "temperature_celsius"),
        ("disk", "percent/min", Kind.GAUGE, "disk_percent_per_min"),
        ("odd..name--x", "", Kind.GAUGE, "odd_name_x"),
        ("2xx.responses", "", Kind.COUNTER, "_2xx_responses_total"),
        ("ns:metric", "", Kind.GAUGE, "ns:metric"),
        ("...", "", Kind.GAUGE, ""),
    ],
)
def test_metric_name_follows_otelcol_normalisation(name: str, unit: str, kind: Kind, expected: str) -> None:
    assert tr.metric_name(name, unit, kind) == expected


def test_metric_name_without_suffixes_only_sanitises() -> None:
    assert tr.metric_name("http.requests", "s", Kind.COUNTER, add_suffixes=False) == "http_requests"


def test_metric_name_namespace_is_a_prefix() -> None:
    assert tr.metric_name("requests", "", Kind.COUNTER, namespace="shop.app") == "shop_app_requests_total"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("http.method", "http_method"),
        ("http-route", "http_route"),
        ("123abc", "key_123abc"),
        ("_private", "key_private"),
        ("__reserved", "__reserved"),
        ("ok_name", "ok_name"),
        ("ünïcode", "key_n_code"),
    ],
)
def test_label_name(key: str, expected: str) -> None:
    assert tr.label_name(key) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (7, "7"),
        (999999.0, "999999"),
        (2.5, "2.5"),
        (-3.25, "-3.25"),
        (0.005, "0.005"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (0.1 + 0.2, "0.30000000000000004"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_format_float_writes_like_go(value: float, text: str) -> None:
    assert tr.format_float(value) == text


def test_attribute_values_become_strings_as_pcommon_does() -> None:
    assert tr.attribute_value(AnyValue(string_value="GET")) == "GET"
    assert tr.attribute_value(AnyValue(bool_value=True)) == "true"
    assert tr.attribute_value(AnyValue(int_value=200)) == "200"
    assert tr.attribute_value(AnyValue(double_value=1.5)) == "1.5"
    assert tr.attribute_value(AnyValue(bytes_value=b"\x00\x01")) == "AAE="
    array = AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(int_value=1)]))
    assert tr.attribute_value(array) == '["a",1]'
    kvlist = AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(bool_value=False))]))
    assert tr.attribute_value(kvlist) == '{"k":false}'
    assert tr.attribute_value(AnyValue()) == ""


def test_attributes_colliding_after_sanitising_are_joined_in_key_order() -> None:
    assert tr.labels_from_attributes({"a_b": "1", "a.b": "2", "c": "3"}) == {"a_b": "2;1", "c": "3"}


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"service.name": "api"}, {"job": "api"}),
        ({"service.name": "api", "service.namespace": "shop"}, {"job": "shop/api"}),
        ({"service.name": "api", "service.instance.id": "w-1"}, {"job": "api", "instance": "w-1"}),
        ({"host.name": "h"}, {}),
    ],
)
def test_job_and_instance_come_from_service_attributes(resource: dict[str, str], expected: dict[str, str]) -> None:
    assert tr.identity_labels(resource) == expected


def test_target_info_carries_the_other_resource_attributes() -> None:
    labels = tr.target_info_labels({"service.name": "api", "service.instance.id": "w-1",
                                    "deployment.environment": "prod", "host.name": "h1"})
    assert labels == {"deployment_environment": "prod", "host_name": "h1", "job": "api", "instance": "w-1"}


def test_no_target_info_without_identity_or_without_other_attributes() -> None:
    assert tr.target_info_labels({"host.name": "h1"}) is None
    assert tr.target_info_labels({"service.name": "api", "service.instance.id": "1"}) is None


def _samples(kind: Kind, point: tr.Point) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for s in tr.point_samples("lat_seconds", kind, {"job": "api"}, point)]


def test_histogram_expands_to_cumulative_buckets_sum_and_count() -> None:
    point = tr.Point({}, 0, 0, count=6, sum=7.5, bounds=(0.1, 1.0), bucket_counts=(1, 3, 2))
    assert _samples(Kind.HISTOGRAM, point) == [
        ("lat_seconds_bucket", {"job": "api", "le": "0.1"}, 1),
        ("lat_seconds_bucket", {"job": "api", "le": "1"}, 4),
        ("lat_seconds_bucket", {"job": "api", "le": "+Inf"}, 6),
        ("lat_seconds_sum", {"job": "api"}, 7.5),
        ("lat_seconds_count", {"job": "api"}, 6),
    ]


def test_histogram_without_sum_has_no_sum_sample() -> None:
    point = tr.Point({}, 0, 0, count=1, sum=None, bounds=(), bucket_counts=(1,))
    assert [name for name, _, _ in _samples(Kind.HISTOGRAM, point)] == ["lat_seconds_bucket", "lat_seconds_count"]


def test_summary_expands_to_quantiles_sum_and_count() -> None:
    point = tr.Point({}, 0, 0, count=10, sum=4.0, quantiles=((0.5, 0.3), (0.99, 0.9)))
    assert _samples(Kind.SUMMARY, point) == [
        ("lat_seconds", {"job": "api", "quantile": "0.5"}, 0.3),
        ("lat_seconds", {"job": "api", "quantile": "0.99"}, 0.9),
        ("lat_seconds_sum", {"job": "api"}, 4.0),
        ("lat_seconds_count", {"job": "api"}, 10),
    ]


def test_a_point_without_recorded_value_becomes_staleness_markers() -> None:
    values = [v for _, _, v in _samples(Kind.GAUGE, tr.Point({}, 0, 0, value=3.0, stale=True))]
    assert len(values) == 1
    assert math.isnan(values[0])
    assert math.copysign(1, values[0]) > 0
    assert struct.pack("<d", values[0]) == struct.pack("<Q", 0x7FF0000000000002)


def _exponential(scale: int, positive: tuple[int, list[int]] = (0, []), negative: tuple[int, list[int]] = (0, []),
                 *, zero_threshold: float = 0.0, zero_count: int = 0, stale: bool = False) -> tr.Point:
    buckets = tr.ExponentialBuckets(scale, zero_threshold, zero_count, positive[0], tuple(positive[1]),
                                    negative[0], tuple(negative[1]))
    count = zero_count + sum(positive[1]) + sum(negative[1])
    return tr.Point({}, 0, 0, count=count, sum=12.5, exponential=buckets, stale=stale)


@pytest.mark.parametrize(
    ("point", "schema", "positive", "negative"),
    [
        # OTLP bucket i is Prometheus bucket i + 1; counts become deltas
        (_exponential(0, (0, [1, 2, 0, 3])), 0, (((1, 4),), (1, 1, -2, 3)), ((), ())),
        (_exponential(3, (-2, [5]), (4, [1, 1])), 3, (((-1, 1),), (5,)), (((5, 2),), (1, 0))),
        # scales above 8 are merged down to 8: 2**(10-8) OTLP buckets per native bucket
        (_exponential(10, (0, [1, 1, 1, 1, 1])), 8, (((1, 2),), (4, -3)), ((), ())),
        (_exponential(9, (-3, [1, 1, 1])), 8, (((-1, 2),), (1, 1)), ((), ())),
    ],
)
def test_exponential_histograms_become_native_histograms(
    point: tr.Point, schema: int, positive: tuple[tuple[tuple[int, int], ...], tuple[int, ...]],
    negative: tuple[tuple[tuple[int, int], ...], tuple[int, ...]],
) -> None:
    native = tr.native_histogram(point)
    assert isinstance(native, tr.NativeHistogram)
    assert native.schema == schema
    assert (native.positive_spans, native.positive_deltas) == positive
    assert (native.negative_spans, native.negative_deltas) == negative
    assert (native.count, native.sum) == (int(point.count), 12.5)


def test_native_histogram_zero_bucket_and_staleness() -> None:
    native = tr.native_histogram(_exponential(0, zero_count=4))
    assert isinstance(native, tr.NativeHistogram)
    assert (native.zero_count, native.zero_threshold) == (4, tr.DEFAULT_ZERO_THRESHOLD)
    stale = tr.native_histogram(_exponential(0, (0, [1]), zero_threshold=0.001, stale=True))
    assert isinstance(stale, tr.NativeHistogram)
    assert stale.zero_threshold == 0.001
    assert struct.pack("<d", stale.sum) == struct.pack("<Q", 0x7FF0000000000002)


def test_scales_below_the_lowest_native_schema_are_refused() -> None:
    assert tr.native_histogram(_exponential(-5, (0, [1]))) == (
        "scale -5 is below the lowest native histogram schema (-4)")
