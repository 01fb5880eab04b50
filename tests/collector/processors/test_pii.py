"""``pii``: scrubs every place a signal carries text, in place, counts by kind, and reads its key from the env."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import ValidationError

from collector import config as collector_config
from collector import otlpjson
from collector.component import ComponentID, CreateSettings
from collector.pdata import Batch, Signal
from collector.processors import pii
from collector.testing import RecordingTelemetry, running_collector
from tests.support import free_port

KEY_ENV = "TEST_PII_HMAC_KEY"


def make(cfg: dict[str, Any] | None = None, telemetry: Any = None) -> pii.PiiProcessor:
    settings = CreateSettings(ComponentID("pii", "t"))
    if telemetry is not None:
        settings.telemetry = telemetry
    return pii.create(settings, pii.Config.model_validate(cfg or {}))


def attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        which = kv.value.WhichOneof("value")
        if which == "array_value":
            out[kv.key] = [getattr(v, v.WhichOneof("value")) for v in kv.value.array_value.values]
        else:
            out[kv.key] = getattr(kv.value, which)
    return out


def trace_batch() -> Batch:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "checkout"
    rs.resource.attributes.add(key="host.ip").value.string_value = "10.0.3.7"
    rs.resource.attributes.add(key="deployment.contact").value.string_value = "203.0.113.9 / oncall@example.com"
    ss = rs.scope_spans.add()
    ss.scope.name = "app"
    ss.scope.attributes.add(key="owner.email").value.string_value = "team@example.com"
    span = ss.spans.add()
    span.trace_id = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    span.name = "charge jane@example.com"
    span.attributes.add(key="http.route").value.string_value = "/api/v1/orders/{id}"
    span.attributes.add(key="http.url").value.string_value = "https://shop.example/cb?token=abc123xyz&page=2"
    span.attributes.add(key="db.password").value.int_value = 123456
    span.attributes.add(key="tags").value.array_value.values.add().string_value = "card 4111 1111 1111 1111"
    event = span.events.add()
    event.name = "exception"
    event.attributes.add(key="exception.message").value.string_value = "declined for +90 532 123 45 67"
    link = span.links.add()
    link.attributes.add(key="peer").value.string_value = "2001:db8::8a2e:370:7334"
    span.status.message = "failed for DE89370400440532013000"
    return Batch(Signal.TRACES, req)


def test_spans_resources_and_scopes_are_scrubbed_in_place() -> None:
    batch = trace_batch()
    request = batch.request
    out = make()(batch)
    assert out.request is request
    rs = out.resources[0]
    assert attrs(rs.resource.attributes) == {
        "service.name": "checkout",
        "host.ip": "10.0.3.7",  # our own infrastructure: never touched
        "deployment.contact": "[REDACTED:ipv4] / [REDACTED:email]",
    }
    assert attrs(rs.scope_spans[0].scope.attributes) == {"owner.email": "[REDACTED:email]"}
    span = rs.scope_spans[0].spans[0]
    assert span.name == "charge [REDACTED:email]"
    assert attrs(span.attributes) == {
        "http.route": "/api/v1/orders/{id}",
        "http.url": "https://shop.example/cb?token=[REDACTED:secret]&page=2",
        "db.password": "[REDACTED:secret]",
        "tags": ["card [REDACTED:credit_card]"],
        "redaction.count": 7,
        "redaction.kinds": ["credit_card", "email", "iban", "ipv6", "phone", "secret"],
    }
    assert attrs(span.events[0].attributes) == {"exception.message": "declined for [REDACTED:phone]"}
    assert attrs(span.links[0].attributes) == {"peer": "[REDACTED:ipv6]"}
    assert span.status.message == "failed for [REDACTED:iban]"
    assert span.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize("received", ["as a message", "as bytes"])
def test_bytes_values_that_are_text_are_scrubbed_and_stay_bytes(received: str) -> None:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.name = "upload"
    span.attributes.add(key="payload").value.bytes_value = b"mail ada@example.com"
    span.attributes.add(key="blob").value.bytes_value = b"\x89PNG\x00 ada@example.com"  # binary: kept
    span.attributes.add(key="list").value.array_value.values.add().bytes_value = b"ip 203.0.113.9"
    batch = Batch(Signal.TRACES, req) if received == "as a message" else Batch.from_bytes(
        Signal.TRACES, req.SerializeToString())
    out = ExportTraceServiceRequest.FromString(make()(batch).to_bytes())
    assert attrs(out.resource_spans[0].scope_spans[0].spans[0].attributes) == {
        "payload": b"mail [REDACTED:email]",
        "blob": b"\x89PNG\x00 ada@example.com",
        "list": [b"ip [REDACTED:ipv4]"],
        "redaction.count": 2,
        "redaction.kinds": ["email", "ipv4"],
    }


def test_clean_bytes_values_are_remembered_as_clean_strings_are(monkeypatch: pytest.MonkeyPatch) -> None:
    # A batch as received: an attribute found clean is one lookup the next time, whatever its value's type;
    # reading it again with the full message types on every span is what the cache is there to avoid.
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.attributes.add(key="payload").value.bytes_value = b"application/octet-stream chunk"  # text, clean
    span.attributes.add(key="blob").value.bytes_value = b"\x89PNG\x00\xff\xfe"  # binary
    data = req.SerializeToString()
    process = make()
    assert process(Batch.from_bytes(Signal.TRACES, data)).to_bytes() == data
    read: list[bytes] = []
    full_read = pii.PiiProcessor._kv_message

    def spy(self: pii.PiiProcessor, attributes: Any, i: int, kv: bytes, counts: Any) -> None:
        read.append(kv)
        full_read(self, attributes, i, kv, counts)

    monkeypatch.setattr(pii.PiiProcessor, "_kv_message", spy)
    assert process(Batch.from_bytes(Signal.TRACES, data)).to_bytes() == data
    assert read == []


def test_log_bodies_string_or_structured_and_attributes() -> None:
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    first = sl.log_records.add()
    first.body.string_value = "login ok for ayse@firma.com.tr from 203.0.113.7"
    first.attributes.add(key="enduser.phone").value.string_value = "0532 123 45 67"
    second = sl.log_records.add()
    body = second.body.kvlist_value.values
    body.add(key="msg").value.string_value = "payment"
    body.add(key="password").value.string_value = "hunter2"
    customer = body.add(key="customer").value.kvlist_value.values
    customer.add(key="name").value.string_value = "Jane Doe"
    body.add(key="items").value.array_value.values.add().string_value = "iban TR330006100519786457841326"
    third = sl.log_records.add()
    third.body.string_value = "GET /health 200"
    make()(Batch(Signal.LOGS, req))
    assert first.body.string_value == "login ok for [REDACTED:email] from [REDACTED:ipv4]"
    assert attrs(first.attributes) == {
        "enduser.phone": "[REDACTED:phone]", "redaction.count": 3, "redaction.kinds": ["email", "ipv4", "phone"],
    }
    values = second.body.kvlist_value.values
    assert attrs([kv for kv in values if kv.key != "customer"]) == {
        "msg": "payment", "password": "[REDACTED:secret]", "items": ["iban [REDACTED:iban]"],
    }
    customer_value = next(kv for kv in values if kv.key == "customer").value
    assert attrs(customer_value.kvlist_value.values) == {"name": "[REDACTED:person]"}
    assert third.body.string_value == "GET /health 200"
    assert len(third.attributes) == 0


def test_a_summary_from_the_app_is_added_to() -> None:
    req = ExportLogsServiceRequest()
    record = req.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = "mail [REDACTED:email] card 4111 1111 1111 1111"
    record.attributes.add(key="redaction.count").value.int_value = 1
    record.attributes.add(key="redaction.kinds").value.array_value.values.add().string_value = "email"
    make()(Batch(Signal.LOGS, req))
    assert attrs(record.attributes) == {"redaction.count": 2, "redaction.kinds": ["credit_card", "email"]}


def test_metric_point_attributes_without_summary() -> None:
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add()
    point = metric.sum.data_points.add()
    point.attributes.add(key="client").value.string_value = "jane@example.com"
    exemplar = point.exemplars.add()
    exemplar.filtered_attributes.add(key="ip").value.string_value = "203.0.113.7"
    hist = req.resource_metrics[0].scope_metrics[0].metrics.add()
    hist.histogram.data_points.add().attributes.add(key="user.name").value.string_value = "ayse"
    make()(Batch(Signal.METRICS, req))
    assert attrs(point.attributes) == {"client": "[REDACTED:email]"}  # no summary: it would make a new series
    assert attrs(exemplar.filtered_attributes) == {"ip": "[REDACTED:ipv4]"}
    assert attrs(hist.histogram.data_points[0].attributes) == {"user.name": "[REDACTED:user]"}


def test_redactions_are_counted_by_kind() -> None:
    telemetry = RecordingTelemetry()
    make(telemetry=telemetry)(trace_batch())
    metric = "otelcol_processor_pii_redactions_total"
    assert telemetry.value(metric, processor="pii/t", kind="email") == 3
    assert telemetry.value(metric, processor="pii/t", kind="secret") == 2
    assert telemetry.value(metric) == 10  # 7 on the span, 2 on the resource, 1 on the scope


def test_summary_silent_adds_nothing() -> None:
    batch = make({"summary": "silent"})(trace_batch())
    keys = {kv.key for kv in batch.resources[0].scope_spans[0].spans[0].attributes}
    assert "redaction.count" not in keys


def test_otelcol_redaction_keys() -> None:
    batch = trace_batch()
    span = batch.resources[0].scope_spans[0].spans[0]
    span.attributes.add(key="internal.note").value.string_value = "hi"
    span.attributes.add(key="debug.dump").value.string_value = "a@b.com"
    span.attributes.add(key="order").value.string_value = "order ZX-4411"
    make({
        "allow_all_keys": False,
        "allowed_keys": ["http.route", "http.url", "internal.note", "order"],
        "ignored_keys": ["debug.dump"],
        "blocked_key_patterns": ["^internal\\."],
        "blocked_values": ["ZX-\\d{4}"],
        "allowed_values": ["shop\\.example"],
        "summary": "silent",
    })(batch)
    assert attrs(span.attributes) == {
        "http.route": "/api/v1/orders/{id}",
        "http.url": "https://shop.example/cb?token=[REDACTED:secret]&page=2",
        "internal.note": "[REDACTED:secret]",
        "debug.dump": "a@b.com",
        "order": "order [REDACTED:blocked_value]",
    }


def test_user_rules_and_disabled_kinds() -> None:
    req = ExportLogsServiceRequest()
    record = req.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = "customer CUST-001234 from 203.0.113.7 mail a@b.com"
    make({"rules": [{"name": "customer", "kind": "customer_id", "pattern": "CUST-\\d{6}"}],
          "disabled_kinds": ["ipv4"], "summary": "silent"})(Batch(Signal.LOGS, req))
    assert record.body.string_value == "customer [REDACTED:customer_id] from 203.0.113.7 mail [REDACTED:email]"


def test_default_rules_can_be_turned_off() -> None:
    req = ExportLogsServiceRequest()
    record = req.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = "a@b.com ZX-1234"
    make({"default_rules": False, "blocked_values": ["ZX-\\d+"], "summary": "silent"})(Batch(Signal.LOGS, req))
    assert record.body.string_value == "a@b.com [REDACTED:blocked_value]"


def test_hmac_key_comes_from_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "0123456789abcdef0123456789abcdef")
    proc = make({"hmac_key_env": KEY_ENV, "hash_function": "hmac-sha256", "summary": "silent"})
    one, two = trace_batch(), trace_batch()
    proc(one)
    proc(two)
    name_one = one.resources[0].scope_spans[0].spans[0].name
    assert name_one.startswith("charge [email:") and name_one == two.resources[0].scope_spans[0].spans[0].name
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(ValueError, match=f"hmac_key_env: the key in {KEY_ENV} is unusable: .* at least 16 bytes"):
        make({"hmac_key_env": KEY_ENV})
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(ValueError, match=f"environment variable {KEY_ENV}"):
        make({"hmac_key_env": KEY_ENV, "hash_function": "hmac-sha256"})
    assert make({"hmac_key_env": KEY_ENV})(trace_batch()).resources[0].scope_spans[0].spans[0].name == (
        "charge [REDACTED:email]"
    )


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"hash_function": "md5"}, "unkeyed hash"),
        ({"hash_function": "blake3"}, "unknown hash_function"),
        ({"rules": [{"name": "x", "pattern": "(open"}]}, "invalid RE2 pattern"),
        ({"rules": [{"name": "x", "pattern": "a", "group": 1}]}, "group 1 does not exist"),
        ({"rules": [{"name": "x", "kind": "Bad Kind", "pattern": "a"}]}, "lower-case"),
        ({"blocked_values": ["ok", "(bad"]}, "[1]: "),
        ({"allowed_keys": ["a"]}, "allow_all_keys"),
        ({"summary": "loud"}, "summary"),
        ({"hmac_key": "inline"}, "Extra inputs are not permitted"),
        ({"disabled_kinds": ["emial"]}, "unknown kind(s) emial (valid: "),
        ({"rules": [{"name": "email", "pattern": "x"}]}, "duplicate rule names: email"),
    ],
)
def test_config_errors_name_the_problem(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        pii.Config.model_validate(cfg)


def test_config_error_paths_in_a_collector_file() -> None:
    with pytest.raises(collector_config.ConfigError) as err:
        collector_config.load({
            "receivers": {"otlp": {}},
            "processors": {"pii/strict": {"rules": [{"name": "a", "pattern": "ok"},
                                                    {"name": "b", "pattern": "ok"},
                                                    {"name": "c", "pattern": "(x"}]}},
            "exporters": {"debug": {}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["pii/strict"],
                                                 "exporters": ["debug"]}}},
        })
    assert "processors::pii/strict::rules[2]::pattern" in str(err.value)


def test_official_otlp_examples_pass_through(otlp_examples: Path) -> None:
    for name, signal in [("trace.json", Signal.TRACES), ("logs.json", Signal.LOGS), ("metrics.json", Signal.METRICS)]:
        batch = otlpjson.decode(signal, (otlp_examples / name).read_bytes())
        before = batch.item_count()
        out = make()(batch)
        assert out.item_count() == before
        json.loads(otlpjson.encode(out))


@pytest.mark.slow
def test_in_a_running_collector_nothing_sensitive_reaches_the_exporter(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "out.jsonl"
    cfg = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"pii": {}},
        "exporters": {"file": {"path": str(out)}},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "processors": ["pii"], "exporters": ["file"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }
    req = ExportLogsServiceRequest()
    record = req.resource_logs.add().scope_logs.add().log_records.add()
    record.body.string_value = "login jane@example.com card 4111 1111 1111 1111 Authorization: Bearer abcDEF123456"
    record.trace_id = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    with running_collector(cfg) as collector:
        r = httpx.post(f"http://127.0.0.1:{port}/v1/logs", content=req.SerializeToString(),
                       headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200
    text = out.read_text()
    assert "jane@example.com" not in text and "4111" not in text and "abcDEF123456" not in text
    assert "[REDACTED:email]" in text and "4bf92f3577b34da6a3ce929d0e0e4736" in text
    assert collector.telemetry.value("otelcol_processor_pii_redactions_total", kind="credit_card") == 1
