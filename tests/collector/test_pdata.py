from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.pdata import Batch, Signal


def _traces(n: int) -> Batch:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        ss.spans.add(name=f"s{i}", trace_id=bytes(16), span_id=bytes(8))
    return Batch(Signal.TRACES, req)


def test_item_count_counts_spans() -> None:
    assert _traces(3).item_count() == 3
    assert Batch.empty(Signal.LOGS).item_count() == 0


def test_round_trip_through_bytes_is_exact() -> None:
    b = _traces(2)
    assert Batch.from_bytes(Signal.TRACES, b.to_bytes()).request == b.request


def test_copy_is_deep() -> None:
    b = _traces(1)
    c = b.copy()
    c.request.resource_spans[0].scope_spans[0].spans[0].name = "changed"  # type: ignore[union-attr]
    assert b.request.resource_spans[0].scope_spans[0].spans[0].name == "s0"  # type: ignore[union-attr]


def test_merge_concatenates_resources() -> None:
    merged = Batch.merge(Signal.TRACES, [_traces(1), _traces(2)])
    assert merged.item_count() == 3
    assert len(merged.resources) == 2
