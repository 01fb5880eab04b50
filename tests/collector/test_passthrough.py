"""Pass-through: a pipeline whose processors change nothing sends on the very bytes it received."""

from __future__ import annotations

import time

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.pdata import Batch, Signal
from collector.processors import pii
from collector.testing import RecordingTelemetry, running_collector
from tests.servers._http import LocalHTTPServer
from tests.support import free_port


class RawSink(LocalHTTPServer):
    """Keeps every body it is sent, as bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        with self._lock:
            self.bodies.append(body)
        return 200, {"Content-Type": "application/x-protobuf"}, b""


def span_body(i: int, attrs: dict[str, str]) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "api"
    span = rs.scope_spans.add().spans.add(name=f"GET /items/{i}", trace_id=(i + 1).to_bytes(16, "big"),
                                          span_id=(i + 1).to_bytes(8, "big"))
    for key, value in attrs.items():
        span.attributes.add(key=key).value.string_value = value
    return req.SerializeToString()


def test_a_received_batch_is_sent_as_the_bytes_it_came_in_as() -> None:
    body = span_body(1, {"http.route": "/items/{id}"})
    batch = Batch.from_bytes(Signal.TRACES, body)
    assert batch.item_count() == 1
    assert batch.to_bytes() is body


def test_editing_the_request_drops_the_received_bytes() -> None:
    batch = Batch.from_bytes(Signal.TRACES, span_body(1, {}))
    batch.request.resource_spans[0].scope_spans[0].spans[0].name = "renamed"  # type: ignore[union-attr]
    again = ExportTraceServiceRequest.FromString(batch.to_bytes())
    assert again.resource_spans[0].scope_spans[0].spans[0].name == "renamed"


def test_merging_concatenates_serialized_requests_into_the_same_request_as_a_message_merge() -> None:
    bodies = [span_body(i, {"k": str(i)}) for i in range(3)]
    merged = Batch.merge(Signal.TRACES, [Batch.from_bytes(Signal.TRACES, b) for b in bodies])
    expected = ExportTraceServiceRequest()
    for b in bodies:
        expected.MergeFromString(b)
    assert merged.to_bytes() == b"".join(bodies)
    assert merged.view == expected
    assert merged.item_count() == 3


def make_pii() -> pii.PiiProcessor:
    config = pii.Config()
    return pii.PiiProcessor(pii.build_scrubber(config), config, RecordingTelemetry(), "pii")


def test_pii_keeps_the_bytes_of_a_batch_with_nothing_to_redact() -> None:
    body = span_body(1, {"http.route": "/items/{id}", "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64)"})
    batch = make_pii()(Batch.from_bytes(Signal.TRACES, body))
    assert batch.to_bytes() is body


def test_pii_reserializes_a_batch_it_redacted() -> None:
    batch = make_pii()(Batch.from_bytes(Signal.TRACES, span_body(1, {"enduser.email": "jane.doe@gmail.com"})))
    span = ExportTraceServiceRequest.FromString(batch.to_bytes()).resource_spans[0].scope_spans[0].spans[0]
    values = {kv.key: kv.value for kv in span.attributes}
    assert values["enduser.email"].string_value == "[REDACTED:email]"
    assert values["redaction.count"].int_value == 1


def test_pii_on_logs_keeps_clean_bytes_and_redacts_a_body() -> None:
    req = ExportLogsServiceRequest()
    records = req.resource_logs.add().scope_logs.add().log_records
    records.add().body.string_value = "cache refreshed for the session store"
    clean = req.SerializeToString()
    assert make_pii()(Batch.from_bytes(Signal.LOGS, clean)).to_bytes() is clean
    records.add().body.string_value = "mail sent to jane.doe@gmail.com"
    out = ExportLogsServiceRequest.FromString(make_pii()(Batch.from_bytes(Signal.LOGS, req.SerializeToString()))
                                              .to_bytes())
    bodies = [r.body.string_value for r in out.resource_logs[0].scope_logs[0].log_records]
    assert bodies == ["cache refreshed for the session store", "mail sent to [REDACTED:email]"]


@pytest.mark.slow
def test_a_pipeline_that_changes_nothing_outputs_exactly_what_it_received() -> None:
    port = free_port()
    bodies = [span_body(i, {"http.route": "/items/{id}", "url.path": f"/items/{i}"}) for i in range(20)]
    with RawSink().start() as sink:
        config = {
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
            "processors": {"memory_limiter": {"limit_percentage": 95, "spike_limit_percentage": 10},
                           "batch": {"send_batch_size": 20, "timeout": "10s"}},
            "exporters": {"otlphttp": {"endpoint": f"http://127.0.0.1:{sink.port}", "compression": "none"}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["memory_limiter", "batch"],
                                                 "exporters": ["otlphttp"]}},
                        "telemetry": {"metrics": {"level": "none"}}},
        }
        with running_collector(config):
            for body in bodies:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=body,
                               headers={"Content-Type": "application/x-protobuf"})
                assert r.status_code == 200
            deadline = time.monotonic() + 30
            while not sink.bodies and time.monotonic() < deadline:
                time.sleep(0.05)
    assert sink.bodies == [b"".join(bodies)]  # one batch of 20: the received bytes, concatenated
