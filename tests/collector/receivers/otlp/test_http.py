"""The OTLP/HTTP receiver answers as the OTLP spec says, for every kind of request."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.rpc import status_pb2  # type: ignore[import-untyped]
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from collector import otlpjson
from collector.memory import LEDGER
from collector.pdata import Signal
from collector.testing import RunningCollector, running_collector
from tests.collector.receivers.otlp._collector import collector_config, read_lines
from tests.support import free_port

PB = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def spans(n: int = 1, *, valid: bool = True) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        ss.spans.add(name=f"s{i}", trace_id=bytes([1] * 16) if valid else bytes(16), span_id=bytes([2] * 8))
    return req


class Collector:
    def __init__(self, running: RunningCollector, url: str, out: Path) -> None:
        self.running = running
        self.url = url
        self.out = out

    def post(self, path: str, body: bytes, headers: dict[str, str], method: str = "POST") -> httpx.Response:
        return httpx.request(method, self.url + path, content=body, headers=headers)


def config(tmp_path: Path, port: int, http: dict[str, Any] | None = None,
           processors: list[str] | None = None) -> dict[str, Any]:
    return collector_config(tmp_path, "http", port, http, processors)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    port = free_port()
    with running_collector(config(tmp_path, port, {
        "max_request_body_size": 64 * 1024, "max_decompressed_body_size": 256 * 1024,
    })) as c:
        yield Collector(c, f"http://127.0.0.1:{port}", tmp_path / "out.jsonl")


def test_protobuf_is_accepted_with_a_protobuf_answer(collector: Collector) -> None:
    r = collector.post("/v1/traces", spans(3).SerializeToString(), PB)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert not answer.HasField("partial_success")
    (line,) = read_lines(collector.out)
    assert len(line["resourceSpans"][0]["scopeSpans"][0]["spans"]) == 3


@pytest.mark.parametrize(("name", "signal", "path"), [
    ("trace.json", Signal.TRACES, "/v1/traces"),
    ("metrics.json", Signal.METRICS, "/v1/metrics"),
    ("logs.json", Signal.LOGS, "/v1/logs"),
    ("events.json", Signal.LOGS, "/v1/logs"),
])
def test_official_json_examples_are_accepted_and_stored_exactly(
        collector: Collector, otlp_examples: Path, name: str, signal: Signal, path: str) -> None:
    body = (otlp_examples / name).read_bytes()
    r = collector.post(path, body, JSON)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    (line,) = collector.out.read_text().splitlines()
    assert otlpjson.decode(signal, line).request == otlpjson.decode(signal, body).request


def _deep_span(levels: int) -> bytes:
    value = '{"arrayValue":{"values":[' * levels + '{"stringValue":"x"}' + "]}}" * levels
    return ('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"' + "1" * 32 + '","spanId":"' + "2" * 16
            + '","name":"deep","attributes":[{"key":"k","value":' + value + "}]}]}]}]}").encode()


@pytest.mark.parametrize("levels", [48, 49, 335])
def test_json_nested_past_the_protobuf_limit_is_400_and_takes_no_one_elses_data(tmp_path: Path, levels: int) -> None:
    port = free_port()
    cfg = config(tmp_path, port, processors=["batch"])
    cfg["processors"]["batch"] = {"timeout": "1s"}
    with running_collector(cfg):
        url = f"http://127.0.0.1:{port}/v1/traces"
        assert httpx.post(url, content=spans(3).SerializeToString(), headers=PB).status_code == 200
        deep = httpx.post(url, content=_deep_span(levels), headers=JSON)
        assert deep.status_code == 400
        assert "nested too deeply" in deep.json()["message"]
        sane = httpx.post(url, content=_deep_span(47), headers=JSON)  # the deepest a protobuf decoder accepts
        assert sane.status_code == 200, sane.text
    names = [s["name"] for line in read_lines(tmp_path / "out.jsonl")
             for rs in line["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert sorted(names) == ["deep", "s0", "s1", "s2"]  # the other clients' data, batched with it, all arrived


def test_gzip_bodies_are_inflated(collector: Collector) -> None:
    body = gzip.compress(spans(2).SerializeToString())
    assert collector.post("/v1/traces", body, {**PB, "Content-Encoding": "gzip"}).status_code == 200
    assert len(read_lines(collector.out)) == 1


def test_partly_invalid_data_is_partly_accepted(collector: Collector) -> None:
    req = spans(2)
    req.resource_spans[0].scope_spans[0].spans.add(name="bad", trace_id=bytes(16), span_id=bytes([1] * 8))
    r = collector.post("/v1/traces", req.SerializeToString(), PB)
    assert r.status_code == 200
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 1
    assert "trace_id" in answer.partial_success.error_message
    (line,) = read_lines(collector.out)
    assert [s["name"] for s in line["resourceSpans"][0]["scopeSpans"][0]["spans"]] == ["s0", "s1"]


def test_partial_success_in_json(collector: Collector) -> None:
    body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x","traceId":"","spanId":""}]}]}]}'
    r = collector.post("/v1/traces", body, JSON)
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedSpans"] == "1"


def test_truncated_protobuf_is_400_with_a_status_message(collector: Collector) -> None:
    body = spans(5).SerializeToString()[:-7]
    r = collector.post("/v1/traces", body, PB)
    assert r.status_code == 400
    status = status_pb2.Status.FromString(r.content)
    assert "cannot decode traces request" in status.message
    assert read_lines(collector.out) == []


def test_invalid_json_is_400_with_a_json_status(collector: Collector) -> None:
    r = collector.post("/v1/logs", b'{"resourceLogs": [', JSON)
    assert r.status_code == 400
    assert "invalid JSON" in r.json()["message"]
    r = collector.post("/v1/traces", b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}', JSON)
    assert r.status_code == 400
    assert "traceId" in r.json()["message"]


def test_corrupt_gzip_is_400(collector: Collector) -> None:
    r = collector.post("/v1/traces", b"\x1f\x8b\x08\x00garbage", {**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 400


def test_too_large_body_is_413(collector: Collector) -> None:
    r = collector.post("/v1/traces", b"\x00" * (64 * 1024 + 1), PB)
    assert r.status_code == 413


def test_a_gzip_bomb_is_413_and_never_inflated(collector: Collector) -> None:
    inflater_input = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = inflater_input.compress(b"\x00" * (50 * 1024 * 1024)) + inflater_input.flush()
    assert len(bomb) < 64 * 1024  # small on the wire, 50 MiB inflated; the limit is 256 KiB
    r = collector.post("/v1/traces", bomb, {**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert "decompressed body exceeds" in status_pb2.Status.FromString(r.content).message


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream"])
def test_other_content_types_are_415(collector: Collector, content_type: str) -> None:
    r = collector.post("/v1/traces", b"x", {"Content-Type": content_type})
    assert r.status_code == 415


def test_unknown_content_encoding_is_415(collector: Collector) -> None:
    assert collector.post("/v1/traces", b"x", {**PB, "Content-Encoding": "br"}).status_code == 415


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405_with_allow(collector: Collector, method: str) -> None:
    r = collector.post("/v1/traces", b"", PB, method=method)
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"


def test_unknown_paths_are_404(collector: Collector) -> None:
    assert collector.post("/v1/spans", b"", PB).status_code == 404


def test_an_empty_request_is_200_and_exports_nothing(collector: Collector) -> None:
    assert collector.post("/v1/traces", b"", PB).status_code == 200
    assert collector.post("/v1/logs", b"{}", JSON).status_code == 200
    assert read_lines(collector.out) == []


def test_a_request_that_would_exceed_the_memory_limit_is_503_with_retry_after(tmp_path: Path) -> None:
    port = free_port()
    body = spans(40_000).SerializeToString()
    assert len(body) > 1024 * 1024
    with running_collector(config(tmp_path, port, processors=["memory_limiter"])):  # limit 1 MiB of data held
        small = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=spans().SerializeToString(), headers=PB)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=body, headers=PB)
    assert LEDGER.held() == 0  # the collector is stopped: every handler has returned
    assert small.status_code == 200  # whatever the process's RSS: it holds next to nothing
    assert r.status_code == 503
    assert int(r.headers["Retry-After"]) >= 1
    assert "memory limiter's hard limit" in status_pb2.Status.FromString(r.content).message
    assert len(read_lines(tmp_path / "out.jsonl")) == 1


def test_bearer_token_auth(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/traces"
    body = spans().SerializeToString()
    with running_collector(config(tmp_path, port, {"auth": {"bearer_token": "s3cret"}})):
        assert httpx.post(url, content=body, headers=PB).status_code == 401
        wrong = httpx.post(url, content=body, headers={**PB, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.headers["WWW-Authenticate"] == "Bearer"
        assert httpx.post(url, content=body, headers={**PB, "Authorization": "Bearer s3cret"}).status_code == 200
    assert len(read_lines(tmp_path / "out.jsonl")) == 1


def test_cors_preflight_and_response_headers_for_allowed_origins(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/traces"
    cors = {"allowed_origins": ["https://*.example.com"], "allowed_headers": ["X-Custom"], "max_age": 600}
    with running_collector(config(tmp_path, port, {"cors": cors})):
        pre = httpx.options(url, headers={"Origin": "https://app.example.com",
                                          "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 204
        assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert pre.headers["Access-Control-Allow-Methods"] == "POST"
        assert "X-Custom" in pre.headers["Access-Control-Allow-Headers"]
        assert pre.headers["Access-Control-Max-Age"] == "600"
        other = httpx.options(url, headers={"Origin": "https://evil.test"})
        assert "Access-Control-Allow-Origin" not in other.headers
        r = httpx.post(url, content=b"{}", headers={**JSON, "Origin": "https://app.example.com"})
        assert r.status_code == 200
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


@pytest.mark.parametrize("compression", [HttpCompression.NoCompression, HttpCompression.Gzip])
def test_the_sdk_http_exporter_delivers_spans(tmp_path: Path, compression: HttpCompression) -> None:
    port = free_port()
    with running_collector(config(tmp_path, port)):
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", compression=compression)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("t")
        with tracer.start_as_current_span("parent"), tracer.start_as_current_span("child"):
            pass
        provider.shutdown()
    names = [s["name"] for line in read_lines(tmp_path / "out.jsonl")
             for rs in line["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert sorted(names) == ["child", "parent"]


def test_the_sdk_http_metric_and_log_exporters_deliver(tmp_path: Path) -> None:
    port = free_port()
    with running_collector(config(tmp_path, port)):
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"http://127.0.0.1:{port}/v1/metrics"), export_interval_millis=3_600_000)
        meter_provider = MeterProvider(metric_readers=[reader])
        meter_provider.get_meter("m").create_counter("chat.messages").add(3, {"room": "general"})
        meter_provider.shutdown()  # exports once
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"http://127.0.0.1:{port}/v1/logs")))
        logger_provider.get_logger("l").emit(body="user logged in", severity_number=SeverityNumber.INFO)
        logger_provider.shutdown()
    lines = read_lines(tmp_path / "out.jsonl")
    metric = lines[0]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]
    assert metric["name"] == "chat.messages"
    assert metric["sum"]["dataPoints"][0]["asInt"] == "3"
    assert lines[1]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] == {"stringValue": "user logged in"}
