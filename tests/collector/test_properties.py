"""Properties of the collector that hold for any input (hypothesis):

- any OTLP request that decodes round-trips through the file exporter unchanged;
- the OTLP receivers answer every byte string with a 2xx or a 4xx (gRPC: OK or a client/back-pressure code),
  never a 5xx, an INTERNAL or a crash.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collector import otlpjson
from collector.component import ComponentID, CreateSettings
from collector.exporters import file as file_exporter
from collector.pdata import Batch, Signal
from collector.testing import running_collector
from tests.collector.receivers.otlp._collector import collector_config
from tests.support import free_port

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
TEXT = st.text(max_size=40)
FLOAT = st.floats(allow_nan=False)  # NaN != NaN: requests with NaN are compared by the tests of the encoder


def _scalar(kind: str, value: Any) -> AnyValue:
    return AnyValue(**{kind: value})


SCALARS = st.one_of(
    TEXT.map(lambda v: _scalar("string_value", v)),
    st.booleans().map(lambda v: _scalar("bool_value", v)),
    INT64.map(lambda v: _scalar("int_value", v)),
    FLOAT.map(lambda v: _scalar("double_value", v)),
    st.binary(max_size=16).map(lambda v: _scalar("bytes_value", v)),
)


def _array(values: list[AnyValue]) -> AnyValue:
    out = AnyValue()
    out.array_value.values.extend(values)
    return out


def _kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    out = AnyValue()
    for key, value in pairs:
        out.kvlist_value.values.add(key=key).value.CopyFrom(value)
    return out


ANY_VALUE = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(_array),
        st.lists(st.tuples(TEXT, children), max_size=3).map(_kvlist),
    ),
    max_leaves=12,
)
ATTRIBUTES = st.lists(st.tuples(TEXT, ANY_VALUE), max_size=4)


def _attrs(container: Any, pairs: list[tuple[str, AnyValue]]) -> None:
    for key, value in pairs:
        kv: KeyValue = container.add(key=key)
        kv.value.CopyFrom(value)


@st.composite
def trace_batches(draw: st.DrawFn) -> Batch:
    batch = Batch.empty(Signal.TRACES)
    for _ in range(draw(st.integers(1, 2))):
        rs = batch.resources.add()
        _attrs(rs.resource.attributes, draw(ATTRIBUTES))
        ss = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = draw(TEXT), draw(TEXT)
        for _ in range(draw(st.integers(0, 3))):
            span = ss.spans.add(
                trace_id=draw(st.binary(min_size=16, max_size=16)), span_id=draw(st.binary(min_size=8, max_size=8)),
                parent_span_id=draw(st.sampled_from([b"", b"\x01" * 8])), name=draw(TEXT),
                kind=draw(st.integers(0, 5)), start_time_unix_nano=draw(UINT64), end_time_unix_nano=draw(UINT64),
                trace_state=draw(TEXT), flags=draw(st.integers(0, 2**32 - 1)),
            )
            _attrs(span.attributes, draw(ATTRIBUTES))
            for _ in range(draw(st.integers(0, 2))):
                event = span.events.add(name=draw(TEXT), time_unix_nano=draw(UINT64))
                _attrs(event.attributes, draw(ATTRIBUTES))
            span.status.code = draw(st.integers(0, 2))
            span.status.message = draw(TEXT)
    return batch


@st.composite
def log_batches(draw: st.DrawFn) -> Batch:
    batch = Batch.empty(Signal.LOGS)
    sl = batch.resources.add().scope_logs.add()
    for _ in range(draw(st.integers(0, 4))):
        record = sl.log_records.add(
            time_unix_nano=draw(UINT64), observed_time_unix_nano=draw(UINT64),
            severity_number=draw(st.integers(0, 24)), severity_text=draw(TEXT),
            trace_id=draw(st.sampled_from([b"", b"\x02" * 16])), span_id=draw(st.sampled_from([b"", b"\x03" * 8])),
            event_name=draw(TEXT),
        )
        if draw(st.booleans()):
            record.body.CopyFrom(draw(ANY_VALUE))
        _attrs(record.attributes, draw(ATTRIBUTES))
    return batch


@st.composite
def metric_batches(draw: st.DrawFn) -> Batch:
    batch = Batch.empty(Signal.METRICS)
    sm = batch.resources.add().scope_metrics.add()
    for _ in range(draw(st.integers(0, 3))):
        metric = sm.metrics.add(name=draw(TEXT), unit=draw(TEXT), description=draw(TEXT))
        kind = draw(st.sampled_from(["gauge", "sum", "histogram"]))
        if kind == "histogram":
            point = metric.histogram.data_points.add(count=draw(UINT64), time_unix_nano=draw(UINT64))
            bounds = draw(st.lists(FLOAT, max_size=4))
            point.explicit_bounds.extend(bounds)
            point.bucket_counts.extend(draw(st.lists(UINT64, min_size=len(bounds) + 1, max_size=len(bounds) + 1)))
            metric.histogram.aggregation_temporality = draw(st.integers(0, 2))
        else:
            data = metric.gauge if kind == "gauge" else metric.sum
            point = data.data_points.add(time_unix_nano=draw(UINT64))
            if draw(st.booleans()):
                point.as_int = draw(INT64)
            else:
                point.as_double = draw(FLOAT)
            if kind == "sum":
                metric.sum.is_monotonic = draw(st.booleans())
        _attrs(point.attributes, draw(ATTRIBUTES))
    return batch


BATCHES = st.one_of(trace_batches(), log_batches(), metric_batches())


def _through_file_exporter(batch: Batch, path: Path) -> list[bytes]:
    async def run() -> None:
        exporter = file_exporter.create(CreateSettings(ComponentID("file"), batch.signal),
                                        file_exporter.Config(path=path, flush_interval=0))
        await exporter.start()
        try:
            await exporter.export(batch)
        finally:
            await exporter.shutdown()

    path.unlink(missing_ok=True)
    asyncio.run(run())
    return path.read_bytes().splitlines()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=BATCHES)
def test_any_request_that_decodes_round_trips_through_the_file_exporter_unchanged(
        tmp_path: Path, batch: Batch) -> None:
    wire = batch.to_bytes()
    decoded = Batch.from_bytes(batch.signal, wire)  # "any OTLP request that decodes"
    [line] = _through_file_exporter(decoded, tmp_path / "out.jsonl")
    back = otlpjson.decode(batch.signal, line)
    assert back.request.SerializeToString(deterministic=True) == decoded.request.SerializeToString(deterministic=True)


# -- the receivers never answer 5xx ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    tmp = tmp_path_factory.mktemp("receivers")
    http, grpc_port = free_port(), free_port()
    config = collector_config(tmp, "http", http, {"max_request_body_size": 256 * 1024})
    config["receivers"]["otlp"]["protocols"]["grpc"] = {"endpoint": f"127.0.0.1:{grpc_port}"}
    with running_collector(config):
        yield http, grpc_port


def _json_bodies() -> st.SearchStrategy[bytes]:
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(
            st.sampled_from(["resourceSpans", "resourceLogs", "resourceMetrics", "scopeSpans", "spans", "traceId",
                             "spanId", "attributes", "key", "value", "arrayValue", "values", "kvlistValue",
                             "intValue", "stringValue", "body", "logRecords", "name", "kind"]) | st.text(max_size=8),
            children, max_size=4),
        max_leaves=25,
    )
    import json  # noqa: PLC0415 - only this strategy needs it

    return json_values.map(lambda v: json.dumps(v).encode())


BODIES = st.one_of(
    st.binary(max_size=2048),
    _json_bodies(),
    BATCHES.map(lambda b: b.to_bytes()),
    BATCHES.map(lambda b: otlpjson.encode(b)),
    st.tuples(BATCHES.map(lambda b: b.to_bytes()), st.integers(0, 200), st.binary(min_size=1, max_size=4)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]):]),  # a valid request with a few bytes changed
)


def _encode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=BODIES,
    path=st.sampled_from(["/v1/traces", "/v1/metrics", "/v1/logs"]),
    content_type=st.sampled_from(["application/x-protobuf", "application/json", "application/json; charset=utf-8",
                                  "text/plain", ""]),
    encoding=st.sampled_from(["", "gzip", "deflate", "br", "gzip-but-not"]),
    raw_encoding=st.booleans(),
)
def test_the_http_receiver_answers_any_body_with_2xx_or_4xx(
        receivers: tuple[int, int], body: bytes, path: str, content_type: str, encoding: str,
        raw_encoding: bool) -> None:
    http, _ = receivers
    headers = {"Content-Type": content_type} if content_type else {}
    if encoding:
        headers["Content-Encoding"] = encoding
    content = body if raw_encoding else _encode(body, encoding)
    response = httpx.post(f"http://127.0.0.1:{http}{path}", content=content, headers=headers, timeout=30)
    assert 200 <= response.status_code < 500, (response.status_code, response.text)


_GRPC_METHODS = [
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
]
_CLIENT_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE,
                 grpc.StatusCode.UNIMPLEMENTED}


@pytest.fixture(scope="module")
def channel(receivers: tuple[int, int]) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{receivers[1]}") as ch:
        yield ch


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, method=st.sampled_from(_GRPC_METHODS))
def test_the_grpc_receiver_answers_any_message_with_ok_or_a_client_code(
        channel: grpc.Channel, body: bytes, method: str) -> None:
    call = channel.unary_unary(method)
    try:
        call(body, timeout=30)
    except grpc.RpcError as exc:
        assert exc.code() in _CLIENT_CODES, (exc.code(), exc.details())
