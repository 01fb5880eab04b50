"""``otlp`` (gRPC): the spec's status-code table, and delivery into another collector."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import httpx
import pytest

from collector.errors import PermanentError, RetryableError
from collector.exporters.otlp import Config, classify, retry_delay
from collector.receivers.otlp.grpc import retry_info_metadata
from collector.testing import running_collector
from tests.collector.exporters._outcome import assert_outcome
from tests.support import free_port

C = grpc.StatusCode


@pytest.mark.parametrize(("code", "retry_after", "kind"), [
    (C.OK, None, None),
    (C.CANCELLED, None, RetryableError),
    (C.DEADLINE_EXCEEDED, None, RetryableError),
    (C.ABORTED, None, RetryableError),
    (C.OUT_OF_RANGE, None, RetryableError),
    (C.UNAVAILABLE, None, RetryableError),
    (C.UNAVAILABLE, 3.0, RetryableError),
    (C.DATA_LOSS, None, RetryableError),
    (C.RESOURCE_EXHAUSTED, 2.0, RetryableError),
    (C.RESOURCE_EXHAUSTED, None, PermanentError),  # retryable only with RetryInfo
    (C.INVALID_ARGUMENT, None, PermanentError),
    (C.UNAUTHENTICATED, None, PermanentError),
    (C.PERMISSION_DENIED, None, PermanentError),
    (C.NOT_FOUND, None, PermanentError),
    (C.UNIMPLEMENTED, None, PermanentError),
    (C.INTERNAL, None, PermanentError),
    (C.UNKNOWN, None, PermanentError),
])
def test_classify(code: grpc.StatusCode, retry_after: float | None, kind: type[Exception] | None) -> None:
    assert_outcome(classify(code, "msg", retry_after), kind, retry_after)


def test_retry_info_round_trips_through_trailing_metadata() -> None:
    assert retry_delay(retry_info_metadata(14, "busy", 2.5)) == pytest.approx(2.5)
    assert retry_delay((("other", b"x"),)) is None


def test_endpoint_needs_a_port() -> None:
    with pytest.raises(ValueError, match="port"):
        Config(endpoint="collector")
    assert Config(endpoint="http://collector:4317").target == "collector:4317"


def test_delivers_into_another_collector(tmp_path: Path, otlp_examples: Path) -> None:
    front, back = free_port(), free_port()
    out = tmp_path / "out.jsonl"
    backend = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{back}",
                                                      "auth": {"bearer_token": "s3cret"}}}}},
        "exporters": {"file": {"path": str(out), "flush_interval": 0}},
        "service": {"pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["file"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }
    front_cfg = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{front}"}}}},
        "exporters": {"otlp_grpc": {"endpoint": f"127.0.0.1:{back}", "tls": {"insecure": True},
                                    "headers": {"Authorization": "Bearer s3cret"}}},  # any case, as in otelcol
        "service": {"pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["otlp_grpc"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }
    body = (otlp_examples / "metrics.json").read_bytes()
    with running_collector(backend), running_collector(front_cfg) as c:
        r = httpx.post(f"http://127.0.0.1:{front}/v1/metrics", content=body,
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 200
    assert c.telemetry.value("otelcol_exporter_sent_metric_points", exporter="otlp_grpc") == 4
    (line,) = out.read_text().splitlines()
    assert len(json.loads(line)["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]) == 4
