"""The C transcoder writes, from a request's bytes, exactly what the Python encoder writes, or hands the request
back (None) for the Python encoder to do; whatever the bytes, it never crashes."""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from google.protobuf.descriptor_pool import Default
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import ExponentialHistogramDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector import otlpjson
from collector.otlpjson import _ctranscode, _transcode
from collector.pdata import Batch, Signal
from tests.collector.test_properties import ANY_VALUE, BATCHES, TEXT
from tests.support import OTLP_EXAMPLES, ROOT

sys.path.insert(0, str(ROOT / "bench"))
from workload import log_request, span_request

pytestmark = pytest.mark.skipif(not _transcode.available, reason="the C transcoder was not built (no compiler?)")


@pytest.fixture(autouse=True)
def _c_path_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_transcode, "enabled", True)


def python_encode(signal: Signal, data: bytes) -> bytes:
    _transcode.enabled = False
    try:
        return otlpjson.encode(Batch.from_trusted_bytes(signal, data))
    finally:
        _transcode.enabled = True


def outcome(encode: Callable[[], bytes]) -> bytes | str:
    try:
        return encode()
    except DecodeError as exc:
        return f"DecodeError: {exc}"


def c_encode(signal: Signal, data: bytes) -> bytes | None:
    return _transcode.transcode(signal, data)


def assert_same_or_handed_back(signal: Signal, data: bytes) -> bytes | None:
    """The property for any bytes: None, or what the Python encoder writes from them."""
    out = c_encode(signal, data)
    if out is not None:
        assert out == python_encode(signal, data)
    return out


# -- wire-format helpers ----------------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, wire_type: int, payload: bytes) -> bytes:
    tag = varint(number << 3 | wire_type)
    return tag + (varint(len(payload)) + payload if wire_type == 2 else payload)


def fields_of(data: bytes) -> Iterator[bytes]:
    """The top-level fields of a serialized message, each with its tag (valid input only)."""
    i = 0
    while i < len(data):
        start = i
        tag = 0
        shift = 0
        while True:
            b = data[i]
            i += 1
            tag |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        wire_type = tag & 7
        if wire_type == 0:
            while data[i] & 0x80:
                i += 1
            i += 1
        elif wire_type == 1:
            i += 8
        elif wire_type == 5:
            i += 4
        else:
            length = shift = 0
            while True:
                b = data[i]
                i += 1
                length |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            i += length
        yield data[start:i]


def traces_with_span(span: bytes) -> bytes:
    """An ExportTraceServiceRequest around one serialized Span."""
    return field(1, 2, field(2, 2, field(2, 2, span)))


SPAN = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="GET /users/{id}", kind=2, start_time_unix_nano=1,
            end_time_unix_nano=2, flags=0x101, status={"code": 2, "message": "boom"}).SerializeToString()


# -- the same bytes as the Python encoder -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=BATCHES)
def test_any_request_is_written_as_the_python_encoder_writes_it_and_decodes_back(batch: Batch) -> None:
    data = batch.to_bytes()
    out = c_encode(batch.signal, data)
    assert out is not None  # what protobuf itself serialized is never handed back
    assert out == python_encode(batch.signal, data)
    assert otlpjson.decode(batch.signal, out).view == Batch.from_bytes(batch.signal, data).view


ODD_DOUBLES = st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 1e16, 1e-7, 5e-324, 1e308])
ODD_TEXT = st.text(st.characters(codec="utf-8"), max_size=20) | st.sampled_from(["", '"\\/\x7f\x00\x1f', "\u2028é😀"])
ODD_VALUES = st.one_of(
    ANY_VALUE,
    st.just(AnyValue()),  # empty: {}
    ODD_DOUBLES.map(lambda d: AnyValue(double_value=d)),
    ODD_TEXT.map(lambda s: AnyValue(string_value=s)),
    st.sampled_from(["array_value", "kvlist_value"]).map(lambda k: _empty(k)),
)


def _empty(kind: str) -> AnyValue:
    value = AnyValue()
    getattr(value, kind).SetInParent()
    return value


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(ODD_TEXT, st.none() | ODD_VALUES), max_size=5), body=st.none() | ODD_VALUES,
       name=TEXT)
def test_odd_values_too(pairs: list[tuple[str, AnyValue | None]], body: AnyValue | None, name: str) -> None:
    # empty and NaN values, control characters, keys without a value, empty arrays and kvlists
    traces = ExportTraceServiceRequest()
    span = traces.resource_spans.add().scope_spans.add().spans.add(name=name)
    logs = ExportLogsServiceRequest()
    record = logs.resource_logs.add().scope_logs.add().log_records.add()
    if body is not None:
        record.body.CopyFrom(body)
    for target in (span.attributes, record.attributes):
        for key, value in pairs:
            kv = target.add(key=key)
            if value is not None:
                kv.value.CopyFrom(value)
    for signal, message in ((Signal.TRACES, traces), (Signal.LOGS, logs)):
        data = message.SerializeToString()
        out = c_encode(signal, data)
        assert out is not None
        assert out == python_encode(signal, data)


@pytest.mark.parametrize("seed", range(3))
def test_realistic_spans_and_logs_are_written_by_the_c_code(seed: int) -> None:
    for signal, data in ((Signal.TRACES, span_request(64, seed)), (Signal.LOGS, log_request(64, seed))):
        out = c_encode(signal, data)
        assert out is not None
        assert out == python_encode(signal, data)


@pytest.mark.parametrize(("name", "signal"), [("trace.json", Signal.TRACES), ("metrics.json", Signal.METRICS),
                                              ("logs.json", Signal.LOGS), ("events.json", Signal.LOGS)])
def test_the_official_examples(name: str, signal: Signal) -> None:
    data = otlpjson.decode(signal, (OTLP_EXAMPLES / name).read_bytes()).to_bytes()
    out = c_encode(signal, data)
    assert out is not None
    assert out == python_encode(signal, data)


def test_encode_takes_the_c_path_and_leaves_the_batch_as_it_was() -> None:
    batch = Batch(Signal.TRACES, ExportTraceServiceRequest.FromString(traces_with_span(SPAN)))
    assert otlpjson.encode(batch) == c_encode(Signal.TRACES, traces_with_span(SPAN))
    assert not batch.has_bytes  # serialized for the transcoder, not kept (the message may still change)


def test_fields_out_of_order_are_written_in_the_python_encoders_order() -> None:
    shuffled = b"".join(reversed(list(fields_of(SPAN))))
    data = traces_with_span(shuffled)
    assert c_encode(Signal.TRACES, data) == python_encode(Signal.TRACES, traces_with_span(SPAN))


# -- handed back to the Python encoder --------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "span"), [
    ("a singular field twice (protobuf: the last wins)", SPAN + field(5, 2, b"other name")),
    ("a message field twice (protobuf: merged)", SPAN + field(15, 2, field(3, 0, varint(1)))),
    ("a repeated field in two runs (protobuf: joined)",
     field(9, 2, field(1, 2, b"a")) + SPAN + field(9, 2, field(1, 2, b"b"))),
    ("an unknown field (protobuf: ignored)", SPAN + field(99, 0, varint(7))),
    ("a known field with another wire type", SPAN + field(6, 2, b"x")),
    ("invalid UTF-8 in a string", field(5, 2, b"caf\xc3")),
    ("a surrogate in a string", field(5, 2, b"\xed\xa0\x80")),
    ("an int32 that does not fit (protobuf truncates it)", field(6, 0, varint(1 << 40))),
    ("a group", field(5, 3, b"") + field(5, 4, b"")),
    # protobuf reads tags and lengths as 32-bit varints: in more than 5 bytes they are malformed
    ("a tag in 6 bytes (protobuf: malformed)", b"\xaa\x80\x80\x80\x80\x00" + field(5, 2, b"x")[1:]),
    ("a length in 6 bytes (protobuf: malformed)", b"\x2a\x81\x80\x80\x80\x80\x00x"),
])
def test_unusual_bytes_are_handed_back(case: str, span: bytes) -> None:
    data = traces_with_span(span)
    assert c_encode(Signal.TRACES, data) is None, case
    # `encode` then does what the Python encoder does (write them, or refuse them)
    assert outcome(lambda: otlpjson.encode(Batch.from_trusted_bytes(Signal.TRACES, data))) == outcome(
        lambda: python_encode(Signal.TRACES, data))


def test_a_packed_run_whose_length_takes_6_bytes_is_handed_back() -> None:
    # HistogramDataPoint.bucket_counts (6, fixed64), packed; protobuf refuses the length as it refuses the request
    point = b"\x32\x88\x80\x80\x80\x80\x00" + bytes(8)
    metrics = field(1, 2, field(2, 2, field(2, 2, field(9, 2, field(1, 2, point)))))
    with pytest.raises(DecodeError):
        python_encode(Signal.METRICS, metrics)
    assert c_encode(Signal.METRICS, metrics) is None


def test_two_members_of_a_oneof_are_handed_back() -> None:
    value = field(1, 2, b"s") + field(3, 0, varint(5))  # string_value, then int_value: protobuf keeps the int
    kv = field(1, 2, b"k") + field(2, 2, value)
    assert c_encode(Signal.TRACES, traces_with_span(field(9, 2, kv))) is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1.5, 0.0, -0.0, 1e-300])
def test_doubles_without_presence_as_protobuf_reads_them(value: float) -> None:
    # ExponentialHistogramDataPoint.zero_threshold, on the wire even when 0.0 (a serializer would leave it out);
    # protobuf keeps -0.0 (its bits are not zero)
    point = field(14, 1, struct.pack("<d", value))
    assert bool(ExponentialHistogramDataPoint.FromString(point).ListFields()) == (struct.pack("<d", value) != bytes(8))
    metrics = field(1, 2, field(2, 2, field(2, 2, field(10, 2, field(1, 2, point)))))
    out = c_encode(Signal.METRICS, metrics)
    assert out is not None
    assert out == python_encode(Signal.METRICS, metrics)


def _nested_logs(levels: int) -> bytes:
    request = ExportLogsServiceRequest()
    value = request.resource_logs.add().scope_logs.add().log_records.add().body
    for _ in range(levels):
        value = value.array_value.values.add()
    value.string_value = "x"
    return request.SerializeToString()


def test_nesting_up_to_max_depth_is_written_and_deeper_is_handed_back() -> None:
    # request, resource, scope, record, body: depth 5; each array level adds ArrayValue + AnyValue
    deepest = (otlpjson.MAX_DEPTH - 5) // 2
    assert_same_or_handed_back(Signal.LOGS, _nested_logs(deepest))
    assert c_encode(Signal.LOGS, _nested_logs(deepest)) is not None
    assert c_encode(Signal.LOGS, _nested_logs(deepest + 1)) is None


def test_hostile_nesting_is_handed_back_not_a_crash() -> None:
    value = b"\x0a\x00"  # an AnyValue holding an empty string
    for _ in range(5000):  # AnyValue.array_value: ArrayValue.values: AnyValue ...
        value = field(5, 2, field(1, 2, value))
    logs = field(1, 2, field(2, 2, field(2, 2, field(5, 2, value))))
    assert c_encode(Signal.LOGS, logs) is None


def test_every_prefix_of_a_request_is_written_as_python_does_or_handed_back() -> None:
    data = span_request(4, 0)
    for end in range(len(data)):
        prefix = data[:end]
        try:
            Batch.from_bytes(Signal.TRACES, prefix)
        except DecodeError:
            assert c_encode(Signal.TRACES, prefix) is None
        else:
            assert_same_or_handed_back(Signal.TRACES, prefix)


def _mutated(data: bytes, at: int, chunk: bytes) -> bytes:
    at %= len(data) + 1
    return data[:at] + chunk + data[at + len(chunk):]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=512),
    st.tuples(BATCHES.map(lambda b: b.to_bytes()), st.integers(0, 10_000), st.binary(min_size=1, max_size=6))
    .map(lambda t: _mutated(*t)),
), signal=st.sampled_from(list(Signal)))
def test_any_bytes_are_written_as_python_does_or_handed_back_never_a_crash(data: bytes, signal: Signal) -> None:
    out = c_encode(signal, data)
    if out is None:
        return
    assert out == python_encode(signal, data)  # it parses (else the C code would have handed it back)


def test_encode_writes_what_the_c_code_hands_back_with_the_python_encoder() -> None:
    data = traces_with_span(SPAN + field(5, 2, b"again"))
    assert otlpjson.encode(Batch.from_bytes(Signal.TRACES, data)) == python_encode(Signal.TRACES, data)


def test_the_tables_hold_every_field_the_descriptors_know() -> None:
    # a field added to OTLP is written by the C code as by the Python encoder, not dropped
    tables = _transcode._Tables()
    for request in (ExportTraceServiceRequest, ExportLogsServiceRequest, ExportMetricsServiceRequest):
        tables.type_index(request.DESCRIPTOR)
    assert len(tables.index) > 20
    for (name, list_item), index in tables.index.items():
        descriptor = Default().FindMessageTypeByName(name)
        numbers = {f[0] for f in tables.types[index]}
        expected = {1, 2} if list_item else {fd.number for fd in descriptor.fields}  # a listed KeyValue: key, value
        assert numbers == expected, name


@pytest.mark.parametrize("types", [((1,),), ((b"not a field",),), (((1, b'"a":', 9, 0, -1),),)])
def test_a_malformed_table_is_refused_with_a_type_error(types: tuple[tuple[object, ...], ...]) -> None:
    # not a SystemError (a C function that misused the API); the tables in use stay as they were
    with pytest.raises(TypeError, match="transcoder field"):
        _ctranscode.configure(types, otlpjson.MAX_DEPTH, orjson.dumps)  # type: ignore[arg-type]
    assert c_encode(Signal.TRACES, traces_with_span(SPAN)) == python_encode(Signal.TRACES, traces_with_span(SPAN))


def test_tables_the_c_code_refuses_leave_the_python_encoder_to_do_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    # a newer opentelemetry-proto whose messages exceed the C limits (fields, numbers, oneofs) or hold a group: the
    # collector still starts, without the C path
    def refuse(*args: object) -> None:
        raise ValueError("transcoder table: too many fields (type 3, field -1)")

    monkeypatch.setattr(_ctranscode, "configure", refuse)
    assert _transcode._configure() is None


def _paths_to_every_message_type() -> Iterator[tuple[Signal, Any, tuple[int, ...]]]:
    """Each signal's message types, each with the field numbers leading to it from the request (the shortest)."""
    for signal, request in ((Signal.TRACES, ExportTraceServiceRequest), (Signal.LOGS, ExportLogsServiceRequest),
                            (Signal.METRICS, ExportMetricsServiceRequest)):
        seen = {request.DESCRIPTOR.full_name}
        queue: list[tuple[Any, tuple[int, ...]]] = [(request.DESCRIPTOR, ())]
        while queue:
            descriptor, path = queue.pop(0)
            yield signal, descriptor, path
            for fd in descriptor.fields:
                if fd.message_type is not None and fd.message_type.full_name not in seen:
                    seen.add(fd.message_type.full_name)
                    queue.append((fd.message_type, (*path, fd.number)))


_KEY_VALUE = "opentelemetry.proto.common.v1.KeyValue"
_DEFAULTS = {0: [b"\x00", b"\x80\x00"], 1: [bytes(8)], 5: [bytes(4)]}  # a varint 0 also in 2 bytes


def test_every_scalar_field_at_its_default_on_the_wire_is_written_as_protobuf_reads_it() -> None:
    # left out without presence (ListFields), written with it (oneof members, `optional`); repeated ones as one
    # element or an empty packed run
    cases = 0
    for signal, descriptor, path in _paths_to_every_message_type():
        for fd in descriptor.fields:
            if fd.message_type is not None or (descriptor.full_name == _KEY_VALUE and fd.name not in ("key", "value")):
                continue  # an attribute is written as key and value: a KeyValue's other fields are handed back
            wire_type = {1: 1, 6: 1, 16: 1, 2: 5, 7: 5, 15: 5, 9: 2, 12: 2}.get(fd.type, 0)
            values = [field(fd.number, 2, b"")] if wire_type == 2 else \
                [varint(fd.number << 3 | wire_type) + v for v in _DEFAULTS[wire_type]]
            if fd.is_repeated and wire_type != 2:
                values.append(field(fd.number, 2, b""))
            for value in values:
                data = value
                for number in reversed(path):
                    data = field(number, 2, data)
                out = c_encode(signal, data)
                assert out is not None, (descriptor.full_name, fd.name, value)
                assert out == python_encode(signal, data), (descriptor.full_name, fd.name, value)
                cases += 1
    assert cases > 100
