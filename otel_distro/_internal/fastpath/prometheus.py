"""/metrics rendered from the OTLP metric reader's own aggregation, so each measurement is aggregated once.

A second `MetricReader` (upstream's `PrometheusMetricReader`) makes the SDK aggregate every measurement twice:
a histogram record costs ~12 µs instead of ~6 on the request path. Where the OTLP reader's data is what
Prometheus needs anyway (cumulative sums and explicit-bucket histograms, the OTLP default), a scrape collects
from that reader instead and renders the result with upstream's Prometheus translation. The collection a
scrape triggers is not exported over OTLP: with cumulative temporality the next periodic export carries the
same totals, so nothing is lost and the collector is not sent extra points.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricsData

from otel_distro._internal.fastpath.request_duration import PreAggregatedReader, can_share

__all__ = ["SharedPrometheusReader", "can_share"]


class SharedPrometheusReader(PreAggregatedReader):
    """The periodic OTLP reader, also serving the Prometheus registry from its collections on scrape."""

    def __init__(self, exporter: MetricExporter, registry: Any = None) -> None:
        super().__init__(exporter)
        from opentelemetry.exporter.prometheus import _CustomCollector  # noqa: PLC0415
        from prometheus_client import REGISTRY  # noqa: PLC0415

        self._scrape = threading.local()
        self._collector = _CustomCollector()
        self._registry = registry if registry is not None else REGISTRY
        # Registering collects once (to learn the names); the reader has no provider yet, and collecting would
        # print the SDK's "Cannot call collect on a MetricReader until it is registered", so the callback
        # comes after (as upstream's PrometheusMetricReader orders it).
        self._registry.register(self._collector)
        self._collector._callback = self._collect_for_scrape  # type: ignore[assignment]

    def _collect_for_scrape(self) -> None:
        self._scrape.active = True
        try:
            self.collect()
        finally:
            self._scrape.active = False

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        if getattr(self._scrape, "active", False):
            metrics_data = self._with_sources(metrics_data)
            if metrics_data is not None:
                self._collector.add_metrics_data(metrics_data)
            return
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        with contextlib.suppress(KeyError):  # already unregistered
            self._registry.unregister(self._collector)
        super().shutdown(timeout_millis, **kwargs)
