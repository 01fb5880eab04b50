"""``pii`` on a batch as received (serialized attributes, `collector.processors._pii_wire`) gives exactly what the
walk over the decoded messages gives: same data out, same redaction counts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.component import ComponentID, CreateSettings
from collector.pdata import Batch, Signal
from collector.processors import pii
from collector.processors._pii_wire import any_string, encode_key_value, split_key_value
from collector.testing import RecordingTelemetry
from tests.support import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from workload import log_request, span_request

KEYS = ["http.route", "url.path", "user_agent.original", "request_id", "enduser.email", "db.statement", "password",
        "user.name", "customer.phone", "api_key", "redaction.count", "redaction.kinds", "trace_id", "note", "şifre"]
TEXTS = ["GET /api/orders/{id}", "/api/users/48151", "jane.doe@gmail.com", "call +90 532 123 45 67 now",
         "TR330006100519786457841326", "card 4111 1111 1111 1111", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
         "ok", "", "Ayşe Y\u0131lmaz ayse@firma.com.tr", "?email=jane%40gmail.com&x=1", "203.0.113.9", "x" * 300,
         "günayd\u0131n dünya", "null"]

text = st.one_of(st.sampled_from(TEXTS), st.text(max_size=40))
scalar = st.one_of(text.map(lambda t: ("s", t)), st.integers(-(2**63), 2**63 - 1).map(lambda i: ("i", i)),
                   st.booleans().map(lambda b: ("b", b)), st.floats(allow_nan=False).map(lambda f: ("d", f)),
                   st.binary(max_size=12).map(lambda b: ("y", b)),
                   st.sampled_from(TEXTS).map(lambda t: ("y", t.encode())))  # bytes that are text
value = st.one_of(scalar, st.lists(scalar, max_size=3).map(lambda v: ("a", v)),
                  st.lists(st.tuples(st.sampled_from(KEYS), scalar), max_size=3).map(lambda v: ("k", v)),
                  st.just(("none", None)))
attributes = st.lists(st.tuples(st.sampled_from(KEYS), value), max_size=6)


def put(any_value: Any, v: tuple[str, Any]) -> None:
    kind, x = v
    if kind == "s":
        any_value.string_value = x
    elif kind == "i":
        any_value.int_value = x
    elif kind == "b":
        any_value.bool_value = x
    elif kind == "d":
        any_value.double_value = x
    elif kind == "y":
        any_value.bytes_value = x
    elif kind == "a":
        any_value.array_value.SetInParent()
        for item in x:
            put(any_value.array_value.values.add(), item)
    elif kind == "k":
        any_value.kvlist_value.SetInParent()
        for k, item in x:
            put(any_value.kvlist_value.values.add(key=k).value, item)


def fill(target: Any, attrs: list[tuple[str, tuple[str, Any]]]) -> None:
    for key, v in attrs:
        kv = target.add(key=key)
        if v[0] != "none":
            put(kv.value, v)


def run(make: Callable[[], pii.PiiProcessor], signal: Signal, data: bytes) -> tuple[Any, Any, Any, Any]:
    """(reference output, lean output, reference counts, lean counts)."""
    reference, lean = RecordingTelemetry(), RecordingTelemetry()
    held = Batch(signal, signal.request_type().FromString(data))  # a held message: the walk over messages
    process = make()
    process._telemetry = reference
    process(held)
    received = Batch.from_bytes(signal, data)
    process = make()
    process._telemetry = lean
    out = process(received)
    return held.view, out.view, reference, lean


_BUILT: dict[str, pii.PiiProcessor] = {}


def processor(cfg: dict[str, Any] | None = None) -> Callable[[], pii.PiiProcessor]:
    """One processor per configuration (building the engine is the slow part), reused: its caches must not
    change any answer either."""
    key = repr(sorted((cfg or {}).items()))
    if key not in _BUILT:
        _BUILT[key] = pii.create(CreateSettings(ComponentID("pii")), pii.Config.model_validate(cfg or {}))
    return lambda: _BUILT[key]


def counts(telemetry: Any) -> dict[str, float]:
    return {kind: telemetry.value("otelcol_processor_pii_redactions_total", processor="pii", kind=kind)
            for kind in ("email", "phone", "iban", "credit_card", "secret", "person", "user", "ipv4", "jwt")}


@pytest.mark.parametrize("seed", range(4))
def test_realistic_spans_and_logs_come_out_the_same(seed: int) -> None:
    for signal, data in ((Signal.TRACES, span_request(64, seed)), (Signal.LOGS, log_request(64, seed))):
        ref, lean, ref_t, lean_t = run(processor(), signal, data)
        assert lean == ref
        assert counts(lean_t) == counts(ref_t)


@settings(max_examples=150, deadline=None)
@given(resource=attributes, span_attrs=attributes, event_attrs=attributes, link_attrs=attributes, name=text,
       status=text, summary=st.sampled_from(["info", "silent"]))
def test_any_span_comes_out_the_same(resource: Any, span_attrs: Any, event_attrs: Any, link_attrs: Any, name: str,
                                      status: str, summary: str) -> None:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    fill(rs.resource.attributes, resource)
    ss = rs.scope_spans.add()
    ss.scope.name = "app"
    span = ss.spans.add(name=name, trace_id=b"\x01" * 16, span_id=b"\x02" * 8, kind=2, start_time_unix_nano=5)
    fill(span.attributes, span_attrs)
    event = span.events.add(name=name, time_unix_nano=7)
    fill(event.attributes, event_attrs)
    fill(span.links.add(trace_id=b"\x03" * 16, span_id=b"\x04" * 8).attributes, link_attrs)
    span.status.message = status
    span.status.code = 2
    ref, lean, ref_t, lean_t = run(processor({"summary": summary}), Signal.TRACES, req.SerializeToString())
    assert lean == ref
    assert counts(lean_t) == counts(ref_t)


@settings(max_examples=150, deadline=None)
@given(body=value, record_attrs=attributes)
def test_any_log_record_comes_out_the_same(body: Any, record_attrs: Any) -> None:
    req = ExportLogsServiceRequest()
    record = req.resource_logs.add().scope_logs.add().log_records.add(severity_number=9, time_unix_nano=3)
    if body[0] != "none":
        put(record.body, body)
    fill(record.attributes, record_attrs)
    ref, lean, ref_t, lean_t = run(processor(), Signal.LOGS, req.SerializeToString())
    assert lean == ref
    assert counts(lean_t) == counts(ref_t)


def test_a_key_value_is_split_and_written_back_as_the_protobuf_library_does() -> None:
    req = ExportTraceServiceRequest()
    attrs = req.resource_spans.add().resource.attributes
    attrs.add(key="k" * 200).value.string_value = "v" * 300  # lengths of two varint bytes
    data = attrs[0].SerializeToString()
    key, value = split_key_value(data) or (b"", b"")
    assert (key, any_string(value)) == (b"k" * 200, b"v" * 300)
    assert encode_key_value(key, b"v" * 300) == data
    attrs.add(key="n").value.int_value = 3
    assert any_string((split_key_value(attrs[1].SerializeToString()) or (b"", b""))[1]) is None
