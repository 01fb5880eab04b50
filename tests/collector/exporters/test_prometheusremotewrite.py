"""The ``prometheusremotewrite`` exporter: remote write 1.0 requests, outcomes, and a real Prometheus."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cramjam
import pytest
import structlog
from aiohttp import web
from pydantic import ValidationError

from collector import otlpjson
from collector.component import ComponentID, CreateSettings
from collector.errors import PermanentError, RetryableError
from collector.exporters import _prometheus_prompb as prompb
from collector.exporters import prometheusremotewrite as prw
from collector.exporters.prometheusremotewrite import Config, RemoteWriteExporter, classify
from collector.pdata import Signal
from collector.sending.settings import SenderSettings
from tests.collector.exporters.prometheus_helpers import (
    WORKER,
    LoopThread,
    batch,
    gauge_metric,
    histogram_metric,
    loop_thread,
    number_point,
    sdk_batch_with_exemplars,
    sdk_metrics,
    sum_metric,
)
from tests.servers.prometheus import PrometheusServer
from tests.support import free_port


def config(**values: Any) -> Config:
    return Config.model_validate(values)


def series_of(request: Any) -> dict[str, list[tuple[float, int]]]:
    """A WriteRequest (or its bytes) as ``{'name{k="v",...}': [(value, timestamp), ...]}`` (labels as sent)."""
    if isinstance(request, bytes):
        request = prompb.WriteRequest.FromString(request)
    out = {}
    for ts in request.timeseries:
        labels = {label.name: label.value for label in ts.labels}
        name = labels.pop("__name__")
        key = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
        out[key] = [(s.value, s.timestamp) for s in ts.samples]
    return out


def sent_series(b: Any, **values: Any) -> dict[str, list[tuple[float, int]]]:
    """What the exporter would send for a batch, as `series_of` shows it."""
    requests = list(prw.write_requests(prw.translate(b.request, config(**values)), max_bytes=10**9))
    return series_of(requests[0]) if requests else {}


# --- outcome -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "retry_after"),
    [
        (200, {}, None, None),
        (204, {}, None, None),
        (400, {}, PermanentError, None),
        (401, {}, PermanentError, None),
        (404, {}, PermanentError, None),
        (413, {}, PermanentError, None),
        (408, {}, RetryableError, None),
        (429, {}, RetryableError, None),
        (429, {"Retry-After": "7"}, RetryableError, 7.0),
        (500, {}, RetryableError, None),
        (503, {"Retry-After": "2"}, RetryableError, 2.0),
        (504, {"Retry-After": "soon"}, RetryableError, None),
        (302, {}, PermanentError, None),
    ],
)
def test_classify(status: int, headers: dict[str, str], outcome: type[Exception] | None,
                  retry_after: float | None) -> None:
    if outcome is None:
        assert classify(status, headers) is None
        return
    with pytest.raises(outcome) as caught:
        classify(status, headers, "out of order sample")
    assert str(status) in str(caught.value)
    assert "out of order sample" in str(caught.value)
    if isinstance(caught.value, RetryableError):
        assert caught.value.retry_after == retry_after


# --- config --------------------------------------------------------------------------------------------------


def test_config_is_wrapped_by_the_sender_with_one_consumer_by_default() -> None:
    c = Config()
    assert isinstance(c, SenderSettings)
    assert c.sending_queue.num_consumers == 1
    assert c.endpoint == "http://localhost:9090/api/v1/write"
    assert c.target_info.enabled is True


def test_one_consumer_stays_the_default_when_other_queue_keys_are_set() -> None:
    assert config(sending_queue={"storage": "file_storage/queue"}).sending_queue.num_consumers == 1


def test_config_reads_sender_keys() -> None:
    c = config(endpoint="https://mimir:8080/api/v1/push", timeout="10s",
               retry_on_failure={"max_elapsed_time": "1m"}, sending_queue={"num_consumers": 4})
    assert (c.timeout, c.retry_on_failure.max_elapsed_time, c.sending_queue.num_consumers) == (10.0, 60.0, 4)


def test_config_accepts_otelcols_remote_write_queue_as_the_sending_queue() -> None:
    c = config(remote_write_queue={"queue_size": 50, "num_consumers": 2})
    assert (c.sending_queue.enabled, c.sending_queue.queue_size, c.sending_queue.num_consumers) == (True, 50, 2)
    with pytest.raises(ValidationError, match="remote_write_queue"):
        config(remote_write_queue={"enabled": False}, sending_queue={"enabled": False})


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"endpoint": "prometheus:9090"}, "endpoint"),
        ({"external_labels": {"bad-label": "x"}}, "external_labels"),
        ({"external_labels": {"__name__": "x"}}, "external_labels"),
        ({"max_batch_size_bytes": 0}, "max_batch_size_bytes"),
        ({"remote_write_everything": True}, "remote_write_everything"),
    ],
)
def test_config_errors_name_the_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError, match=key):
        config(**values)


def test_module_has_the_component_shape() -> None:
    assert prw.TYPE == "prometheusremotewrite"
    assert {s.value for s in prw.SIGNALS} == {"metrics"}
    assert isinstance(prw.create(CreateSettings(ComponentID("prometheusremotewrite")), Config()),
                      RemoteWriteExporter)


# --- wire format ---------------------------------------------------------------------------------------------


def test_write_request_round_trips_through_protobuf_and_snappy() -> None:
    request = prompb.WriteRequest()
    ts = request.timeseries.add()
    ts.labels.add(name="__name__", value="up")
    ts.labels.add(name="job", value="api")
    ts.samples.add(value=1.5, timestamp=1_700_000_000_123)
    body = prw.compress(request.SerializeToString())
    decoded = prompb.WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(body)))
    assert decoded == request
    assert series_of(decoded) == {'up{job="api"}': [(1.5, 1_700_000_000_123)]}


def test_messages_use_the_prompb_field_numbers() -> None:
    request = prompb.WriteRequest()
    ts = request.timeseries.add()
    ts.labels.add(name="a", value="b")
    ts.samples.add(value=1.0, timestamp=2)
    # timeseries=1 { labels=1 { name=1 "a" value=2 "b" } samples=2 { value=1 double 1.0, timestamp=2 varint 2 } }
    expected = bytes.fromhex("0a15" "0a06" "0a0161" "120162" "120b" "09000000000000f03f" "1002")
    assert request.SerializeToString() == expected


Exemplars = list[tuple[list[tuple[str, str]], float, int]]


@pytest.mark.parametrize(
    ("labels", "samples", "exemplars"),
    [
        ([("__name__", "up"), ("job", "api")], [(1_700_000_000_123, 1.0)], []),
        ([("__name__", "zero")], [(0, 0.0), (5, -0.0), (-1, 2.5)], []),  # proto3 defaults are left out
        ([("__name__", "ünïcode"), ("path", "/ä/" + "x" * 300)], [(2**40, math.inf), (2**41, -1e-300)], []),
        ([("__name__", "stale")], [(10, prw.tr.STALE_NAN)], []),
        ([("__name__", "empty"), ("job", "")], [], []),
        ([("__name__", "x")], [(10, 1.0)], [([("trace_id", "ab" * 16)], 0.5, 9), ([], 0.0, 0)]),
    ],
)
def test_the_direct_encoder_writes_what_protobuf_writes(labels: list[tuple[str, str]],
                                                         samples: list[tuple[int, float]],
                                                         exemplars: Exemplars) -> None:
    request = prompb.WriteRequest()
    ts = request.timeseries.add()
    for name, value in labels:
        ts.labels.add(name=name, value=value)
    for timestamp, value in samples:
        ts.samples.add(value=value, timestamp=timestamp)
    for exemplar_labels, value, timestamp in exemplars:
        exemplar = ts.exemplars.add(value=value, timestamp=timestamp)
        for name, label_value in exemplar_labels:
            exemplar.labels.add(name=name, value=label_value)
    encoded = prompb.SeriesEncoder().series(labels, samples, exemplars)
    assert encoded == request.SerializeToString()
    assert prompb.WriteRequest.FromString(encoded).SerializeToString() == encoded


# --- translation ---------------------------------------------------------------------------------------------


def test_sdk_metrics_become_series_with_sorted_labels_and_external_labels() -> None:
    with sdk_metrics({**WORKER, "deployment.environment": "prod"}) as sdk:
        sdk.meter.create_counter("http.requests", unit="{request}").add(3, {"http.method": "GET"})
        sdk.meter.create_histogram("http.server.request.duration", unit="s",
                                   explicit_bucket_boundaries_advisory=[0.1, 1.0]).record(0.5)
        series = sent_series(sdk.collect(), external_labels={"cluster": "eu-1"})
    ident = 'cluster="eu-1",instance="w1",job="shop/api"'
    assert [v for v, _ in series['http_requests_total{cluster="eu-1",http_method="GET",instance="w1",job="shop/api"}']
            ] == [3.0]
    assert [v for v, _ in series[f'http_server_request_duration_seconds_bucket{{{ident},le="0.1"}}']] == [0.0]
    assert [v for v, _ in series[f'http_server_request_duration_seconds_bucket{{{ident},le="1"}}']] == [1.0]
    assert [v for v, _ in series[f'http_server_request_duration_seconds_bucket{{{ident},le="+Inf"}}']] == [1.0]
    assert [v for v, _ in series[f'http_server_request_duration_seconds_sum{{{ident}}}']] == [0.5]
    assert [v for v, _ in series[f'http_server_request_duration_seconds_count{{{ident}}}']] == [1.0]
    [target_info] = [k for k in series if k.startswith("target_info")]
    assert 'deployment_environment="prod"' in target_info
    assert 'cluster="eu-1"' in target_info


def test_samples_carry_the_point_timestamp_in_milliseconds() -> None:
    series = sent_series(batch(gauge_metric("g", number_point(2, t=1_700_000_000))))
    assert series == {'g{job="api"}': [(2.0, 1_700_000_000_000)]}


def test_samples_of_one_series_are_merged_in_time_order() -> None:
    b = batch(gauge_metric("g", number_point(2, t=20)))
    b.request.resource_metrics.extend(batch(gauge_metric("g", number_point(1, t=10))).request.resource_metrics)
    assert sent_series(b) == {'g{job="api"}': [(1.0, 10_000), (2.0, 20_000)]}


def test_delta_points_are_skipped_and_logged_once() -> None:
    b = batch(sum_metric("hits", number_point(1, t=10), delta=True), gauge_metric("g", number_point(1, t=10)))
    assert list(sent_series(b)) == ['g{job="api"}']
    translation = prw.translate(b.request, config())
    assert [s.name for s in translation.skipped] == ["hits"]


def test_no_recorded_value_becomes_a_staleness_marker() -> None:
    [(value, _)] = sent_series(batch(gauge_metric("g", number_point(0, t=10, stale=True))))['g{job="api"}']
    assert math.isnan(value)


def test_target_info_can_be_switched_off_and_resource_attributes_promoted() -> None:
    b = batch(gauge_metric("g", number_point(1, t=10)), resource={"service.name": "api", "host.name": "h1"})
    assert list(sent_series(b, target_info={"enabled": False}, resource_to_telemetry_conversion={"enabled": True})) \
        == ['g{host_name="h1",job="api",service_name="api"}']


def test_large_batches_are_split_without_losing_series() -> None:
    metrics = [gauge_metric(f"g{i}", number_point(i, t=10)) for i in range(50)]
    translation = prw.translate(batch(*metrics).request, config(target_info={"enabled": False}))
    requests = list(prw.write_requests(translation, max_bytes=300))
    assert len(requests) > 5
    assert all(len(r) <= 300 for r in requests)
    names = [name for r in requests for name in series_of(r)]
    assert sorted(names) == sorted(f'g{i}{{job="api"}}' for i in range(50))


def test_an_attribute_cannot_replace_the_metric_name() -> None:
    assert list(sent_series(batch(gauge_metric("g", number_point(1, t=10, attributes={"__name__": "evil"}))))) == [
        'g{job="api"}']


def test_exponential_histograms_are_sent_as_native_histograms() -> None:
    with sdk_metrics(WORKER, exponential=True) as sdk:
        latency = sdk.meter.create_histogram("llm.request.duration", unit="s")
        for seconds in (0.2, 0.4, 3.0):
            latency.record(seconds)
        b = sdk.collect()
    [body] = prw.write_requests(prw.translate(b.request, config(target_info={"enabled": False})), max_bytes=10**6)
    [ts] = prompb.WriteRequest.FromString(body).timeseries
    assert {label.name: label.value for label in ts.labels} == {
        "__name__": "llm_request_duration_seconds", "instance": "w1", "job": "shop/api"}
    assert len(ts.samples) == 0
    [histogram] = ts.histograms
    assert histogram.count_int == 3
    assert histogram.sum == pytest.approx(3.6)
    bucket_counts = list(itertools.accumulate(histogram.positive_deltas))
    assert sum(bucket_counts) + histogram.zero_count_int == 3
    assert histogram.timestamp > 0


def test_the_official_otlp_metrics_example_sends_its_cumulative_metrics(otlp_examples: Path) -> None:
    b = otlpjson.decode(Signal.METRICS, (otlp_examples / "metrics.json").read_bytes())
    translation = prw.translate(b.request, config())
    assert list(series_of(next(prw.write_requests(translation, max_bytes=10**6)))) == [
        'my_gauge_ratio{job="my.service",my_gauge_attr="some value"}']
    assert {s.name for s in translation.skipped} == {"my.counter", "my.histogram", "my.exponential.histogram"}


def test_exemplars_go_with_counters_and_histogram_buckets() -> None:
    b, trace_id, span_id = sdk_batch_with_exemplars()
    [body] = prw.write_requests(prw.translate(b.request, config(target_info={"enabled": False})), max_bytes=10**6)
    exemplars = {}
    for ts in prompb.WriteRequest.FromString(body).timeseries:
        labels = {label.name: label.value for label in ts.labels}
        for exemplar in ts.exemplars:
            exemplars[(labels["__name__"], labels.get("le"))] = (
                {label.name: label.value for label in exemplar.labels}, exemplar.value)
    ids = {"trace_id": trace_id, "span_id": span_id}
    assert exemplars == {("chat_messages_total", None): (ids, 2.0),
                         ("http_server_request_duration_seconds_bucket", "1"): (ids, 0.5)}


def test_metadata_is_sent_when_asked() -> None:
    b = batch(sum_metric("hits", number_point(1, t=10), description="Hits"),
              histogram_metric("lat", [1.0], [1, 0], 0.5, t=10, unit="s"))
    [body] = prw.write_requests(prw.translate(b.request, config()), max_bytes=10**6, send_metadata=True)
    request = prompb.WriteRequest.FromString(body)
    assert {(m.metric_family_name, m.type, m.help) for m in request.metadata} == {
        ("hits_total", prompb.METRIC_TYPES["counter"], "Hits"),
        ("lat_seconds", prompb.METRIC_TYPES["histogram"], ""),
    }


# --- the exporter against a stand-in endpoint ----------------------------------------------------------------


@dataclass
class Endpoint:
    """An HTTP endpoint answering remote write with a chosen status, recording what it got."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    received: list[tuple[dict[str, str], Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        decoded = prompb.WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(body)))
        self.received.append((dict(request.headers), decoded))
        return web.Response(status=self.status, headers=self.headers, text="" if self.status < 300 else "nope")


@pytest.fixture
def endpoint() -> Iterator[tuple[LoopThread, Endpoint, str]]:
    stub = Endpoint()
    app = web.Application()
    app.router.add_post("/api/v1/write", stub.handle)
    runner = web.AppRunner(app, access_log=None)
    with loop_thread() as lt:
        lt.run(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        lt.run(site.start())
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1/write"
        try:
            yield lt, stub, url
        finally:
            lt.run(runner.cleanup())


def run_export(lt: LoopThread, url: str, b: Any, **values: Any) -> None:
    exporter = RemoteWriteExporter(CreateSettings(ComponentID("prometheusremotewrite")), config(endpoint=url,
                                                                                                  **values))
    lt.run(exporter.start())
    try:
        lt.run(exporter.export(b))
    finally:
        lt.run(exporter.shutdown())


def test_export_posts_snappy_protobuf_with_remote_write_headers(endpoint: tuple[LoopThread, Endpoint, str]) -> None:
    lt, stub, url = endpoint
    run_export(lt, url, batch(gauge_metric("g", number_point(1, t=10))), headers={"X-Scope-OrgID": "team-a"})
    [(headers, request)] = stub.received
    assert headers["Content-Encoding"] == "snappy"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert headers["X-Scope-OrgID"] == "team-a"
    assert series_of(request) == {'g{job="api"}': [(1.0, 10_000)]}


def test_export_of_nothing_sends_nothing(endpoint: tuple[LoopThread, Endpoint, str]) -> None:
    lt, stub, url = endpoint
    with structlog.testing.capture_logs():
        run_export(lt, url, batch(sum_metric("hits", number_point(1, t=10), delta=True)))
    assert stub.received == []


def test_export_raises_what_classify_decides(endpoint: tuple[LoopThread, Endpoint, str]) -> None:
    lt, stub, url = endpoint
    stub.status, stub.headers = 429, {"Retry-After": "3"}
    with pytest.raises(RetryableError) as retry:
        run_export(lt, url, batch(gauge_metric("g", number_point(1, t=10))))
    assert retry.value.retry_after == 3.0
    stub.status, stub.headers = 400, {}
    with pytest.raises(PermanentError, match="nope"):
        run_export(lt, url, batch(gauge_metric("g", number_point(1, t=10))))


def test_a_refused_request_does_not_stop_the_rest_of_the_batch(endpoint: tuple[LoopThread, Endpoint, str]) -> None:
    lt, stub, url = endpoint
    stub.status = 400
    metrics = [gauge_metric(f"g{i}", number_point(i, t=10)) for i in range(20)]
    with pytest.raises(PermanentError):
        run_export(lt, url, batch(*metrics), max_batch_size_bytes=200, target_info={"enabled": False})
    assert len(stub.received) > 3
    assert sorted(name for _, request in stub.received for name in series_of(request)) == sorted(
        f'g{i}{{job="api"}}' for i in range(20))


def test_an_unreachable_backend_is_retryable() -> None:
    with loop_thread() as lt, pytest.raises(RetryableError, match="failed"):
        run_export(lt, f"http://127.0.0.1:{free_port()}/api/v1/write", batch(gauge_metric("g", number_point(1, t=10))))


# --- a real Prometheus ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_prometheus_stores_what_the_sdk_recorded(tmp_path: Path) -> None:
    with loop_thread() as lt, PrometheusServer(tmp_path) as prom:
        with sdk_metrics(WORKER) as sdk:
            sdk.meter.create_counter("chat.messages", description="Messages").add(7, {"room": "general"})
            sdk.meter.create_histogram("image.generation.duration", unit="s",
                                       explicit_bucket_boundaries_advisory=[1.0, 5.0]).record(1.5)
            run_export(lt, prom.remote_write_url, sdk.collect(), external_labels={"cluster": "eu-1"})
        [counter] = prom.wait_for("chat_messages_total")
        buckets = prom.values("image_generation_duration_seconds_bucket")
        [info] = prom.wait_for("target_info")
    assert counter["metric"] == {"__name__": "chat_messages_total", "job": "shop/api", "instance": "w1",
                                 "room": "general", "cluster": "eu-1"}
    assert counter["value"][1] == "7"
    assert {dict(k)["le"]: v for k, v in buckets.items()} == {"1": 0.0, "5": 1.0, "+Inf": 1.0}
    assert info["metric"]["telemetry_sdk_language"] == "python"


@pytest.mark.slow
def test_real_prometheus_stores_native_histograms(tmp_path: Path) -> None:
    with loop_thread() as lt, PrometheusServer(tmp_path, features=["native-histograms"]) as prom:
        with sdk_metrics(WORKER, exponential=True) as sdk:
            latency = sdk.meter.create_histogram("llm.request.duration", unit="s")
            for seconds in (0.2, 0.4, 3.0, 3.0):
                latency.record(seconds)
            run_export(lt, prom.remote_write_url, sdk.collect())
        [count] = prom.wait_for("histogram_count(llm_request_duration_seconds)")
        [total] = prom.wait_for("histogram_sum(llm_request_duration_seconds)")
        [share] = prom.wait_for("histogram_fraction(0, 1, llm_request_duration_seconds)")
    assert count["metric"] == {"job": "shop/api", "instance": "w1"}
    assert float(count["value"][1]) == 4
    assert float(total["value"][1]) == pytest.approx(6.6)
    assert float(share["value"][1]) == pytest.approx(0.5)


@pytest.mark.slow
def test_real_prometheus_stores_remote_written_exemplars(tmp_path: Path) -> None:
    b, trace_id, span_id = sdk_batch_with_exemplars()
    with loop_thread() as lt, PrometheusServer(tmp_path, features=["exemplar-storage"]) as prom:
        run_export(lt, prom.remote_write_url, b)
        prom.wait_for("chat_messages_total")
        [series] = prom.exemplars("chat_messages_total")
    assert series["exemplars"][0]["labels"] == {"trace_id": trace_id, "span_id": span_id}
    assert float(series["exemplars"][0]["value"]) == 2.0
