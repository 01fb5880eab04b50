"""``attributes`` and ``resource``: one test per action, plus the signals they reach."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from pydantic import ValidationError

from collector.component import ComponentID, CreateSettings
from collector.pdata import Batch, Signal
from collector.processors import attributes
from tests.collector.sending.fakes import traces


def span_attrs(batch: Batch) -> dict[str, Any]:
    span = batch.resources[0].scope_spans[0].spans[0]
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}


def run(actions: list[dict[str, Any]], start: dict[str, str]) -> dict[str, Any]:
    b = traces(1)
    span = b.resources[0].scope_spans[0].spans[0]
    for k, v in start.items():
        span.attributes.add(key=k).value.string_value = v
    proc = attributes.create(CreateSettings(ComponentID("attributes")),
                             attributes.Config.model_validate({"actions": actions}))
    return span_attrs(proc(b))


@pytest.mark.parametrize(("action", "start", "expected"), [
    ({"key": "env", "action": "insert", "value": "prod"}, {}, {"env": "prod"}),
    ({"key": "env", "action": "insert", "value": "prod"}, {"env": "dev"}, {"env": "dev"}),
    ({"key": "env", "action": "update", "value": "prod"}, {}, {}),
    ({"key": "env", "action": "update", "value": "prod"}, {"env": "dev"}, {"env": "prod"}),
    ({"key": "env", "action": "upsert", "value": "prod"}, {}, {"env": "prod"}),
    ({"key": "env", "action": "upsert", "value": 3}, {"env": "dev"}, {"env": 3}),
    ({"key": "env", "action": "upsert", "from_attribute": "src"}, {"src": "x"}, {"src": "x", "env": "x"}),
    ({"key": "env", "action": "delete"}, {"env": "dev", "a": "b"}, {"a": "b"}),
    ({"key": "user", "action": "hash"}, {"user": "bob"}, {"user": hashlib.sha256(b"bob").hexdigest()}),
    ({"key": "user", "action": "hash"}, {}, {}),
])
def test_actions(action: dict[str, Any], start: dict[str, str], expected: dict[str, Any]) -> None:
    assert run([action], start) == expected


def test_actions_apply_in_order() -> None:
    assert run([{"key": "a", "action": "insert", "value": "1"}, {"key": "b", "action": "upsert", "from_attribute": "a"},
                {"key": "a", "action": "delete"}], {}) == {"b": "1"}


@pytest.mark.parametrize("action", [
    {"key": "k", "action": "insert"},
    {"key": "k", "action": "upsert", "value": "v", "from_attribute": "x"},
    {"key": "k", "action": "delete", "value": "v"},
    {"key": "k", "action": "rename"},
])
def test_invalid_actions_are_rejected(action: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        attributes.Config.model_validate({"actions": [action]})


def test_logs_and_metric_points_are_reached_too() -> None:
    proc = attributes.create(CreateSettings(ComponentID("attributes")), attributes.Config.model_validate(
        {"actions": [{"key": "k", "action": "insert", "value": "v"}]}))
    logs = ExportLogsServiceRequest()
    logs.resource_logs.add().scope_logs.add().log_records.add()
    proc(Batch(Signal.LOGS, logs))
    assert logs.resource_logs[0].scope_logs[0].log_records[0].attributes[0].key == "k"
    metrics = ExportMetricsServiceRequest()
    metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="m").gauge.data_points.add(as_int=1)
    proc(Batch(Signal.METRICS, metrics))
    assert metrics.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].attributes[0].key == "k"
