"""The collector's own metrics: a `collector.component.Telemetry` on a private prometheus_client registry,
served in the Prometheus text format on ``service::telemetry::metrics::address`` (default localhost:8888).

Instruments are created on first use; a name's label names are fixed by its first use (later attributes
not among them are ignored, missing ones are empty). prometheus_client's ``*_created`` series are left out, as
otelcol has none (filtered here: its global switch would change every registry in the process).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from collector.net import listening, split_endpoint

__all__ = ["MetricsServer", "PrometheusTelemetry", "without_created"]

_Metric = Counter | Gauge | Histogram


class _WithoutCreated(Collector):
    """A registry's metrics without the ``*_created`` samples."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self._registry.collect():
            samples = [s for s in metric.samples if not s.name.endswith("_created")]
            if len(samples) == len(metric.samples):
                yield metric
                continue
            trimmed = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            trimmed.samples = samples
            yield trimmed


def without_created(registry: CollectorRegistry) -> CollectorRegistry:
    """A registry exposing ``registry``'s metrics without the ``*_created`` samples."""
    exposed = CollectorRegistry(auto_describe=False)
    exposed.register(_WithoutCreated(registry))
    return exposed


class _Renders(Protocol):
    def render(self) -> bytes: ...


class PrometheusTelemetry:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry(auto_describe=True)
            ProcessCollector(namespace="otelcol", registry=registry)  # otelcol_process_resident_memory_bytes, ...
        self.registry = registry
        self._exposed = without_created(registry)
        self._metrics: dict[str, tuple[_Metric, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def _get(self, kind: type[_Metric], name: str, attributes: Mapping[str, str] | None,
             description: str) -> _Metric:
        entry = self._metrics.get(name)
        if entry is None:
            with self._lock:
                entry = self._metrics.get(name)
                if entry is None:
                    labels = tuple(sorted(attributes or {}))
                    if kind is Gauge:  # with several workers: the sum over the live ones
                        metric: _Metric = Gauge(name, description or name, labels, registry=self.registry,
                                                multiprocess_mode="livesum")
                    else:
                        metric = kind(name, description or name, labels, registry=self.registry)
                    entry = (metric, labels)
                    self._metrics[name] = entry
        metric, labels = entry
        if not labels:
            return metric
        attrs = attributes or {}
        return metric.labels(*(attrs.get(k, "") for k in labels))

    def add(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
            description: str = "") -> None:
        counter = self._get(Counter, name, attributes, description)
        if isinstance(counter, Counter) and value >= 0:
            counter.inc(value)

    def set(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
            description: str = "") -> None:
        gauge = self._get(Gauge, name, attributes, description)
        if isinstance(gauge, Gauge):
            gauge.set(value)

    def observe(self, name: str, value: float, attributes: Mapping[str, str] | None = None, *,
                description: str = "") -> None:
        histogram = self._get(Histogram, name, attributes, description)
        if isinstance(histogram, Histogram):
            histogram.observe(value)

    def render(self) -> bytes:
        return generate_latest(self._exposed)


class MetricsServer:
    """``GET /metrics`` on the telemetry address (of one process, or the workers' sum)."""

    def __init__(self, telemetry: _Renders, address: str) -> None:
        self._telemetry = telemetry
        self._address = address
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        return web.Response(body=self._telemetry.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = split_endpoint(self._address)
        try:
            with listening("service::telemetry::metrics::address", self._address):
                await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
