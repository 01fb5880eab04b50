"""The OTLP/JSON codec: hex ids, camelCase, integer enums; exact round trips of the official examples."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from collector import otlpjson
from collector.pdata import Batch, Signal

EXAMPLES = [("trace.json", Signal.TRACES), ("metrics.json", Signal.METRICS), ("logs.json", Signal.LOGS),
            ("events.json", Signal.LOGS)]


@pytest.mark.parametrize(("name", "signal"), EXAMPLES)
def test_official_examples_round_trip_exactly(otlp_examples: Path, name: str, signal: Signal) -> None:
    batch = otlpjson.decode(signal, (otlp_examples / name).read_bytes())
    assert batch.item_count() > 0
    again = otlpjson.decode(signal, otlpjson.encode(batch))
    assert again.request == batch.request


def test_ids_are_hex_and_decode_to_raw_bytes(otlp_examples: Path) -> None:
    batch = otlpjson.decode(Signal.TRACES, (otlp_examples / "trace.json").read_bytes())
    span = batch.resources[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex("5B8EFFF798038103D269B633813FC60C")
    assert span.span_id == bytes.fromhex("EEE19B7EC3C1B174")
    encoded = json.loads(otlpjson.encode(batch))
    out_span = encoded["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert out_span["traceId"] == "5b8efff798038103d269b633813fc60c"
    assert out_span["parentSpanId"] == "eee19b7ec3c1b173"
    assert out_span["kind"] == 2  # enums as integers
    assert "startTimeUnixNano" in out_span  # camelCase


def test_bytes_attribute_values_stay_base64() -> None:
    body = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"bytesValue":"AQI="},"traceId":"0102"}]}]}]}'
    batch = otlpjson.decode(Signal.LOGS, body)
    record = batch.resources[0].scope_logs[0].log_records[0]
    assert record.body.bytes_value == b"\x01\x02"
    assert record.trace_id == b"\x01\x02"
    assert b'"bytesValue":"AQI="' in otlpjson.encode(batch)


def test_unknown_fields_are_ignored_and_snake_case_is_accepted() -> None:
    batch = otlpjson.decode(Signal.TRACES, b'{"resource_spans":[{"scope_spans":[{"spans":[{"name":"x","fancy":1}]}]}]}')
    assert batch.item_count() == 1


@pytest.mark.parametrize(("body", "message"), [
    (b"[1]", "expected a JSON object"),
    (b"{", "invalid JSON"),
    (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"xyz"}]}]}]}', "spanId"),
    (b'{"resourceSpans":"nope"}', "resourceSpans"),
])
def test_bad_input_raises_a_readable_error(body: bytes, message: str) -> None:
    with pytest.raises(otlpjson.JSONDecodeError, match=message):
        otlpjson.decode(Signal.TRACES, body)


def _convert_ids(node: Any, convert: Any) -> Any:
    if isinstance(node, dict):
        return {k: convert(v) if k in {"traceId", "spanId", "parentSpanId"} else _convert_ids(v, convert)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_convert_ids(x, convert) for x in node]
    return node


def _hex_to_b64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


@pytest.mark.parametrize(("name", "signal"), EXAMPLES)
def test_decoding_and_encoding_agree_with_protobuf_json_format(otlp_examples: Path, name: str,
                                                                signal: Signal) -> None:
    tree = json.loads((otlp_examples / name).read_bytes())
    reference = json_format.ParseDict(_convert_ids(tree, _hex_to_b64), signal.request_type(),
                                      ignore_unknown_fields=True)
    decoded = otlpjson.decode(signal, (otlp_examples / name).read_bytes())
    assert decoded.request == reference
    expected = _convert_ids(json_format.MessageToDict(reference, use_integers_for_enums=True), _b64_to_hex)
    assert json.loads(otlpjson.encode(decoded)) == expected


def test_enum_names_and_numeric_int64s_are_accepted() -> None:
    body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_SERVER","startTimeUnixNano":17}]}]}]}'
    span = otlpjson.decode(Signal.TRACES, body).resources[0].scope_spans[0].spans[0]
    assert span.kind == 2
    assert span.start_time_unix_nano == 17


def _nested_log(depth: int) -> bytes:
    value = '{"arrayValue":{"values":[' * depth + '{"stringValue":"x"}' + "]}}" * depth
    return ('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + value + "}]}]}]}").encode()


def test_nesting_up_to_the_protobuf_decoders_limit_decodes_and_survives_reparsing() -> None:
    # request, resource, scope, record, body: depth 5; every arrayValue level adds ArrayValue + AnyValue
    batch = otlpjson.decode(Signal.LOGS, _nested_log(47))  # innermost value at depth 99
    assert batch.item_count() == 1
    again = Batch.from_bytes(Signal.LOGS, batch.to_bytes())  # what the persistent queue and merges do
    assert Batch.merge(Signal.LOGS, [again, batch]).item_count() == 2


@pytest.mark.parametrize("depth", [48, 49, 335])
def test_nesting_past_the_protobuf_decoders_limit_is_refused_at_decode(depth: int) -> None:
    # accepted, such a request would fail every later parse of its bytes (batch merge, persistent queue)
    with pytest.raises(otlpjson.JSONDecodeError, match=f"more than {otlpjson.MAX_DEPTH} levels"):
        otlpjson.decode(Signal.LOGS, _nested_log(depth))


def test_hostile_nesting_is_a_decode_error_not_a_crash() -> None:
    with pytest.raises(otlpjson.JSONDecodeError, match="depth"):  # past orjson's own limit
        otlpjson.decode(Signal.LOGS, _nested_log(2000))


def test_deep_kvlists_and_span_attributes_count_too() -> None:
    value = '{"kvlistValue":{"values":[{"key":"k","value":' * 47 + '{"stringValue":"x"}' + "}]}}" * 47
    body = ('{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":' + value
            + "}]}]}]}]}").encode()
    with pytest.raises(otlpjson.JSONDecodeError, match="nested too deeply"):
        otlpjson.decode(Signal.TRACES, body)


def test_every_span_field_encodes_as_json_format_does() -> None:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add(
        trace_id=b"\x01" * 16, span_id=b"\x02" * 8, parent_span_id=b"\x03" * 8, trace_state="k=v", flags=257,
        name="n", kind=3, start_time_unix_nano=1, end_time_unix_nano=2, dropped_attributes_count=4,
        dropped_events_count=5, dropped_links_count=6)
    span.attributes.add(key="d").value.double_value = 1.5
    span.attributes.add(key="b").value.bytes_value = b"\x00\xff"
    span.attributes.add(key="a").value.array_value.values.add(bool_value=True)
    span.attributes.add(key="empty")
    span.events.add(time_unix_nano=3, name="e").attributes.add(key="x").value.int_value = 7
    span.links.add(trace_id=b"\x04" * 16, span_id=b"\x05" * 8, flags=1)
    span.status.code = Status.STATUS_CODE_ERROR
    span.status.message = "boom"
    expected = _convert_ids(json_format.MessageToDict(req, use_integers_for_enums=True), _b64_to_hex)
    got = json.loads(otlpjson.encode(Batch(Signal.TRACES, req)))
    got_span = got["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    want_span = expected["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert got_span == want_span
    assert otlpjson.decode(Signal.TRACES, otlpjson.encode(Batch(Signal.TRACES, req))).request == req


@pytest.mark.parametrize("kind", ["array_value", "kvlist_value"])
def test_an_empty_array_or_kvlist_stays_a_value(kind: str) -> None:
    # found by the round-trip property: `{"arrayValue":{}}` used to come back as an AnyValue with no value
    batch = Batch.empty(Signal.LOGS)
    getattr(batch.resources.add().scope_logs.add().log_records.add().body, kind).SetInParent()
    back = otlpjson.decode(Signal.LOGS, otlpjson.encode(batch))
    assert back.resources[0].scope_logs[0].log_records[0].body.WhichOneof("value") == kind
