"""Real metrics for the dashboard tests: the OpenTelemetry SDK records what the app records (the instrument
names, units and attributes of the distro's contracts), the real system-metrics instrumentation and the distro's
host metrics (filesystems, process memory) read this machine, and the OTLP exporter sends it all to a real
collector, whose ``prometheus`` exporter a real Prometheus scrapes. The collector's own ``otelcol_*`` metrics come
from its telemetry endpoint."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from otel_distro._internal import host_metrics
from otel_distro.distro import SYSTEM_METRICS
from tests.servers.processes import ServerProcess
from tests.support import ROOT, free_port

__all__ = ["Collector", "collector", "emit"]

ROUTES = ("/login", "/chat/messages", "/images/generate")


@dataclass(frozen=True)
class Collector:
    otlp_http: str
    prometheus_target: str  # the prometheus exporter: application metrics
    telemetry_target: str  # the collector's own metrics


@contextmanager
def collector(workdir: Path) -> Iterator[Collector]:
    """A collector with the shipped pipeline shape (memory_limiter, pii, batch), the prometheus exporter, and an
    otlphttp exporter with a queue towards nothing (so the send-failure and queue series exist)."""
    http, prom, telemetry, health, dead = (free_port() for _ in range(5))
    config = workdir / "collector.yaml"
    config.write_text(f"""
extensions:
  health_check: {{endpoint: "127.0.0.1:{health}"}}
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{http}"}}}}}}
processors:
  memory_limiter: {{check_interval: 1s, limit_mib: 2048, spike_limit_mib: 128}}
  pii: {{}}
  batch: {{timeout: 100ms}}
exporters:
  prometheus: {{endpoint: "127.0.0.1:{prom}"}}
  otlphttp/down:
    endpoint: "http://127.0.0.1:{dead}"
    retry_on_failure: {{enabled: false}}
    sending_queue: {{queue_size: 100}}
service:
  extensions: [health_check]
  telemetry: {{metrics: {{address: "127.0.0.1:{telemetry}"}}}}
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, pii, batch]
      exporters: [prometheus, otlphttp/down]
""")
    argv = [sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", str(config)]
    with ServerProcess(argv, f"http://127.0.0.1:{health}/", cwd=ROOT):
        yield Collector(f"http://127.0.0.1:{http}", f"127.0.0.1:{prom}", f"127.0.0.1:{telemetry}")


def _health(_: CallbackOptions) -> Iterable[Observation]:
    yield Observation(1, {"check": "database"})
    yield Observation(0, {"check": "redis"})


@contextmanager
def emit(target: Collector, *, interval_ms: int = 500) -> Iterator[MeterProvider]:
    """Record the app's metrics every `interval_ms` until the block ends (traffic is recorded by a background
    loop in the reader's export thread: every collection adds a few requests and events)."""
    resource = Resource.create({"service.name": "demo-app", "service.namespace": "shop",
                                "service.instance.id": "test-1"})
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{target.otlp_http}/v1/metrics"),
                                           export_interval_millis=interval_ms)
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    system = SystemMetricsInstrumentor(config=SYSTEM_METRICS)
    system.instrument(meter_provider=provider)
    app = provider.get_meter("otel_distro")
    duration = app.create_histogram("http.server.request.duration", unit="s",
                                    explicit_bucket_boundaries_advisory=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                         0.5, 1.0, 2.5])
    db = app.create_histogram("db.client.operation.duration", unit="s")
    check_duration = app.create_histogram("app.health.check.duration", unit="s")
    app.create_observable_gauge("app.health.check.status", [_health], unit="1")
    host_metrics.install(provider)  # the distro's own: system.filesystem.*, process.memory.utilization
    events = app.create_counter("app.analytics.events", unit="{event}")
    dropped = app.create_counter("app.analytics.dropped", unit="{event}")
    careless = app.create_counter("test.logins", unit="{login}")

    def traffic(_: CallbackOptions) -> Iterable[Observation]:
        for route in ROUTES:
            for _ in range(5):
                duration.record(random.uniform(0.005, 0.4), {"http.route": route, "http.request.method": "POST",
                                                             "http.response.status_code": 200})
            duration.record(random.uniform(0.1, 0.9), {"http.route": route, "http.request.method": "POST",
                                                       "http.response.status_code": 500})
        db.record(random.uniform(0.001, 0.02), {"db.operation.name": "SELECT", "db.system.name": "postgresql"})
        for check in ("database", "redis"):
            check_duration.record(random.uniform(0.001, 0.01), {"check": check})
        for name in ("login", "chat_message_sent", "image_generated"):
            events.add(3, {"name": name, "outcome": "accepted"})
            events.add(1, {"name": name, "outcome": "rejected"})
        dropped.add(1, {"reason": "rate_limited"})
        careless.add(1, {"user": "jane.doe@example.com"})  # the collector's pii processor redacts it
        return []

    app.create_observable_gauge("test.traffic.tick", [traffic])  # a collection drives the traffic
    try:
        yield provider
    finally:
        system.uninstrument()
        provider.shutdown()


