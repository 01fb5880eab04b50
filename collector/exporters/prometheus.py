"""``prometheus``: a scrape endpoint serving the metrics that arrived over OTLP (otelcol's prometheusexporter).

A pull exporter: ``export()`` only updates in-memory state, and the exporter's own HTTP server renders that
state in the Prometheus text format (0.0.4) on ``GET /metrics`` at each scrape — or, with
``enable_open_metrics``, in OpenMetrics 1.0 for scrapers that accept it, with exemplars (``trace_id``,
``span_id``: metrics -> traces in Grafana; Prometheus needs ``--enable-feature=exemplar-storage``).
Translation follows otelcol (see `collector.exporters._prometheus_translate`).

State, per series (resource + scope + metric + point attributes):

* cumulative sums, histograms, gauges and summaries keep their latest point (older points are ignored);
* delta sums and histograms are accumulated into cumulative ones: every delta is added, whatever its start
  time, so several writers of the same series add up (otelcol instead resets on a misaligned start time);
* a point flagged "no recorded value" removes its series; a series not updated for ``metric_expiration``
  is dropped at the next scrape, or while data arrives (at most every minute) when nobody scrapes, so that
  memory stays bounded either way.

Writers are told apart by their whole resource. Series of several writers that come out with the same labels
(app workers differing only in ``process.pid``, say) are summed at scrape time: counters, up-down counters
and histograms (with the same buckets) add up; gauges and summaries show the latest point. Writers with
identical resources (workers forked with one ``service.instance.id``) add up only with delta temporality:
their cumulative points are indistinguishable and the latest wins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from collector.component import CreateSettings
from collector.config_types import Duration
from collector.exporters import _prometheus_translate as tr
from collector.net import split_endpoint
from collector.pdata import Batch, Signal

__all__ = ["SIGNALS", "TYPE", "Config", "PrometheusExporter", "create"]

TYPE = "prometheus"
SIGNALS = frozenset({Signal.METRICS})
MULTI_PROCESS = False  # a pull exporter: each process would serve its own share of the points

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class ResourceToTelemetryConversion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="put every resource attribute on every series as a label")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(default="0.0.0.0:8889", description="host:port the scrape endpoint listens on")
    namespace: str = Field(default="", description="prefix of every metric name")
    const_labels: dict[str, str] = Field(default_factory=dict, description="labels added to every series")
    send_timestamps: bool = Field(default=False, description="write each point's own timestamp in the exposition")
    metric_expiration: Duration = Field(default=300.0, description="drop series not updated for this long (0 = never)")
    resource_to_telemetry_conversion: ResourceToTelemetryConversion = Field(
        default_factory=ResourceToTelemetryConversion
    )
    add_metric_suffixes: bool = Field(default=True, description="unit, _total and _ratio suffixes on metric names")
    enable_open_metrics: bool = Field(
        default=False, description="answer scrapers that accept it in the OpenMetrics format, with exemplars "
        "(trace_id, span_id) on counters and histogram buckets")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        split_endpoint(value)
        return value

    @field_validator("const_labels")
    @classmethod
    def _const_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if tr.label_name(key) != key or key.startswith("__"):
                raise ValueError(f"{key!r} is not a valid Prometheus label name "
                                 "(use letters, digits and '_', not starting with a digit or '__')")
        return value


def create(settings: CreateSettings, config: Config) -> PrometheusExporter:
    return PrometheusExporter(settings, config)


@dataclass(slots=True)
class _Series:
    info: tr.MetricInfo
    scope: tr.Scope
    resource: dict[str, str]
    point: tr.Point
    updated: float


_SeriesKey = tuple[str, tr.Kind, str, tr.Scope, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]


def _accumulate(previous: _Series, info: tr.MetricInfo, point: tr.Point) -> bool:
    """Fold a series' stored point into a new delta `point` (in place); False when `point` is older than
    the stored cumulative point and is to be ignored."""
    old = previous.point
    if not point.exemplars:  # the SDK sends exemplars of new measurements only: keep showing the last ones
        point.exemplars = old.exemplars
    if info.delta and info.kind is not tr.Kind.HISTOGRAM:
        point.value += old.value
        point.start_ns = old.start_ns
        point.time_ns = max(point.time_ns, old.time_ns)
        return True
    if info.delta and old.bounds == point.bounds and len(old.bucket_counts) == len(point.bucket_counts):
        point.count += old.count
        point.sum = None if point.sum is None and old.sum is None else (point.sum or 0.0) + (old.sum or 0.0)
        point.bucket_counts = tuple(a + b for a, b in zip(old.bucket_counts, point.bucket_counts, strict=True))
        point.start_ns = old.start_ns
        point.time_ns = max(point.time_ns, old.time_ns)
        return True
    # a newer cumulative point or gauge replaces the stored one, so does a delta histogram whose buckets changed
    return info.delta or point.time_ns >= old.time_ns


def _mergeable(into: tr.Point, other: tr.Point) -> bool:
    return into.bounds == other.bounds and len(into.bucket_counts) == len(other.bucket_counts)


def _merge(into: tr.Point, other: tr.Point) -> None:
    """Add `other` (another writer's point of the same output series) into `into`; see `_mergeable`."""
    into.value += other.value
    into.count += other.count
    if other.sum is not None:
        into.sum = (into.sum or 0.0) + other.sum
    into.bucket_counts = tuple(a + b for a, b in zip(into.bucket_counts, other.bucket_counts, strict=True))
    into.time_ns = max(into.time_ns, other.time_ns)
    into.exemplars += other.exemplars


@dataclass(slots=True)
class _Family:
    kind: tr.Kind
    help: str
    series: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], tr.Point, bool]]  # labels -> merged point


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str, *, open_metrics: bool = False) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if open_metrics else text


def _om_timestamp(time_ns: int) -> str:
    """OpenMetrics timestamps are seconds."""
    return f"{time_ns // 1_000_000_000}.{time_ns % 1_000_000_000 // 1_000_000:03d}"


def _om_exemplar(exemplar: tr.Exemplar) -> str:
    labels = {k: v for k, v in (("trace_id", exemplar.trace_id), ("span_id", exemplar.span_id)) if v}
    text = f" # {_render_labels(labels) or '{}'} {tr.format_float(exemplar.value)}"
    return text + (f" {_om_timestamp(exemplar.time_ns)}" if exemplar.time_ns else "")


def _render_labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in labels.items()) + "}"


class PrometheusExporter:
    """Keeps the latest cumulative state of every series and serves it on ``/metrics``."""

    def __init__(self, settings: CreateSettings, config: Config, *, clock: Callable[[], float] = time.monotonic):
        self._config = config
        self._log = settings.logger
        self._id = str(settings.id)
        self._clock = clock
        self._series: dict[_SeriesKey, _Series] = {}
        self._families: dict[tuple[str, str, tr.Kind], str] = {}  # (otel name, unit, kind) -> family name
        self._skipped: set[tuple[str, str]] = set()
        self._next_expiry = clock() + self._expiry_interval()
        self._version = 0  # bumped on every change of the state
        self._exposition: dict[bool, tuple[int, str]] = {}  # (OpenMetrics?) -> the version shown, the text
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the bound port once started (endpoint port 0 picks a free one)

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        host, port = split_endpoint(self._config.endpoint)
        app = web.Application()
        app.router.add_get("/metrics", self._handle_scrape)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(exc.errno, f"exporters::{self._id}::endpoint: cannot listen on {host or '*'}:{port}: "
                                     f"{exc.strerror}") from exc
        self._runner = runner
        self.port = int(runner.addresses[0][1]) if runner.addresses else port
        self._log.info("prometheus_endpoint_started", host=host or "*", port=self.port, path="/metrics")

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- ingest ------------------------------------------------------------------------------------------------

    async def export(self, batch: Batch) -> None:
        self.consume(batch)

    def __len__(self) -> int:
        """Series held in memory."""
        return len(self._series)

    def _expiry_interval(self) -> float:
        return min(self._config.metric_expiration, 60.0)

    def consume(self, batch: Batch) -> int:
        """Fold a metrics batch into the state; returns the number of points taken."""
        now = self._clock()
        if self._config.metric_expiration > 0 and now >= self._next_expiry:
            self._next_expiry = now + self._expiry_interval()
            self.expire()
        taken = 0
        for resource, scope, info, points in tr.iter_points(batch.view):
            if isinstance(info, tr.Unsupported):
                self._skip(info.name, info.reason)
                continue
            if info.exponential:
                self._skip(info.name, "exponential histograms cannot be written in the text format; send them by "
                           "remote write (native histograms) or use explicit bucket histograms")
                continue
            resource_key = tuple(sorted(resource.items()))
            for point in points:
                key: _SeriesKey = (info.name, info.kind, info.unit, scope,
                                   tuple(sorted(point.attributes.items())), resource_key)
                if point.stale:
                    if self._series.pop(key, None) is not None:
                        self._version += 1
                    continue
                previous = self._series.get(key)
                if previous is not None and not _accumulate(previous, info, point):
                    continue
                self._series[key] = _Series(info, scope, resource, point, now)
                self._version += 1
                taken += 1
        return taken

    def _skip(self, name: str, reason: str) -> None:
        if (name, reason) not in self._skipped:
            self._skipped.add((name, reason))
            self._log.warning("prometheus_metric_skipped", metric=name, reason=reason)

    # --- exposition --------------------------------------------------------------------------------------------

    def _family_name(self, info: tr.MetricInfo) -> str:
        cache_key = (info.name, info.unit, info.kind)
        name = self._families.get(cache_key)
        if name is None:
            name = tr.metric_name(info.name, info.unit, info.kind, namespace=self._config.namespace,
                                  add_suffixes=self._config.add_metric_suffixes)
            self._families[cache_key] = name
        return name

    def _labels(self, series: _Series) -> dict[str, str]:
        labels: dict[str, str] = {}
        if self._config.resource_to_telemetry_conversion.enabled:
            labels.update(tr.labels_from_attributes(series.resource))
        labels.update(tr.labels_from_attributes(series.point.attributes))
        if series.scope.attributes:
            labels.update(tr.labels_from_attributes(dict(series.scope.attributes), prefix="otel_scope_"))
        if series.scope.name:
            labels["otel_scope_name"] = series.scope.name
        if series.scope.version:
            labels["otel_scope_version"] = series.scope.version
        labels.update(tr.identity_labels(series.resource))
        labels.update(self._config.const_labels)
        return labels

    def expire(self) -> int:
        """Drop series not updated within ``metric_expiration``; returns how many went."""
        if self._config.metric_expiration <= 0:
            return 0
        deadline = self._clock() - self._config.metric_expiration
        stale = [key for key, s in self._series.items() if s.updated < deadline]
        for key in stale:
            del self._series[key]
        if stale:
            self._version += 1
        return len(stale)

    def _families_now(self, snapshot: list[_Series]) -> dict[str, _Family]:
        families: dict[str, _Family] = {}
        for series in snapshot:
            name = self._family_name(series.info)
            if not name:
                self._skip(series.info.name, "name has no valid characters")
                continue
            family = families.get(name)
            if family is None:
                family = families[name] = _Family(series.info.kind, series.info.description, {})
            elif family.kind is not series.info.kind:
                self._skip(series.info.name, f"{name} is already a {family.kind}")
                continue
            labels = self._labels(series)
            label_key = tuple(labels.items())
            existing = family.series.get(label_key)
            if existing is not None and series.info.additive and existing[2] and _mergeable(existing[1],
                                                                                         series.point):
                _merge(existing[1], series.point)
            elif existing is None or series.point.time_ns >= existing[1].time_ns:
                family.series[label_key] = (labels, replace(series.point), series.info.additive)
        return families

    def _target_infos(self, snapshot: list[_Series]) -> Iterable[dict[str, str]]:
        seen: set[tuple[tuple[str, str], ...]] = set()
        for series in snapshot:
            labels = tr.target_info_labels(series.resource)
            if labels is None:
                continue
            labels.update(self._config.const_labels)
            key = tuple(sorted(labels.items()))
            if key not in seen:
                seen.add(key)
                yield labels

    def render(self, *, open_metrics: bool = False) -> str:
        """The whole exposition: the Prometheus text format 0.0.4, or OpenMetrics 1.0."""
        self.expire()
        cached = self._exposition.get(open_metrics)
        if cached is None or cached[0] != self._version:
            cached = self._exposition[open_metrics] = (self._version,
                                                       self._render(list(self._series.values()), open_metrics))
        return cached[1]

    async def render_async(self, *, open_metrics: bool = False) -> str:
        """`render`, with the text built off the event loop (stored points are replaced, never changed, so a
        snapshot of the series stays valid while receivers keep updating the state)."""
        self.expire()
        cached = self._exposition.get(open_metrics)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        version = self._version
        text = await asyncio.to_thread(self._render, list(self._series.values()), open_metrics)
        cached = self._exposition.get(open_metrics)
        if cached is None or cached[0] < version:
            self._exposition[open_metrics] = (version, text)
        return text

    def _render(self, snapshot: list[_Series], open_metrics: bool) -> str:
        lines: list[str] = []
        target_info = (f"{self._config.namespace}_{tr.TARGET_INFO}" if self._config.namespace
                       else tr.TARGET_INFO)
        infos = list(self._target_infos(snapshot))
        if infos:
            lines += [f"# HELP {target_info} Target metadata", f"# TYPE {target_info} gauge"]
            lines += [f"{target_info}{_render_labels(labels)} 1" for labels in infos]
        timestamps = self._config.send_timestamps
        for family_name, family in sorted(self._families_now(snapshot).items()):
            declared = name = family_name
            if open_metrics and family.kind is tr.Kind.COUNTER:
                # OpenMetrics names the counter family without `_total`, which its samples must end in
                declared = family_name.removesuffix("_total")
                name = f"{declared}_total"
            lines.append(f"# HELP {declared} {_escape_help(family.help or declared, open_metrics=open_metrics)}")
            lines.append(f"# TYPE {declared} {family.kind}")
            for labels, point, _ in family.series.values():
                stamp = ""
                if timestamps:
                    stamp = f" {_om_timestamp(point.time_ns)}" if open_metrics else f" {point.time_ns // 1_000_000}"
                for sample in tr.point_samples(name, family.kind, labels, point):
                    line = f"{sample.name}{_render_labels(sample.labels)} {tr.format_float(sample.value)}{stamp}"
                    if open_metrics and sample.exemplar is not None:
                        line += _om_exemplar(sample.exemplar)
                    lines.append(line)
        if open_metrics:
            lines.append("# EOF")
        return "\n".join(lines) + "\n" if lines else ""

    async def _handle_scrape(self, request: web.Request) -> web.StreamResponse:
        open_metrics = (self._config.enable_open_metrics
                        and "application/openmetrics-text" in request.headers.get("Accept", ""))
        text = await self.render_async(open_metrics=open_metrics)
        content_type = OPENMETRICS_CONTENT_TYPE if open_metrics else CONTENT_TYPE
        response = web.Response(body=text.encode("utf-8"), headers={"Content-Type": content_type})
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            response.enable_compression()
        return response

    def __repr__(self) -> str:
        return f"PrometheusExporter({self._id!r}, series={len(self._series)})"
