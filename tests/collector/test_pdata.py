from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.pdata import Batch, Signal, split


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


def test_split_keeps_order_resource_and_scope_and_respects_the_size() -> None:
    b = _traces(5)
    b.resources[0].resource.attributes.add(key="service.name").value.string_value = "svc"
    parts = split(b, 2)
    assert [p.item_count() for p in parts] == [2, 2, 1]
    assert [s.name for p in parts for rs in p.resources for ss in rs.scope_spans for s in ss.spans] == [
        f"s{i}" for i in range(5)]
    assert all(p.resources[0].resource.attributes[0].value.string_value == "svc" for p in parts)
    assert split(b, 0) == [b]
    assert split(b, 5) == [b]


def test_split_cuts_metrics_between_data_points() -> None:
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="m")
    for i in range(5):
        metric.sum.data_points.add(as_int=i)
    parts = split(Batch(Signal.METRICS, req), 3)
    assert [p.item_count() for p in parts] == [3, 2]
    assert [dp.as_int for p in parts for rm in p.resources for sm in rm.scope_metrics for m in sm.metrics
            for dp in m.sum.data_points] == list(range(5))
    assert all(p.resources[0].scope_metrics[0].metrics[0].name == "m" for p in parts)
