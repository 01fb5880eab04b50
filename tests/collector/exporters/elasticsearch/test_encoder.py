"""OTLP -> documents: the otel and ecs mappings, and data stream routing (as otelcol-contrib routes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from collector.exporters.elasticsearch import Config
from collector.exporters.elasticsearch._encoder import Encoder, any_value, format_timestamp
from collector.pdata import Batch, Signal

from ._data import log_batch, sdk_batches, sdk_metrics


def _docs(batch: Batch, **config: Any) -> list[tuple[str, dict[str, Any]]]:
    encoder = Encoder(Config.model_validate(config), batch.signal)
    return [(d.index, json.loads(d.source)) for d in encoder.encode(batch)]


def test_otel_mode_log_document() -> None:
    traces, logs = sdk_batches(n_logs=1)
    span = traces.resources[0].scope_spans[0].spans[0]

    [(index, doc)] = _docs(logs)

    assert index == "logs-generic.otel-default"
    assert doc["data_stream"] == {"type": "logs", "dataset": "generic.otel", "namespace": "default"}
    assert doc["body"] == {"text": "message 0 stored"}
    assert doc["severity_text"] == "INFO"
    assert doc["severity_number"] == 9
    assert doc["trace_id"] == span.trace_id.hex()
    assert doc["span_id"] == span.span_id.hex()
    assert doc["attributes"]["chat.room"] == "general"
    assert doc["resource"]["attributes"]["service.name"] == "chat-api"
    assert doc["scope"]["name"] == "tests.elasticsearch.sdk"
    assert doc["@timestamp"].endswith("Z") and len(doc["@timestamp"]) == len("2024-01-01T00:00:00.000000000Z")


def test_otel_mode_span_document() -> None:
    traces, _ = sdk_batches(n_logs=0)
    span = traces.resources[0].scope_spans[0].spans[0]

    [(index, doc)] = _docs(traces)

    assert index == "traces-generic.otel-default"
    assert doc["name"] == "POST /chat/messages"
    assert doc["kind"] == "Server"
    assert doc["duration"] == span.end_time_unix_nano - span.start_time_unix_nano
    assert doc["status"] == {"code": "Unset"}
    assert doc["attributes"] == {"http.request.method": "POST"}
    assert doc["events"][0]["name"] == "message.stored"
    assert doc["@timestamp"] == format_timestamp(span.start_time_unix_nano)


def test_ecs_mode_documents() -> None:
    traces, logs = sdk_batches(n_logs=1)

    [(log_index, log)] = _docs(logs, mapping={"mode": "ecs"})
    [(span_index, span)] = _docs(traces, mapping={"mode": "ecs"})

    assert log_index == "logs-generic-default"
    assert log["message"] == "message 0 stored"
    assert log["log.level"] == "info"
    assert log["service.name"] == "chat-api"
    assert log["service.environment"] == "test"  # deployment.environment
    assert log["agent.name"] == "opentelemetry"  # telemetry.sdk.name
    assert log["chat.room"] == "general"
    assert "trace.id" in log and "span.id" in log
    assert span_index == "traces-generic-default"
    assert span["span.name"] == "POST /chat/messages"
    assert span["span.kind"] == "server"
    assert span["event.outcome"] == "unknown"


def test_ecs_mode_maps_exception_attributes_to_error_fields() -> None:
    batch = log_batch([{"exception.type": "ValueError", "exception.message": "bad", "exception.stacktrace": "tb"}])

    [(_, doc)] = _docs(batch, mapping={"mode": "ecs"})

    assert (doc["error.type"], doc["error.message"], doc["error.stack_trace"]) == ("ValueError", "bad", "tb")


@pytest.mark.parametrize(
    ("record", "scope", "resource", "index"),
    [
        ({}, {}, {}, "logs-generic.otel-default"),
        ({}, {}, {"data_stream.dataset": "nginx"}, "logs-nginx.otel-default"),
        ({}, {"data_stream.dataset": "scope"}, {"data_stream.dataset": "res"}, "logs-scope.otel-default"),
        ({"data_stream.dataset": "rec"}, {"data_stream.dataset": "scope"}, {}, "logs-rec.otel-default"),
        ({"data_stream.namespace": "prod"}, {}, {}, "logs-generic.otel-prod"),
        ({"data_stream.dataset": "My-App/Access Log"}, {}, {}, "logs-my_app_access_log.otel-default"),
        ({"data_stream.namespace": "EU:West"}, {}, {}, "logs-generic.otel-eu_west"),
        ({"data_stream.dataset": "x" * 150}, {}, {}, f"logs-{'x' * 100}.otel-default"),
        ({"data_stream.dataset": "already.otel"}, {}, {}, "logs-already.otel-default"),
    ],
)
def test_data_stream_routing(record: dict[str, str], scope: dict[str, str], resource: dict[str, str],
                             index: str) -> None:
    batch = log_batch([record], scope=scope, resource=resource)

    [(got, doc)] = _docs(batch)

    assert got == index
    assert f"logs-{doc['data_stream']['dataset']}-{doc['data_stream']['namespace']}" == index
    assert not any(k.startswith("data_stream.") for k in doc["attributes"])  # routing keys are not duplicated
    assert not any(k.startswith("data_stream.") for k in doc["resource"]["attributes"])


def test_a_fixed_index_wins_and_carries_no_data_stream_fields() -> None:
    [(index, doc)] = _docs(log_batch([{"data_stream.dataset": "ignored"}]), logs_index="app-logs")

    assert index == "app-logs"
    assert "data_stream" not in doc


def test_dynamic_index_from_the_elasticsearch_index_attribute() -> None:
    batch = log_batch([{"elasticsearch.index": "Audit-2024"}, {}])

    [(named, _), (routed, _)] = _docs(batch, logs_dynamic_index={"enabled": True})

    assert named == "audit-2024"
    assert routed == "logs-generic.otel-default"


def test_documents_keep_their_place_in_the_batch() -> None:
    batch = log_batch([{}, {}, {}])

    encoder = Encoder(Config(), Signal.LOGS)

    assert [d.ref for d in encoder.encode(batch)] == [(0, 0, 0), (0, 0, 1), (0, 0, 2)]


def test_any_value_covers_every_otlp_kind() -> None:
    kv = KeyValueList(values=[KeyValue(key="k", value=AnyValue(int_value=1))])
    assert any_value(AnyValue(string_value="s")) == "s"
    assert any_value(AnyValue(bool_value=True)) is True
    assert any_value(AnyValue(int_value=-5)) == -5
    assert any_value(AnyValue(double_value=1.5)) == 1.5
    assert any_value(AnyValue(double_value=float("nan"))) == "nan"  # JSON has no NaN
    assert any_value(AnyValue(bytes_value=b"\x00\x01")) == "AAE="
    assert any_value(AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="a")]))) \
        == [1, "a"]
    assert any_value(AnyValue(kvlist_value=kv)) == {"k": 1}
    assert any_value(AnyValue()) is None


def test_structured_bodies_go_under_body_structured() -> None:
    batch = log_batch([{}])
    record = batch.resources[0].scope_logs[0].log_records[0]
    record.body.CopyFrom(AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="a", value=AnyValue(int_value=1))])))

    [(_, doc)] = _docs(batch)

    assert doc["body"] == {"structured": {"a": 1}}


def test_format_timestamp() -> None:
    assert format_timestamp(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert format_timestamp(0) == "1970-01-01T00:00:00.000000000Z"


def test_otel_mode_metric_documents_one_per_data_point() -> None:
    docs = {next(iter(doc["metrics"])): (index, doc) for index, doc in _docs(sdk_metrics())}

    index, requests = docs["chat.requests"]
    assert index == "metrics-generic.otel-default"
    assert requests["metrics"] == {"chat.requests": 3}
    assert requests["attributes"] == {"room": "general"}
    assert requests["unit"] == "{request}"
    assert requests["resource"]["attributes"]["service.name"] == "chat-api"
    assert requests["data_stream"] == {"type": "metrics", "dataset": "generic.otel", "namespace": "default"}
    assert "start_timestamp" in requests
    _, latency = docs["chat.latency"]
    assert latency["metrics"]["chat.latency"] == {"counts": [1, 1], "values": [2.5, 55.0]}  # bucket midpoints
    _, queue = docs["chat.queue"]
    assert queue["metrics"] == {"chat.queue": 1.5}


def test_ecs_mode_metric_documents_carry_the_metric_as_a_field() -> None:
    docs = [doc for _, doc in _docs(sdk_metrics(), mapping={"mode": "ecs"})]

    [requests] = [d for d in docs if "chat.requests" in d]
    assert requests["chat.requests"] == 3
    assert requests["service.name"] == "chat-api"
    assert requests["room"] == "general"


def test_metric_data_points_keep_their_place_in_the_batch() -> None:
    batch = sdk_metrics()
    encoder = Encoder(Config(), Signal.METRICS)

    refs = [d.ref for d in encoder.encode(batch)]

    assert all(len(ref) == 4 for ref in refs)
    assert len(refs) == batch.item_count()
