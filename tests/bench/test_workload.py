"""bench/workload.py: the realistic requests, and counting their items from the wire format (what the benchmark's
sink uses to check that every span accepted was exported)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from workload import count_items, log_request, span_request


@pytest.mark.parametrize("n", [0, 1, 256])
def test_count_items_counts_the_spans_and_log_records_of_a_request(n: int) -> None:
    assert count_items(span_request(n, seed=3)) == n
    assert count_items(log_request(n, seed=3)) == n


def test_count_items_adds_up_over_several_resources_and_scopes() -> None:
    req = ExportTraceServiceRequest()
    for spans_per_scope in ([2, 3], [4]):
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name").value.string_value = "a"
        for n in spans_per_scope:
            ss = rs.scope_spans.add()
            ss.scope.name = "s"
            for i in range(n):
                ss.spans.add(name=f"span {i}", kind=2, start_time_unix_nano=i + 1)
            ss.schema_url = "https://opentelemetry.io/schemas/1.21.0"
    logs = ExportLogsServiceRequest()
    logs.resource_logs.add().scope_logs.add().log_records.add().body.string_value = "hello"
    assert count_items(req.SerializeToString()) == 9
    assert count_items(logs.SerializeToString()) == 1


def test_count_items_refuses_a_truncated_request() -> None:
    body = span_request(4)
    with pytest.raises((ValueError, IndexError)):
        count_items(body[:-3])


def test_span_requests_differ_by_seed() -> None:
    assert span_request(8, seed=1) != span_request(8, seed=2)
    assert span_request(8, seed=1) == span_request(8, seed=1)
