"""OpenTelemetry SDK -> OTLP -> the collector -> ``prometheus`` / ``prometheusremotewrite`` -> a real Prometheus.

Series sent by the SDK's own OTLP exporter arrive with the right names, labels and values, by scrape and by
remote write; several workers' deltas add up; remote write loses nothing while Prometheus is down.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from collector.testing import running_collector
from tests.collector.exporters.prometheus_helpers import DELTA
from tests.servers.prometheus import SCRAPE_JOB, PrometheusServer
from tests.support import free_port

pytestmark = pytest.mark.slow

WORKER = {"service.name": "api", "service.namespace": "shop", "service.instance.id": "w1",
          "deployment.environment": "test"}


class App:
    """An app process's metrics SDK exporting OTLP/HTTP to the collector; ``flush()`` sends now."""

    def __init__(self, otlp_port: int, resource: dict[str, Any], *, delta: bool = False) -> None:
        exporter = OTLPMetricExporter(endpoint=f"http://127.0.0.1:{otlp_port}/v1/metrics",
                                      preferred_temporality=DELTA if delta else None)  # type: ignore[arg-type]
        self.reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        self.provider = MeterProvider(resource=Resource.create(resource), metric_readers=[self.reader])
        self.meter = self.provider.get_meter("shop.api", "2.0")

    def flush(self) -> None:
        if not self.provider.force_flush(timeout_millis=10_000):
            raise AssertionError("the SDK could not export to the collector")

    def close(self) -> None:
        self.provider.shutdown()


@contextmanager
def app(otlp_port: int, resource: dict[str, Any] = WORKER, *, delta: bool = False) -> Iterator[App]:
    a = App(otlp_port, resource, delta=delta)
    try:
        yield a
    finally:
        a.close()


def collector_config(otlp_port: int, exporters: dict[str, Any]) -> dict[str, Any]:
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
        "exporters": exporters,
        "service": {
            "pipelines": {"metrics": {"receivers": ["otlp"], "exporters": list(exporters)}},
            "telemetry": {"metrics": {"level": "none"}},
        },
    }


def test_sdk_metrics_arrive_in_prometheus_by_scrape_and_by_remote_write(tmp_path: Path) -> None:
    otlp_port, scrape_port = free_port(), free_port()
    with PrometheusServer(tmp_path, scrape_targets=[f"127.0.0.1:{scrape_port}"]) as prom:
        exporters = {
            "prometheus": {"endpoint": f"127.0.0.1:{scrape_port}"},
            "prometheusremotewrite": {"endpoint": prom.remote_write_url, "external_labels": {"via": "remote_write"}},
        }
        with running_collector(collector_config(otlp_port, exporters)), app(otlp_port) as a:
            messages = a.meter.create_counter("chat.messages", unit="{message}", description="Messages posted")
            messages.add(5, {"room": "general"})
            messages.add(2, {"room": "random"})
            latency = a.meter.create_histogram("http.server.request.duration", unit="s",
                                               explicit_bucket_boundaries_advisory=[0.1, 0.5, 2.5])
            for seconds in (0.05, 0.3, 0.3, 4.0):
                latency.record(seconds, {"http.route": "/chat"})
            a.meter.create_up_down_counter("image.jobs.active").add(3)
            a.flush()

            with urllib.request.urlopen(f"http://127.0.0.1:{scrape_port}/metrics", timeout=10) as response:
                exposition = response.read().decode()
            prom.wait_for(f'up{{job="{SCRAPE_JOB}"}} == 1')
            scraped = prom.wait_for('chat_messages_total{via=""}', lambda r: len(r) == 2)
            written = prom.wait_for('chat_messages_total{via="remote_write"}', lambda r: len(r) == 2)
            scraped_buckets = prom.values('http_server_request_duration_seconds_bucket{via=""}')
            written_buckets = prom.values('http_server_request_duration_seconds_bucket{via="remote_write"}')
            jobs = prom.values("image_jobs_active")
            infos = prom.wait_for("target_info", lambda r: len(r) == 2)

    by_room = {r["metric"]["room"]: r for r in scraped}
    assert by_room["general"]["metric"] == {
        "__name__": "chat_messages_total", "room": "general", "job": "shop/api", "instance": "w1",
        "otel_scope_name": "shop.api", "otel_scope_version": "2.0"}
    assert (by_room["general"]["value"][1], by_room["random"]["value"][1]) == ("5", "2")
    by_room = {r["metric"]["room"]: r for r in written}
    assert by_room["general"]["metric"] == {
        "__name__": "chat_messages_total", "room": "general", "job": "shop/api", "instance": "w1",
        "via": "remote_write"}
    assert (by_room["general"]["value"][1], by_room["random"]["value"][1]) == ("5", "2")
    expected_buckets = {"0.1": 1.0, "0.5": 3.0, "2.5": 3.0, "+Inf": 4.0}
    assert {dict(k)["le"]: v for k, v in scraped_buckets.items()} == expected_buckets
    assert {dict(k)["le"]: v for k, v in written_buckets.items()} == expected_buckets
    assert sorted(jobs.values()) == [3.0, 3.0]
    assert {i["metric"].get("deployment_environment") for i in infos} == {"test"}

    if shutil.which("promtool") is not None:
        check = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, check.stdout + check.stderr


def test_several_workers_deltas_add_up_on_the_scrape_endpoint(tmp_path: Path) -> None:
    """Workers forked from one app process share service.instance.id; with delta temporality their counts add
    up in the collector instead of overwriting each other."""
    otlp_port, scrape_port = free_port(), free_port()
    resource = {"service.name": "api", "service.instance.id": "app-1"}
    with PrometheusServer(tmp_path, scrape_targets=[f"127.0.0.1:{scrape_port}"]) as prom:
        exporters = {"prometheus": {"endpoint": f"127.0.0.1:{scrape_port}"}}
        with running_collector(collector_config(otlp_port, exporters)):
            for count in (3, 4, 5):
                with app(otlp_port, resource, delta=True) as worker:
                    logins = worker.meter.create_counter("logins")
                    logins.add(count)
                    worker.flush()
                    logins.add(1)
                    worker.flush()
            [total] = prom.wait_for('logins_total{job="api",instance="app-1"}', lambda r: r[0]["value"][1] == "15"
                                    if r else False)
    assert total["value"][1] == "15"


def test_remote_write_delivers_everything_after_an_outage(tmp_path: Path) -> None:
    otlp_port, prom_port = free_port(), free_port()
    prom = PrometheusServer(tmp_path, port=prom_port)
    exporters = {"prometheusremotewrite": {
        "endpoint": prom.remote_write_url,
        "retry_on_failure": {"initial_interval": "100ms", "max_interval": "500ms", "max_elapsed_time": "0"},
    }}
    try:
        with running_collector(collector_config(otlp_port, exporters)) as collector:
            with app(otlp_port) as a:
                orders = a.meter.create_counter("orders")
                for _ in range(5):
                    orders.add(1)
                    a.flush()  # accepted by the collector, queued while Prometheus is down
                    # remote write timestamps are milliseconds, and Prometheus refuses two values of a series
                    # at one millisecond: let the SDK's next collection fall on a later one
                    time.sleep(0.005)
            # the app is closed (its last export included): every point it sent was accepted
            accepted = collector.telemetry.value("otelcol_receiver_accepted_metric_points", receiver="otlp")
            assert collector.telemetry.value("otelcol_exporter_sent_metric_points") == 0
            prom.start()
            counts = prom.wait_for("count_over_time(orders_total[1h])",
                                   lambda r: bool(r) and float(r[0]["value"][1]) >= accepted)
            [latest] = prom.wait_for("orders_total")
        telemetry = collector.telemetry
    finally:
        prom.stop()
    assert accepted >= 5
    assert float(counts[0]["value"][1]) == accepted  # one sample per export, none lost, none twice
    assert latest["value"][1] == "5"
    assert telemetry.value("otelcol_exporter_send_failed_metric_points") == 0


def test_remote_write_with_a_persistent_queue_delivers_after_a_collector_restart(tmp_path: Path) -> None:
    otlp_port = free_port()
    prom = PrometheusServer(tmp_path / "prometheus")
    config = collector_config(otlp_port, {"prometheusremotewrite": {
        "endpoint": prom.remote_write_url,
        "sending_queue": {"storage": "file_storage/queue"},
        "retry_on_failure": {"initial_interval": "100ms", "max_interval": "500ms"},
    }})
    config["extensions"] = {"file_storage/queue": {"directory": str(tmp_path / "queue")}}
    config["service"]["extensions"] = ["file_storage/queue"]
    try:
        with running_collector(config) as first:
            with app(otlp_port) as a:
                a.meter.create_counter("uploads").add(3, {"kind": "image"})
                a.flush()
                time.sleep(0.005)  # the SDK's last collection, at close, falls on a later millisecond
            accepted = first.telemetry.value("otelcol_receiver_accepted_metric_points", receiver="otlp")
        # stopped while Prometheus is down: what was accepted waits on disk
        prom.start()
        with running_collector(config) as second:
            counts = prom.wait_for('count_over_time(uploads_total{kind="image"}[1h])',
                                   lambda r: bool(r) and float(r[0]["value"][1]) >= accepted)
            [latest] = prom.wait_for('uploads_total{kind="image"}')
            failed = second.telemetry.value("otelcol_exporter_send_failed_metric_points")
    finally:
        prom.stop()
    assert float(counts[0]["value"][1]) == accepted
    assert latest["value"][1] == "3"
    assert failed == 0
