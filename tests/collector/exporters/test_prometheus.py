"""The ``prometheus`` exporter: OTLP in, the Prometheus text format out on a scrape endpoint."""

from __future__ import annotations

import gzip
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import structlog
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError

from collector import otlpjson
from collector.component import ComponentID, CreateSettings
from collector.exporters import prometheus
from collector.exporters.prometheus import Config, PrometheusExporter
from collector.pdata import Signal
from tests.collector.exporters.prometheus_helpers import (
    WORKER,
    batch,
    gauge_metric,
    histogram_metric,
    loop_thread,
    number_point,
    sdk_batch_with_exemplars,
    sdk_metrics,
    sum_metric,
)
from tests.servers.prometheus import SCRAPE_JOB, PrometheusServer
from tests.support import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exporter(clock: Clock | None = None, **config: object) -> PrometheusExporter:
    return PrometheusExporter(CreateSettings(ComponentID("prometheus")), Config.model_validate(config),
                              clock=clock or Clock())


def sample_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# --- config --------------------------------------------------------------------------------------------------


def test_config_defaults_follow_otelcol() -> None:
    config = Config()
    assert config.endpoint == "0.0.0.0:8889"
    assert config.metric_expiration == 300.0
    assert config.add_metric_suffixes is True
    assert config.send_timestamps is False


def test_config_reads_durations_and_rejects_unknown_keys() -> None:
    assert Config.model_validate({"metric_expiration": "1m30s"}).metric_expiration == 90.0
    with pytest.raises(ValidationError, match="enable_everything"):
        Config.model_validate({"enable_everything": True})


@pytest.mark.parametrize("endpoint", ["8889", "localhost", "host:port", "h:70000"])
def test_config_rejects_endpoints_without_a_port(endpoint: str) -> None:
    with pytest.raises(ValidationError, match="endpoint"):
        Config.model_validate({"endpoint": endpoint})


def test_config_rejects_invalid_const_label_names() -> None:
    with pytest.raises(ValidationError, match="const_labels"):
        Config.model_validate({"const_labels": {"bad.name": "x"}})


def test_module_has_the_component_shape() -> None:
    assert prometheus.TYPE == "prometheus"
    assert {s.value for s in prometheus.SIGNALS} == {"metrics"}
    assert isinstance(prometheus.create(CreateSettings(ComponentID("prometheus")), Config()), PrometheusExporter)


# --- translation of real SDK output --------------------------------------------------------------------------


def sdk_exposition() -> str:
    e = exporter()
    with sdk_metrics({**WORKER, "deployment.environment": "test"}) as sdk:
        requests = sdk.meter.create_counter("http.requests", unit="{request}", description="Requests served")
        requests.add(3, {"http.method": "GET", "http.status_code": 200})
        requests.add(1, {"http.method": "POST", "http.status_code": 500})
        latency = sdk.meter.create_histogram("http.server.request.duration", unit="s", description="Latency",
                                             explicit_bucket_boundaries_advisory=[0.01, 0.25, 1.0])
        for seconds in (0.01, 0.2, 3.0):
            latency.record(seconds, {"http.route": "/chat"})
        sdk.meter.create_up_down_counter("jobs.active", description="Jobs running").add(5)
        sdk.meter.create_gauge("memory.used", unit="By", description='Resident "memory"\nin bytes').set(2048)
        e.consume(sdk.collect())
    return e.render()


def test_sdk_metrics_are_translated_like_otelcol() -> None:
    lines = sample_lines(sdk_exposition())
    scope = 'otel_scope_name="test.meter",otel_scope_version="1.0",job="shop/api",instance="w1"'
    assert f'http_requests_total{{http_method="GET",http_status_code="200",{scope}}} 3' in lines
    assert f'http_requests_total{{http_method="POST",http_status_code="500",{scope}}} 1' in lines
    assert f'http_server_request_duration_seconds_bucket{{http_route="/chat",{scope},le="0.01"}} 1' in lines
    assert f'http_server_request_duration_seconds_bucket{{http_route="/chat",{scope},le="0.25"}} 2' in lines
    assert f'http_server_request_duration_seconds_bucket{{http_route="/chat",{scope},le="+Inf"}} 3' in lines
    assert f'http_server_request_duration_seconds_sum{{http_route="/chat",{scope}}} 3.21' in lines
    assert f'http_server_request_duration_seconds_count{{http_route="/chat",{scope}}} 3' in lines
    assert f"jobs_active{{{scope}}} 5" in lines
    assert f"memory_used_bytes{{{scope}}} 2048" in lines


def test_resource_attributes_other_than_service_go_on_target_info() -> None:
    lines = sample_lines(sdk_exposition())
    [info] = [line for line in lines if line.startswith("target_info")]
    assert 'deployment_environment="test"' in info
    assert 'telemetry_sdk_language="python"' in info
    assert info.endswith('job="shop/api",instance="w1"} 1')
    assert "service_name" not in info


def test_exposition_declares_types_and_escapes_help() -> None:
    text = sdk_exposition()
    assert "# TYPE http_requests_total counter" in text
    assert "# TYPE http_server_request_duration_seconds histogram" in text
    assert "# TYPE jobs_active gauge" in text
    assert "# TYPE target_info gauge" in text
    assert '# HELP memory_used_bytes Resident "memory"\\nin bytes' in text


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (Debian package prometheus)")
def test_promtool_check_metrics_accepts_the_exposition() -> None:
    result = subprocess.run(["promtool", "check", "metrics"], input=sdk_exposition(), capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_label_values_are_escaped() -> None:
    e = exporter()
    e.consume(batch(gauge_metric("g", number_point(1, t=5, attributes={"path": 'a\\b"c\nd'}))))
    assert 'g{path="a\\\\b\\"c\\nd",otel_scope_name="test.meter",job="api"} 1' in sample_lines(e.render())


# --- state ---------------------------------------------------------------------------------------------------


def test_cumulative_points_keep_the_latest_and_ignore_older_ones() -> None:
    e = exporter()
    e.consume(batch(sum_metric("hits", number_point(5, t=10))))
    assert sample_lines(e.render()) == ['hits_total{otel_scope_name="test.meter",job="api"} 5']
    e.consume(batch(sum_metric("hits", number_point(9, t=20))))
    e.consume(batch(sum_metric("hits", number_point(7, t=15))))  # late, out of order
    assert sample_lines(e.render()) == ['hits_total{otel_scope_name="test.meter",job="api"} 9']


def test_delta_sums_are_accumulated_into_a_cumulative_counter() -> None:
    e = exporter()
    e.consume(batch(sum_metric("hits", number_point(2, t=10, start=5), delta=True)))
    e.consume(batch(sum_metric("hits", number_point(3, t=15, start=10), delta=True)))
    e.consume(batch(sum_metric("hits", number_point(4, t=14, start=9), delta=True)))  # another writer
    assert sample_lines(e.render()) == ['hits_total{otel_scope_name="test.meter",job="api"} 9']


def test_delta_histograms_are_accumulated_bucket_by_bucket() -> None:
    e = exporter()
    e.consume(batch(histogram_metric("lat", [1.0], [1, 0], 0.5, t=10, unit="s", delta=True)))
    e.consume(batch(histogram_metric("lat", [1.0], [2, 1], 4.0, t=20, unit="s", delta=True)))
    assert sample_lines(e.render()) == [
        'lat_seconds_bucket{otel_scope_name="test.meter",job="api",le="1"} 3',
        'lat_seconds_bucket{otel_scope_name="test.meter",job="api",le="+Inf"} 4',
        'lat_seconds_sum{otel_scope_name="test.meter",job="api"} 4.5',
        'lat_seconds_count{otel_scope_name="test.meter",job="api"} 4',
    ]


def test_delta_sdk_counters_from_several_workers_add_up() -> None:
    """Workers forked from one process share service.instance.id, so they report the same series: their
    deltas add up."""
    e = exporter()
    for worker_requests in (3, 4, 5):
        with sdk_metrics({"service.name": "api", "service.instance.id": "forked"}, delta=True) as sdk:
            counter = sdk.meter.create_counter("chat.messages")
            counter.add(worker_requests)
            e.consume(sdk.collect())
            counter.add(1)
            e.consume(sdk.collect())
    scope = 'otel_scope_name="test.meter",otel_scope_version="1.0"'
    assert f'chat_messages_total{{{scope},job="api",instance="forked"}} 15' in sample_lines(e.render())


def test_cumulative_series_of_distinct_writers_with_the_same_labels_add_up_at_scrape() -> None:
    e = exporter()
    for pid, hits, memory in ((101, 10, 5), (102, 32, 7)):
        resource = {"service.name": "api", "process.pid": pid}
        e.consume(batch(sum_metric("hits", number_point(hits, t=10 + pid)), resource=resource))
        e.consume(batch(gauge_metric("mem", number_point(memory, t=10 + pid)), resource=resource))
    lines = sample_lines(e.render())
    assert 'hits_total{otel_scope_name="test.meter",job="api"} 42' in lines
    assert 'mem{otel_scope_name="test.meter",job="api"} 7' in lines  # gauges: the latest point


def test_histograms_of_distinct_writers_add_up_when_their_buckets_match() -> None:
    e = exporter()
    for pid, counts, bounds in ((101, [1, 1], [1.0]), (102, [2, 0], [1.0]), (103, [5, 0, 0], [0.5, 2.0])):
        resource = {"service.name": "api", "process.pid": pid, "service.instance.id": "app"}
        e.consume(batch(histogram_metric("lat", bounds, counts, 1.0, t=pid, unit="s"), resource=resource))
    lines = sample_lines(e.render())
    # 101 and 102 match and add up; 103 has other buckets and is newer, so it is shown on its own
    assert 'lat_seconds_bucket{otel_scope_name="test.meter",job="api",instance="app",le="0.5"} 5' in lines
    assert 'lat_seconds_count{otel_scope_name="test.meter",job="api",instance="app"} 5' in lines

    e = exporter()
    for pid, counts in ((101, [1, 1]), (102, [2, 0])):
        resource = {"service.name": "api", "process.pid": pid}
        e.consume(batch(histogram_metric("lat", [1.0], counts, 1.0, t=pid, unit="s"), resource=resource))
    assert [line for line in sample_lines(e.render()) if line.startswith("lat")] == [
        'lat_seconds_bucket{otel_scope_name="test.meter",job="api",le="1"} 3',
        'lat_seconds_bucket{otel_scope_name="test.meter",job="api",le="+Inf"} 4',
        'lat_seconds_sum{otel_scope_name="test.meter",job="api"} 2',
        'lat_seconds_count{otel_scope_name="test.meter",job="api"} 4',
    ]


def test_series_not_updated_within_metric_expiration_are_dropped() -> None:
    clock = Clock()
    e = exporter(clock, metric_expiration="1m")
    e.consume(batch(gauge_metric("old", number_point(1, t=1))))
    clock.now += 45
    e.consume(batch(gauge_metric("fresh", number_point(2, t=2))))
    assert [line.split("{")[0] for line in sample_lines(e.render())] == ["fresh", "old"]
    clock.now += 30
    assert [line.split("{")[0] for line in sample_lines(e.render())] == ["fresh"]


def test_expired_series_are_dropped_while_data_arrives_even_if_nobody_scrapes() -> None:
    clock = Clock()
    e = exporter(clock, metric_expiration="1m")
    for i in range(100):
        e.consume(batch(gauge_metric(f"short_lived_{i}", number_point(1, t=1))))
    clock.now += 61
    e.consume(batch(gauge_metric("fresh", number_point(2, t=2))))
    assert len(e) == 1  # memory stays bounded without a scraper
    assert [line.split("{")[0] for line in sample_lines(e.render())] == ["fresh"]


def test_a_point_without_recorded_value_removes_its_series() -> None:
    e = exporter()
    e.consume(batch(gauge_metric("g", number_point(1, t=1, attributes={"k": "a"}),
                                 number_point(2, t=1, attributes={"k": "b"}))))
    e.consume(batch(gauge_metric("g", number_point(0, t=2, attributes={"k": "a"}, stale=True))))
    assert sample_lines(e.render()) == ['g{k="b",otel_scope_name="test.meter",job="api"} 2']


def test_a_name_already_used_by_another_type_is_skipped_and_logged() -> None:
    with structlog.testing.capture_logs() as logs:
        e = exporter()
        e.consume(batch(gauge_metric("x", number_point(1, t=1))))
        e.consume(batch(histogram_metric("x", [1.0], [1, 0], 1.0, t=1)))
        lines = sample_lines(e.render())
    assert lines == ['x{otel_scope_name="test.meter",job="api"} 1']
    assert [entry["event"] for entry in logs] == ["prometheus_metric_skipped"]
    assert logs[0]["metric"] == "x"


def test_exponential_histograms_are_skipped_with_one_warning() -> None:
    metric = metrics_pb2.Metric(name="exp")
    metric.exponential_histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    metric.exponential_histogram.data_points.add(count=1, time_unix_nano=10**9)
    with structlog.testing.capture_logs() as logs:
        e = exporter()
        taken = e.consume(batch(metric)) + e.consume(batch(metric))
    assert taken == 0
    assert e.render() == ""
    assert [(entry["event"], entry["metric"]) for entry in logs] == [("prometheus_metric_skipped", "exp")]


# --- options -------------------------------------------------------------------------------------------------


def test_namespace_const_labels_and_timestamps() -> None:
    e = exporter(namespace="shop", const_labels={"region": "eu"}, send_timestamps=True)
    e.consume(batch(gauge_metric("g", number_point(1, t=7))))
    assert sample_lines(e.render()) == ['shop_g{otel_scope_name="test.meter",job="api",region="eu"} 1 7000']


def test_resource_to_telemetry_conversion_puts_resource_attributes_on_every_series() -> None:
    e = exporter(resource_to_telemetry_conversion={"enabled": True})
    e.consume(batch(gauge_metric("g", number_point(1, t=7)), resource={"service.name": "api", "host.name": "h1"}))
    assert 'g{host_name="h1",service_name="api",otel_scope_name="test.meter",job="api"} 1' in (
        sample_lines(e.render()))


def test_without_suffixes_names_are_only_sanitised() -> None:
    e = exporter(add_metric_suffixes=False)
    e.consume(batch(sum_metric("http.requests", number_point(1, t=7), unit="s")))
    assert sample_lines(e.render()) == ['http_requests{otel_scope_name="test.meter",job="api"} 1']


# --- OpenMetrics and exemplars ------------------------------------------------------------------------------


def test_open_metrics_carries_exemplars_on_counters_and_buckets() -> None:
    b, trace_id, span_id = sdk_batch_with_exemplars()
    e = exporter(enable_open_metrics=True)
    e.consume(b)
    text = e.render(open_metrics=True)
    scope = 'otel_scope_name="test.meter",otel_scope_version="1.0",job="shop/api",instance="w1"'
    exemplar = f'# {{trace_id="{trace_id}",span_id="{span_id}"}}'
    assert "# TYPE chat_messages counter" in text  # OpenMetrics: the family without _total
    assert f"chat_messages_total{{{scope}}} 2 {exemplar} 2 " in text
    assert f'http_server_request_duration_seconds_bucket{{{scope},le="0.1"}} 0\n' in text
    assert f'http_server_request_duration_seconds_bucket{{{scope},le="1"}} 1 {exemplar} 0.5 ' in text
    assert text.endswith("# EOF\n")
    assert "trace_id" not in e.render()  # the classic text format has no exemplars


def test_exemplars_stay_until_newer_ones_arrive() -> None:
    e = exporter()
    tracer = TracerProvider().get_tracer("test")
    with sdk_metrics(WORKER) as sdk:
        messages = sdk.meter.create_counter("chat.messages")
        with tracer.start_as_current_span("POST /chat") as span:
            messages.add(2)
        e.consume(sdk.collect())
        messages.add(3)  # outside any span: the SDK keeps no exemplar for it
        e.consume(sdk.collect())
    [counter] = [line for line in e.render(open_metrics=True).splitlines() if line.startswith("chat_messages_total")]
    value, exemplar = counter.split(" # ")
    assert value.endswith(" 5")
    assert f"{span.get_span_context().trace_id:032x}" in exemplar


def test_the_endpoint_answers_open_metrics_only_when_enabled_and_asked() -> None:
    accept = {"Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"}
    with loop_thread() as lt:
        for enabled, headers, expected in ((True, accept, prometheus.OPENMETRICS_CONTENT_TYPE),
                                           (True, {}, prometheus.CONTENT_TYPE),
                                           (False, accept, prometheus.CONTENT_TYPE)):
            e = exporter(endpoint="127.0.0.1:0", enable_open_metrics=enabled)
            lt.run(e.start())
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{e.port}/metrics", headers=headers)
                with urllib.request.urlopen(request, timeout=10) as response:
                    assert response.headers["Content-Type"] == expected
            finally:
                lt.run(e.shutdown())


@pytest.mark.slow
def test_real_prometheus_scrapes_open_metrics_and_stores_exemplars(tmp_path: Path) -> None:
    port = free_port()
    b, trace_id, span_id = sdk_batch_with_exemplars()
    with loop_thread() as lt, PrometheusServer(tmp_path, scrape_targets=[f"127.0.0.1:{port}"],
                                               features=["exemplar-storage"]) as prom:
        e = exporter(endpoint=f"127.0.0.1:{port}", enable_open_metrics=True)
        lt.run(e.start())
        try:
            lt.run(e.export(b))
            [counter] = prom.wait_for("chat_messages_total")
            buckets = prom.values("http_server_request_duration_seconds_bucket")
            deadline = time.monotonic() + 30
            while not (found := prom.exemplars("http_server_request_duration_seconds_bucket")):
                if time.monotonic() >= deadline:
                    pytest.fail("no exemplar was stored within 30 s")
                time.sleep(0.25)
        finally:
            lt.run(e.shutdown())
    assert counter["value"][1] == "2"
    assert {dict(k)["le"]: v for k, v in buckets.items()} == {"0.1": 0.0, "1": 1.0, "+Inf": 1.0}
    [series] = found
    assert series["seriesLabels"]["le"] == "1"
    assert series["exemplars"][0]["labels"] == {"trace_id": trace_id, "span_id": span_id}
    assert float(series["exemplars"][0]["value"]) == 0.5


# --- the endpoint --------------------------------------------------------------------------------------------


def test_scrape_endpoint_serves_the_text_format() -> None:
    with loop_thread() as lt:
        e = exporter(endpoint="127.0.0.1:0")
        lt.run(e.start())
        try:
            lt.run(e.export(batch(gauge_metric("g", number_point(1, t=7)))))
            url = f"http://127.0.0.1:{e.port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
                body = response.read().decode()
            request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.headers["Content-Encoding"] == "gzip"
                assert gzip.decompress(response.read()).decode() == body
        finally:
            lt.run(e.shutdown())
    assert 'g{otel_scope_name="test.meter",job="api"} 1' in body


def test_a_busy_port_is_reported_with_the_key_path() -> None:
    with socket.socket() as taken, loop_thread() as lt:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        e = exporter(endpoint=f"127.0.0.1:{port}")
        with pytest.raises(OSError, match=rf"exporters::prometheus::endpoint: cannot listen on 127.0.0.1:{port}"):
            lt.run(e.start())
        lt.run(e.shutdown())


@pytest.mark.slow
def test_real_prometheus_scrapes_the_endpoint(tmp_path: Path) -> None:
    port = free_port()
    with loop_thread() as lt, PrometheusServer(tmp_path, scrape_targets=[f"127.0.0.1:{port}"]) as prom:
        e = exporter(endpoint=f"127.0.0.1:{port}")
        lt.run(e.start())
        try:
            with sdk_metrics(WORKER) as sdk:
                sdk.meter.create_counter("chat.messages", description="Messages").add(7, {"room": "general"})
                sdk.meter.create_histogram("image.generation.duration", unit="s").record(1.5)
                lt.run(e.export(sdk.collect()))
            prom.wait_for(f'up{{job="{SCRAPE_JOB}"}} == 1')
            [counter] = prom.wait_for("chat_messages_total")
            [count] = prom.wait_for("image_generation_duration_seconds_count")
            [info] = prom.wait_for("target_info")
        finally:
            lt.run(e.shutdown())
    assert counter["metric"] == {"__name__": "chat_messages_total", "job": "shop/api", "instance": "w1",
                                 "room": "general", "otel_scope_name": "test.meter", "otel_scope_version": "1.0"}
    assert counter["value"][1] == "7"
    assert count["value"][1] == "1"
    assert info["metric"]["telemetry_sdk_language"] == "python"


def test_the_official_otlp_metrics_example_is_served(otlp_examples: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        e = exporter()
        e.consume(otlpjson.decode(Signal.METRICS, (otlp_examples / "metrics.json").read_bytes()))
        text = e.render()
    scope = 'otel_scope_my_scope_attribute="some scope attribute",otel_scope_name="my.library",' \
            'otel_scope_version="1.0.0",job="my.service"'
    lines = sample_lines(text)
    assert f'my_counter_total{{my_counter_attr="some value",{scope}}} 5' in lines
    assert f'my_gauge_ratio{{my_gauge_attr="some value",{scope}}} 10' in lines
    assert f'my_histogram_count{{my_histogram_attr="some value",{scope}}} 2' in lines
    assert [(entry["event"], entry["metric"]) for entry in logs] == [
        ("prometheus_metric_skipped", "my.exponential.histogram")]
    if shutil.which("promtool") is not None:
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True,
                               check=False)
        # the exposition parses; promtool's only remarks are on the example's own names ("my.counter")
        problems = (check.stdout + check.stderr).strip().splitlines()
        assert problems
        assert all("metric name should not include type" in p for p in problems), problems
