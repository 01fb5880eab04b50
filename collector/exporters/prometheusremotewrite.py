"""``prometheusremotewrite``: Prometheus remote write 1.0 (otelcol's prometheusremotewriteexporter).

Each batch becomes one or more ``WriteRequest``s (protobuf, snappy block format) POSTed to ``endpoint``
(Prometheus: ``/api/v1/write`` with ``--web.enable-remote-write-receiver``; Mimir, Thanos, VictoriaMetrics...).
Names and labels follow otelcol (see `collector.exporters._prometheus_translate`); ``external_labels`` go on
every series; exemplars (``trace_id``, ``span_id``) go with counters and histogram buckets (Prometheus keeps
them with ``--enable-feature=exemplar-storage``). Exponential histograms become native histograms (Prometheus
needs ``--enable-feature=native-histograms``). Points with delta temporality are skipped, as otelcol does: remote
write carries cumulative series (the ``prometheus`` exporter accumulates deltas, if that is what apps send).

The exporter is stateless and sits behind the shared sender (queue -> retry -> timeout): ``classify`` decides
what a response means (2xx sent; 408, 429 and 5xx retried honouring Retry-After; other 4xx dropped). The queue
has one consumer by default so that retried data reaches the backend before newer samples of the same series
(Prometheus refuses out-of-order samples).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import cramjam
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from collector.component import CreateSettings
from collector.errors import PermanentError, RetryableError
from collector.exporters import _prometheus_prompb as prompb
from collector.exporters import _prometheus_translate as tr
from collector.pdata import Batch, Signal
from collector.sending.retry_after import retry_after_header
from collector.sending.settings import QueueSettings, SenderSettings

__all__ = [
    "SIGNALS",
    "TYPE",
    "Config",
    "RemoteWriteExporter",
    "classify",
    "compress",
    "create",
    "disabled_reason",
    "write_requests",
]

TYPE = "prometheusremotewrite"
SIGNALS = frozenset({Signal.METRICS})

USER_AGENT = "otel-distro-collector/0.1.0"
_BODY_EXCERPT = 512


class ResourceToTelemetryConversion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="put every resource attribute on every series as a label")


class TargetInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="send a target_info series per resource")


class RemoteWriteQueue(BaseModel):
    """otelcol's own queue key for this exporter; accepted as another way to write ``sending_queue``."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    queue_size: int = Field(default=10000, ge=1)
    num_consumers: int = Field(default=1, ge=1)


def _validate_labels(labels: dict[str, str]) -> dict[str, str]:
    for key in labels:
        if tr.label_name(key) != key or key.startswith("__"):
            raise ValueError(f"{key!r} is not a valid Prometheus label name "
                             "(use letters, digits and '_', not starting with a digit or '__')")
    return labels


class Config(SenderSettings):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(default="http://localhost:9090/api/v1/write",
                          description="the remote write URL, e.g. http://prometheus:9090/api/v1/write")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers on every request")
    external_labels: dict[str, str] = Field(default_factory=dict, description="labels added to every series")
    namespace: str = Field(default="", description="prefix of every metric name")
    resource_to_telemetry_conversion: ResourceToTelemetryConversion = Field(
        default_factory=ResourceToTelemetryConversion
    )
    target_info: TargetInfo = Field(default_factory=TargetInfo)
    add_metric_suffixes: bool = Field(default=True, description="unit, _total and _ratio suffixes on metric names")
    send_metadata: bool = Field(default=False, description="send type, help and unit of each metric family")
    max_batch_size_bytes: int = Field(default=3_000_000, ge=1, description="split larger batches (uncompressed)")
    sending_queue: QueueSettings = Field(default_factory=lambda: QueueSettings(num_consumers=1))
    remote_write_queue: RemoteWriteQueue | None = Field(
        default=None, description="otelcol's spelling of sending_queue (enabled, queue_size, num_consumers)")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}; "
                             "e.g. http://localhost:9090/api/v1/write")
        return value

    @field_validator("sending_queue", mode="before")
    @classmethod
    def _one_consumer_unless_told(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and "num_consumers" not in value:
            return {**value, "num_consumers": 1}
        return value

    @field_validator("external_labels")
    @classmethod
    def _external_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _validate_labels(value)

    @model_validator(mode="after")
    def _remote_write_queue(self) -> Config:
        queue = self.remote_write_queue
        if queue is None:
            return self
        if "sending_queue" in self.model_fields_set:
            raise ValueError("remote_write_queue: set either remote_write_queue or sending_queue, not both")
        self.sending_queue = QueueSettings(enabled=queue.enabled, queue_size=queue.queue_size,
                                           num_consumers=queue.num_consumers)
        return self


def disabled_reason(config: Config) -> str | None:
    """An empty endpoint (``${env:PROMETHEUS_REMOTE_WRITE_URL:-}`` unset) switches the exporter off."""
    return "endpoint is empty (set PROMETHEUS_REMOTE_WRITE_URL)" if not config.endpoint else None


def create(settings: CreateSettings, config: Config) -> RemoteWriteExporter:
    return RemoteWriteExporter(settings, config)


# --- outcome -------------------------------------------------------------------------------------------------


def classify(status: int, headers: Mapping[str, str], body: str = "") -> None:
    """Map a remote write response to an outcome: return on 2xx; raise `RetryableError` on 408, 429 and 5xx
    (with the server's Retry-After); raise `PermanentError` on any other status."""
    if 200 <= status < 300:
        return
    detail = f"remote write answered {status}" + (f": {body[:_BODY_EXCERPT].strip()}" if body.strip() else "")
    if status in (408, 429) or 500 <= status < 600:
        raise RetryableError(detail, retry_after=retry_after_header(headers))
    raise PermanentError(detail)


# --- translation ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Series:
    labels: dict[str, str]
    samples: dict[int, float] = field(default_factory=dict)  # timestamp ms -> value (last one wins)
    histograms: dict[int, tr.NativeHistogram] = field(default_factory=dict)  # timestamp ms -> native histogram
    exemplars: dict[int, tuple[tuple[tuple[str, str], ...], float]] = field(default_factory=dict)  # ms -> ...


@dataclass(slots=True)
class Translation:
    series: dict[tuple[tuple[str, str], ...], _Series] = field(default_factory=dict)
    metadata: dict[str, tuple[tr.Kind, str, str]] = field(default_factory=dict)  # family -> (kind, help, unit)
    skipped: list[tr.Unsupported] = field(default_factory=list)

    def _series(self, name: str, labels: dict[str, str]) -> _Series:
        key = tuple(sorted([(k, v) for k, v in labels.items() if v and k != "__name__"] + [("__name__", name)]))
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = _Series(dict(key))
        return series

    def add(self, name: str, labels: dict[str, str], value: float, timestamp_ms: int,
            exemplar: tr.Exemplar | None = None) -> None:
        series = self._series(name, labels)
        series.samples[timestamp_ms] = value
        if exemplar is not None:
            ids = tuple((k, v) for k, v in (("span_id", exemplar.span_id), ("trace_id", exemplar.trace_id)) if v)
            series.exemplars[exemplar.time_ns // 1_000_000] = (ids, exemplar.value)

    def add_histogram(self, name: str, labels: dict[str, str], histogram: tr.NativeHistogram,
                      timestamp_ms: int) -> None:
        self._series(name, labels).histograms[timestamp_ms] = histogram


def translate(request: Any, config: Config) -> Translation:
    """An ``ExportMetricsServiceRequest`` as Prometheus series (labels sorted, samples by timestamp)."""
    out = Translation()
    names: dict[tuple[str, str, tr.Kind], str] = {}
    convert = config.resource_to_telemetry_conversion.enabled
    target_infos: dict[tuple[tuple[str, str], ...], int] = {}  # labels -> latest timestamp
    for resource, _scope, info, points in tr.iter_points(request):
        if isinstance(info, tr.Unsupported):
            out.skipped.append(info)
            continue
        if info.delta:
            out.skipped.append(tr.Unsupported(
                info.name, "delta temporality is not sent by remote write (send cumulative, or use the "
                "prometheus exporter, which accumulates deltas)"))
            continue
        family = names.get((info.name, info.unit, info.kind))
        if family is None:
            family = names[(info.name, info.unit, info.kind)] = tr.metric_name(
                info.name, info.unit, info.kind, namespace=config.namespace, add_suffixes=config.add_metric_suffixes)
        if not family:
            out.skipped.append(tr.Unsupported(info.name, "name has no valid characters"))
            continue
        out.metadata.setdefault(family, (info.kind, info.description, info.unit))
        base = tr.labels_from_attributes(resource) if convert else {}
        identity = tr.identity_labels(resource)
        latest = 0
        for point in points:
            labels = {**base, **tr.labels_from_attributes(point.attributes), **identity, **config.external_labels}
            timestamp_ms = point.time_ns // 1_000_000
            latest = max(latest, timestamp_ms)
            if not info.exponential:
                for sample in tr.point_samples(family, info.kind, labels, point):
                    out.add(sample.name, sample.labels, sample.value, timestamp_ms, sample.exemplar)
                continue
            native = tr.native_histogram(point)
            if isinstance(native, str):
                out.skipped.append(tr.Unsupported(info.name, native))
            else:
                out.add_histogram(family, labels, native, timestamp_ms)
        info_labels = tr.target_info_labels(resource) if config.target_info.enabled else None
        if info_labels is not None and latest:
            key = tuple({**info_labels, **config.external_labels}.items())
            target_infos[key] = max(target_infos.get(key, 0), latest)
    name = f"{config.namespace}_{tr.TARGET_INFO}" if config.namespace else tr.TARGET_INFO
    for key, timestamp_ms in target_infos.items():
        out.add(name, dict(key), 1.0, timestamp_ms)
    return out


def write_requests(translation: Translation, *, max_bytes: int, send_metadata: bool = False) -> Iterator[bytes]:
    """Serialised ``WriteRequest``s holding every series, each at most ``max_bytes`` (a single series larger
    than that goes alone). Metadata, when asked for, goes with the first request."""
    encoder = prompb.SeriesEncoder()
    parts: list[bytes] = []
    size = 0
    if send_metadata and translation.metadata:
        metadata = prompb.WriteRequest()
        for family, (kind, help_text, unit) in sorted(translation.metadata.items()):
            metadata.metadata.add(type=prompb.METRIC_TYPES[kind.value], metric_family_name=family,
                                  help=help_text, unit=unit)
        parts.append(metadata.SerializeToString())
        size = len(parts[0])
    for series in translation.series.values():
        if series.histograms:
            encoded = _native_series(series)
        else:
            exemplars = [(ids, value, ms) for ms, (ids, value) in sorted(series.exemplars.items())]
            encoded = encoder.series(series.labels.items(), sorted(series.samples.items()), exemplars)
        if parts and size + len(encoded) > max_bytes:
            yield b"".join(parts)
            parts, size = [], 0
        parts.append(encoded)
        size += len(encoded)
    if parts:
        yield b"".join(parts)


def _native_series(series: _Series) -> bytes:
    """A series of native histograms, as one ``WriteRequest.timeseries`` field."""
    ts = prompb.TimeSeries()
    for name, value in series.labels.items():
        ts.labels.add(name=name, value=value)
    for timestamp_ms in sorted(series.histograms):
        h = series.histograms[timestamp_ms]
        message = ts.histograms.add(count_int=h.count, sum=h.sum, schema=h.schema, zero_threshold=h.zero_threshold,
                                    zero_count_int=h.zero_count, positive_deltas=h.positive_deltas,
                                    negative_deltas=h.negative_deltas, timestamp=timestamp_ms)
        for offset, length in h.positive_spans:
            message.positive_spans.add(offset=offset, length=length)
        for offset, length in h.negative_spans:
            message.negative_spans.add(offset=offset, length=length)
    request = prompb.WriteRequest()
    request.timeseries.append(ts)
    return bytes(request.SerializeToString())


def compress(body: bytes) -> bytes:
    """Snappy block format (not framed), as remote write sends its protobuf body."""
    return bytes(cramjam.snappy.compress_raw(body))


# --- runtime -------------------------------------------------------------------------------------------------


class RemoteWriteExporter:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._config = config
        self._log = settings.logger
        self._session: aiohttp.ClientSession | None = None
        self._skipped: set[tuple[str, str]] = set()
        self._headers = {
            **config.headers,
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
            "User-Agent": config.headers.get("User-Agent", USER_AGENT),
        }

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._config.timeout or None))

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _encode(self, batch: Batch) -> tuple[list[bytes], list[tr.Unsupported]]:
        translation = translate(batch.view, self._config)
        bodies = [compress(request) for request in write_requests(
            translation, max_bytes=self._config.max_batch_size_bytes, send_metadata=self._config.send_metadata)]
        return bodies, translation.skipped

    async def export(self, batch: Batch) -> None:
        # translating is CPU work: off the event loop, so that receivers keep answering meanwhile
        bodies, skipped = await asyncio.to_thread(self._encode, batch)
        for metric in skipped:
            if (metric.name, metric.reason) not in self._skipped:
                self._skipped.add((metric.name, metric.reason))
                self._log.warning("prometheus_metric_skipped", metric=metric.name, reason=metric.reason)
        refused: PermanentError | None = None
        for body in bodies:
            try:
                await self._post(body)
            except PermanentError as exc:  # the other requests of the batch may still be accepted
                refused = refused or exc
        if refused is not None:
            raise refused

    async def _post(self, body: bytes) -> None:
        if self._session is None:
            raise RuntimeError("prometheusremotewrite exporter used before start()")
        try:
            async with self._session.post(self._config.endpoint, data=body, headers=self._headers) as response:
                text = await response.text(errors="replace") if response.status >= 300 else ""
                classify(response.status, response.headers, text)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RetryableError(f"remote write to {self._config.endpoint} failed: {exc!r}") from exc
