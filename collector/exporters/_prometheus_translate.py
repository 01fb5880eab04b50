"""OTLP metrics -> Prometheus, shared by the ``prometheus`` and ``prometheusremotewrite`` exporters.

The rules are otelcol's (``pkg/translator/prometheus`` / ``prometheus/otlptranslator``):

* metric names: characters outside ``[a-zA-Z0-9:]`` split the name into tokens joined by ``_``; the unit
  becomes a suffix (``s`` -> ``_seconds``, ``By`` -> ``_bytes``, ``By/s`` -> ``_bytes_per_second``,
  ``{requests}`` -> nothing), monotonic sums end in ``_total``, gauges of unit ``1`` in ``_ratio``;
* label names: characters outside ``[a-zA-Z0-9_]`` become ``_``; a leading digit gets ``key_``, a single
  leading ``_`` gets ``key``; attributes that collide after that are joined with ``;``;
* ``job`` is ``service.namespace/service.name`` (or ``service.name``), ``instance`` is
  ``service.instance.id``; the other resource attributes go on ``target_info``;
* histograms expand to ``_bucket{le=...}`` (cumulative, ending in ``+Inf``), ``_sum`` and ``_count``;
  summaries to ``{quantile=...}``, ``_sum`` and ``_count``; exponential histograms become native histograms
  (remote write only: the text format cannot carry them).

Everything here is pure: data in, names, labels and samples out.
"""

from __future__ import annotations

import base64
import bisect
import functools
import json
import math
import re
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "STALE_NAN",
    "TARGET_INFO",
    "Exemplar",
    "ExponentialBuckets",
    "Kind",
    "MetricInfo",
    "NativeHistogram",
    "Point",
    "Sample",
    "attribute_value",
    "attributes_to_dict",
    "format_float",
    "identity_labels",
    "iter_points",
    "label_name",
    "labels_from_attributes",
    "metric_name",
    "native_histogram",
    "point_samples",
    "target_info_labels",
]

TARGET_INFO = "target_info"

STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
"""Prometheus' staleness marker: a NaN with a fixed bit pattern."""

SERVICE_NAME = "service.name"
SERVICE_NAMESPACE = "service.namespace"
SERVICE_INSTANCE_ID = "service.instance.id"
_IDENTIFYING = frozenset({SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID})

_NO_RECORDED_VALUE = 1  # DataPointFlags.FLAG_NO_RECORDED_VALUE_MASK
_DELTA = 1  # AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_CUMULATIVE = 2


class Kind(StrEnum):
    """The Prometheus metric type a metric becomes."""

    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"


# --- names ---------------------------------------------------------------------------------------------------

UNITS: Mapping[str, str] = {
    # time
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds",
    "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
    # bytes
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes",
    "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    # SI
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams",
    # misc
    "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}
"""OTLP (UCUM) unit -> Prometheus unit word; units not listed are used as they are."""

PER_UNITS: Mapping[str, str] = {
    "s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year",
}
"""The part after ``/`` in a unit: ``By/s`` -> ``bytes_per_second``."""

_NAME_SPLIT = re.compile(r"[^a-zA-Z0-9:]+")
_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def _name_tokens(text: str) -> list[str]:
    return [t for t in _NAME_SPLIT.split(text) if t]


def _unit_suffixes(unit: str) -> tuple[str, str]:
    main, _, per = unit.partition("/")
    main, per = main.strip(), per.strip()
    main_word = "" if not main or "{" in main or "}" in main else UNITS.get(main, main)
    per_word = "" if not per or "{" in per or "}" in per else PER_UNITS.get(per, per)
    return "_".join(_name_tokens(main_word)), "_".join(_name_tokens(per_word))


def metric_name(name: str, unit: str, kind: Kind, *, namespace: str = "", add_suffixes: bool = True) -> str:
    """The Prometheus family name of an OTLP metric; ``""`` when nothing valid is left of it."""
    tokens = _name_tokens(name)
    if add_suffixes:
        main, per = _unit_suffixes(unit)
        if main and main not in tokens:
            tokens.append(main)
        if per and f"per_{per}" not in "_".join(tokens):
            tokens += ["per", per]
        if kind is Kind.COUNTER:
            tokens = [t for t in tokens if t != "total"] + ["total"]
        if unit == "1" and kind is Kind.GAUGE:
            tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    if namespace:
        tokens = [*_name_tokens(namespace), *tokens]
    out = "_".join(tokens)
    if out and out[0].isdigit():
        out = "_" + out
    return out


def label_name(key: str) -> str:
    """A Prometheus label name for an attribute key (``http.method`` -> ``http_method``)."""
    if not key:
        return key
    out = _LABEL_INVALID.sub("_", key)
    if out[0].isdigit():
        out = "key_" + out
    elif out.startswith("_") and not out.startswith("__"):
        out = "key" + out
    return out


# --- values --------------------------------------------------------------------------------------------------


def format_float(value: float) -> str:
    """A float as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` writes it (what Prometheus itself prints):
    shortest round-trip digits, exponent form below 1e-4 and from 1e6 (``1e+06``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    if -1e6 < value < 1e6 and value == int(value):  # the common case, without the general formatting
        return str(int(value))
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # position of the decimal point from the left of `digits`
    exp10 = point - 1
    minus = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{minus}{digits}{'0' * (point - len(digits))}"
    return f"{minus}{digits[:point]}.{digits[point:]}"


def _plain(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind)


def attribute_value(value: Any) -> str:
    """An OTLP ``AnyValue`` as a label value (pcommon's ``AsString``: JSON for arrays and maps)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "string_value":
        return str(value.string_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return format_float(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return json.dumps(_plain(value), separators=(",", ":"), sort_keys=False)


def attributes_to_dict(attributes: Any) -> dict[str, str]:
    """A repeated ``KeyValue`` as ``{key: label value}`` (the last of duplicate keys wins)."""
    return {kv.key: attribute_value(kv.value) for kv in attributes}


def labels_from_attributes(attributes: Mapping[str, str], prefix: str = "") -> dict[str, str]:
    """Sanitised label names; values of keys that collide after sanitising are joined with ``;`` in key order."""
    out: dict[str, str] = {}
    for key in sorted(attributes):
        name = label_name(prefix + key)
        if not name or name == "__name__":  # the metric name is not an attribute's to set
            continue
        value = attributes[key]
        out[name] = f"{out[name]};{value}" if name in out else value
    return out


def identity_labels(resource: Mapping[str, str]) -> dict[str, str]:
    """``job`` and ``instance`` from the resource's service attributes."""
    out: dict[str, str] = {}
    name = resource.get(SERVICE_NAME)
    if name is not None:
        namespace = resource.get(SERVICE_NAMESPACE)
        out["job"] = f"{namespace}/{name}" if namespace else name
    instance = resource.get(SERVICE_INSTANCE_ID)
    if instance is not None:
        out["instance"] = instance
    return out


def target_info_labels(resource: Mapping[str, str]) -> dict[str, str] | None:
    """The labels of the resource's ``target_info`` series, or None when it has no identity or nothing else."""
    identity = identity_labels(resource)
    rest = {k: v for k, v in resource.items() if k not in _IDENTIFYING}
    if not identity or not rest:
        return None
    return {**labels_from_attributes(rest), **identity}


# --- data points ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What a metric's points share: its OTLP identity and the Prometheus type it becomes."""

    name: str
    description: str
    unit: str
    kind: Kind
    delta: bool = False  # aggregation temporality of sums and histograms
    additive: bool = False  # sums and histograms: points of one series from several writers add up
    exponential: bool = False  # an OTLP exponential histogram: a Prometheus native histogram


@dataclass(frozen=True, slots=True)
class ExponentialBuckets:
    """An OTLP exponential histogram's buckets: bucket ``offset + i`` of a side covers
    ``(base**(offset+i), base**(offset+i+1)]`` with ``base = 2**(2**-scale)``."""

    scale: int
    zero_threshold: float
    zero_count: int
    positive_offset: int
    positive: tuple[int, ...]
    negative_offset: int
    negative: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A measurement kept with a point, with the span it was made in (hex ids; empty when there was none)."""

    value: float
    time_ns: int
    trace_id: str = ""
    span_id: str = ""


@dataclass(slots=True)
class Point:
    """One OTLP data point, reduced to what Prometheus needs. Counts and sums are floats (OTLP ints included)."""

    attributes: dict[str, str]
    start_ns: int
    time_ns: int
    value: float = 0.0  # gauge, counter
    count: float = 0.0  # histogram, summary
    sum: float | None = None  # histogram (optional in OTLP), summary
    bounds: tuple[float, ...] = ()  # histogram: explicit upper bounds
    bucket_counts: tuple[float, ...] = ()  # histogram: per bucket (len(bounds) + 1), not cumulative
    quantiles: tuple[tuple[float, float], ...] = ()  # summary: (quantile, value)
    exponential: ExponentialBuckets | None = None  # exponential histogram
    exemplars: tuple[Exemplar, ...] = ()  # counters and histograms
    stale: bool = False  # OTLP's "no recorded value": the series ended


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str] = field(hash=False)
    value: float
    exemplar: Exemplar | None = None


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A metric the translation skips, with why (for a log line)."""

    name: str
    reason: str


def _number(dp: Any) -> float:
    return float(dp.as_int) if dp.WhichOneof("value") == "as_int" else float(dp.as_double)


def _exemplars(exemplars: Sequence[Any]) -> tuple[Exemplar, ...]:
    return tuple(Exemplar(_number(e), e.time_unix_nano, e.trace_id.hex(), e.span_id.hex()) for e in exemplars)


def _point(dp: Any, **values: Any) -> Point:
    """A `Point` with what every kind of OTLP data point carries, plus the kind's own ``values``."""
    return Point(attributes=attributes_to_dict(dp.attributes), start_ns=dp.start_time_unix_nano,
                 time_ns=dp.time_unix_nano, stale=bool(dp.flags & _NO_RECORDED_VALUE), **values)


def _number_points(data_points: Sequence[Any]) -> Iterator[Point]:
    for dp in data_points:
        yield _point(dp, value=_number(dp), exemplars=_exemplars(dp.exemplars))


def _histogram_points(data_points: Sequence[Any]) -> Iterator[Point]:
    for dp in data_points:
        yield _point(
            dp,
            count=float(dp.count),
            sum=dp.sum if dp.HasField("sum") else None,
            bounds=tuple(dp.explicit_bounds),
            bucket_counts=tuple(float(c) for c in dp.bucket_counts),
            exemplars=_exemplars(dp.exemplars),
        )


def _summary_points(data_points: Sequence[Any]) -> Iterator[Point]:
    for dp in data_points:
        yield _point(dp, count=float(dp.count), sum=dp.sum,
                     quantiles=tuple((q.quantile, q.value) for q in dp.quantile_values))


def _exponential_points(data_points: Sequence[Any]) -> Iterator[Point]:
    for dp in data_points:
        yield _point(
            dp,
            count=float(dp.count),
            sum=dp.sum if dp.HasField("sum") else None,
            exponential=ExponentialBuckets(
                scale=dp.scale, zero_threshold=dp.zero_threshold, zero_count=dp.zero_count,
                positive_offset=dp.positive.offset, positive=tuple(dp.positive.bucket_counts),
                negative_offset=dp.negative.offset, negative=tuple(dp.negative.bucket_counts),
            ),
        )


def metric_info(metric: Any) -> MetricInfo | Unsupported:
    """How an OTLP ``Metric`` maps to a Prometheus type, or why it does not."""
    data = metric.WhichOneof("data")
    name, description, unit = metric.name, metric.description, metric.unit
    if data == "gauge":
        return MetricInfo(name, description, unit, Kind.GAUGE)
    if data == "sum":
        temporality = metric.sum.aggregation_temporality
        if temporality not in (_DELTA, _CUMULATIVE):
            return Unsupported(name, "sum without aggregation temporality")
        kind = Kind.COUNTER if metric.sum.is_monotonic else Kind.GAUGE
        return MetricInfo(name, description, unit, kind, delta=temporality == _DELTA, additive=True)
    if data == "histogram":
        temporality = metric.histogram.aggregation_temporality
        if temporality not in (_DELTA, _CUMULATIVE):
            return Unsupported(name, "histogram without aggregation temporality")
        return MetricInfo(name, description, unit, Kind.HISTOGRAM, delta=temporality == _DELTA, additive=True)
    if data == "summary":
        return MetricInfo(name, description, unit, Kind.SUMMARY)
    if data == "exponential_histogram":
        temporality = metric.exponential_histogram.aggregation_temporality
        if temporality not in (_DELTA, _CUMULATIVE):
            return Unsupported(name, "exponential histogram without aggregation temporality")
        return MetricInfo(name, description, unit, Kind.HISTOGRAM, delta=temporality == _DELTA, additive=True,
                          exponential=True)
    return Unsupported(name, "metric without data")


def points(metric: Any) -> Iterator[Point]:
    data = metric.WhichOneof("data")
    if data in ("gauge", "sum"):
        yield from _number_points(getattr(metric, data).data_points)
    elif data == "histogram":
        yield from _histogram_points(metric.histogram.data_points)
    elif data == "summary":
        yield from _summary_points(metric.summary.data_points)
    elif data == "exponential_histogram":
        yield from _exponential_points(metric.exponential_histogram.data_points)


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    version: str
    attributes: tuple[tuple[str, str], ...] = ()


def iter_points(
    request: Any,
) -> Iterator[tuple[dict[str, str], Scope, MetricInfo | Unsupported, Iterator[Point]]]:
    """Walk an ``ExportMetricsServiceRequest``: (resource attributes, scope, metric info, its points)."""
    for rm in request.resource_metrics:
        resource = attributes_to_dict(rm.resource.attributes)
        for sm in rm.scope_metrics:
            scope = Scope(sm.scope.name, sm.scope.version, tuple(attributes_to_dict(sm.scope.attributes).items()))
            for metric in sm.metrics:
                yield resource, scope, metric_info(metric), points(metric)


# --- samples -------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _le_values(bounds: tuple[float, ...]) -> tuple[str, ...]:
    return tuple(format_float(b) for b in bounds)


def _exemplars_by_bucket(point: Point) -> dict[int, Exemplar]:
    """The latest exemplar of each bucket (bucket i holds values up to bounds[i]; the last, the rest)."""
    out: dict[int, Exemplar] = {}
    for exemplar in point.exemplars:
        index = bisect.bisect_left(point.bounds, exemplar.value)
        kept = out.get(index)
        if kept is None or exemplar.time_ns >= kept.time_ns:
            out[index] = exemplar
    return out


def point_samples(family: str, kind: Kind, labels: dict[str, str], point: Point) -> Iterator[Sample]:
    """The Prometheus samples of one point of a family (``family`` already carries ``_total`` for counters)."""
    if kind is Kind.GAUGE:
        yield Sample(family, labels, STALE_NAN if point.stale else point.value)
        return
    if kind is Kind.COUNTER:
        latest = max(point.exemplars, key=lambda e: e.time_ns) if point.exemplars else None
        yield Sample(family, labels, STALE_NAN if point.stale else point.value, latest)
        return
    if kind is Kind.HISTOGRAM:
        by_bucket = _exemplars_by_bucket(point) if point.exemplars else {}
        running = 0.0
        for i, (le, count) in enumerate(zip(_le_values(point.bounds), point.bucket_counts, strict=False)):
            running += count
            yield Sample(f"{family}_bucket", {**labels, "le": le}, STALE_NAN if point.stale else running,
                         by_bucket.get(i))
        yield Sample(f"{family}_bucket", {**labels, "le": "+Inf"}, STALE_NAN if point.stale else point.count,
                     by_bucket.get(len(point.bounds)))
    else:
        for quantile, value in point.quantiles:
            yield Sample(family, {**labels, "quantile": format_float(quantile)},
                         STALE_NAN if point.stale else value)
    if point.sum is not None:
        yield Sample(f"{family}_sum", labels, STALE_NAN if point.stale else point.sum)
    yield Sample(f"{family}_count", labels, STALE_NAN if point.stale else point.count)


# --- native histograms ---------------------------------------------------------------------------------------

NATIVE_MIN_SCHEMA, NATIVE_MAX_SCHEMA = -4, 8
DEFAULT_ZERO_THRESHOLD = 1e-128  # what Prometheus' own OTLP translator uses when the point has none


@dataclass(frozen=True, slots=True)
class NativeHistogram:
    """A Prometheus native histogram (remote write ``Histogram``, integer counts). Spans are
    ``(offset, length)``: the first offset is the index of the first bucket, the next ones gaps."""

    schema: int
    zero_threshold: float
    zero_count: int
    count: int
    sum: float
    positive_spans: tuple[tuple[int, int], ...]
    positive_deltas: tuple[int, ...]
    negative_spans: tuple[tuple[int, int], ...]
    negative_deltas: tuple[int, ...]


def _native_side(offset: int, counts: tuple[int, ...], shift: int) -> tuple[tuple[tuple[int, int], ...],
                                                                           tuple[int, ...]]:
    merged: dict[int, int] = {}
    for i, count in enumerate(counts):
        # OTLP bucket i covers (base**i, base**(i+1)], Prometheus bucket j covers (base**(j-1), base**j]
        index = ((offset + i) >> shift) + 1
        merged[index] = merged.get(index, 0) + count
    if not merged:
        return (), ()
    first, last = min(merged), max(merged)
    dense = [merged.get(j, 0) for j in range(first, last + 1)]
    deltas = tuple(b - a for a, b in zip([0, *dense[:-1]], dense, strict=True))
    return ((first, len(dense)),), deltas


def native_histogram(point: Point) -> NativeHistogram | str:
    """An exponential histogram point as a native histogram (scales above 8 are merged down to 8), or why not."""
    buckets = point.exponential
    if buckets is None:
        return "not an exponential histogram"
    if buckets.scale < NATIVE_MIN_SCHEMA:
        return f"scale {buckets.scale} is below the lowest native histogram schema ({NATIVE_MIN_SCHEMA})"
    shift = max(0, buckets.scale - NATIVE_MAX_SCHEMA)
    positive_spans, positive_deltas = _native_side(buckets.positive_offset, buckets.positive, shift)
    negative_spans, negative_deltas = _native_side(buckets.negative_offset, buckets.negative, shift)
    return NativeHistogram(
        schema=buckets.scale - shift,
        zero_threshold=buckets.zero_threshold or DEFAULT_ZERO_THRESHOLD,
        zero_count=buckets.zero_count,
        count=int(point.count),
        sum=STALE_NAN if point.stale else (point.sum if point.sum is not None else 0.0),
        positive_spans=positive_spans,
        positive_deltas=positive_deltas,
        negative_spans=negative_spans,
        negative_deltas=negative_deltas,
    )
