"""The OTLP/gRPC receiver: the SDK's gRPC exporters deliver through it; errors carry the spec's codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from collector.exporters.otlp import retry_delay
from collector.memory import LEDGER
from collector.testing import running_collector
from tests.collector.receivers.otlp._collector import collector_config, read_lines
from tests.support import free_port

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def config(tmp_path: Path, port: int, grpc_cfg: dict[str, Any] | None = None,
           processors: list[str] | None = None) -> dict[str, Any]:
    return collector_config(tmp_path, "grpc", port, grpc_cfg, processors)


def lines(tmp_path: Path) -> list[Any]:
    return read_lines(tmp_path / "out.jsonl")


def call(port: int, body: bytes, method: str = TRACES, metadata: Any = None) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        result: bytes = channel.unary_unary(method)(body, metadata=metadata, timeout=10)
        return result


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
def test_sdk_grpc_exporters_deliver_traces_and_logs(tmp_path: Path, compression: grpc.Compression) -> None:
    port = free_port()
    with running_collector(config(tmp_path, port)):
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, compression=compression)))
        with tracer_provider.get_tracer("t").start_as_current_span("over-grpc"):
            pass
        tracer_provider.shutdown()
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"127.0.0.1:{port}", insecure=True)))
        logger_provider.get_logger("l").emit(body="hello", severity_number=SeverityNumber.INFO)
        logger_provider.shutdown()
    out = lines(tmp_path)
    assert out[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == "over-grpc"
    assert out[1]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] == {"stringValue": "hello"}


def test_partial_success_for_invalid_spans(tmp_path: Path) -> None:
    port = free_port()
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    ss.spans.add(name="ok", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    ss.spans.add(name="bad", trace_id=b"\x01" * 3, span_id=b"\x02" * 8)
    with running_collector(config(tmp_path, port)):
        answer = ExportTraceServiceResponse.FromString(call(port, req.SerializeToString()))
    assert answer.partial_success.rejected_spans == 1
    assert len(lines(tmp_path)) == 1


def test_undecodable_message_is_invalid_argument(tmp_path: Path) -> None:
    port = free_port()
    with running_collector(config(tmp_path, port)), pytest.raises(grpc.RpcError) as info:
        call(port, b"\x0a\xff\xff\xff\x0f truncated", method=LOGS)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_request_that_would_exceed_the_memory_limit_is_unavailable_with_retry_info(tmp_path: Path) -> None:
    port = free_port()
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for i in range(40_000):
        spans.add(name=f"x{i}", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    assert req.ByteSize() > 1024 * 1024
    with running_collector(config(tmp_path, port, processors=["memory_limiter"])), \
            pytest.raises(grpc.RpcError) as info:  # limit 1 MiB of data held
        call(port, req.SerializeToString())
    assert LEDGER.held() == 0  # the collector is stopped: every handler has returned
    err: Any = info.value
    assert err.code() is grpc.StatusCode.UNAVAILABLE
    assert "memory limiter" in err.details()
    assert retry_delay(err.trailing_metadata()) == pytest.approx(1.0)


def test_bearer_token_auth(tmp_path: Path) -> None:
    port = free_port()
    body = ExportTraceServiceRequest().SerializeToString()
    with running_collector(config(tmp_path, port, {"auth": {"bearer_token": "t0ken"}})):
        with pytest.raises(grpc.RpcError) as info:
            call(port, body)
        assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
        call(port, body, metadata=(("authorization", "Bearer t0ken"),))


def test_messages_above_max_recv_msg_size_are_refused(tmp_path: Path) -> None:
    port = free_port()
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add(name="x" * (2 * 1024 * 1024), trace_id=b"\x01" * 16,
                                                         span_id=b"\x02" * 8)
    with running_collector(config(tmp_path, port, {"max_recv_msg_size_mib": 1})), \
            pytest.raises(grpc.RpcError) as info:
        call(port, req.SerializeToString())
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert lines(tmp_path) == []


def test_an_endpoint_without_host_listens_on_every_interface(tmp_path: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, port)
    cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = f":{port}"
    with running_collector(cfg):
        call(port, ExportTraceServiceRequest().SerializeToString())
