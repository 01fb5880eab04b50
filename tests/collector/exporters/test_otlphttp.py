"""``otlphttp``: the spec's answer table, and delivery into another collector."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from collector import otlpjson
from collector.errors import PermanentError, RetryableError
from collector.exporters.otlphttp import Config, classify
from collector.pdata import Signal
from collector.testing import running_collector
from tests.collector.exporters._outcome import assert_outcome
from tests.support import free_port


@pytest.mark.parametrize(("status", "headers", "kind", "retry_after"), [
    (200, {}, None, None),
    (204, {}, None, None),
    (400, {}, PermanentError, None),
    (401, {}, PermanentError, None),
    (403, {}, PermanentError, None),
    (404, {}, PermanentError, None),
    (413, {}, PermanentError, None),
    (500, {}, PermanentError, None),
    (408, {}, RetryableError, None),
    (429, {"Retry-After": "7"}, RetryableError, 7.0),
    (429, {}, RetryableError, None),
    (502, {}, RetryableError, None),
    (503, {"Retry-After": "30"}, RetryableError, 30.0),
    (504, {"Retry-After": "soon"}, RetryableError, None),
])
def test_classify(status: int, headers: dict[str, str], kind: type[Exception] | None,
                  retry_after: float | None) -> None:
    assert_outcome(classify(status, headers), kind, retry_after)


def test_urls_per_signal() -> None:
    cfg = Config(endpoint="http://tempo:4318/", logs_endpoint="http://loki:3100/otlp/v1/logs")
    assert cfg.url_for(Signal.TRACES) == "http://tempo:4318/v1/traces"
    assert cfg.url_for(Signal.LOGS) == "http://loki:3100/otlp/v1/logs"


@pytest.mark.parametrize("encoding", ["proto", "json"])
def test_delivers_into_another_collector(tmp_path: Path, otlp_examples: Path, encoding: str) -> None:
    front, back = free_port(), free_port()
    out = tmp_path / "out.jsonl"
    backend = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{back}",
                                                      "auth": {"bearer_token": "tok"}}}}},
        "exporters": {"file": {"path": str(out), "flush_interval": 0}},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["file"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }
    front_cfg = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{front}"}}}},
        "exporters": {"otlp_http": {"endpoint": f"http://127.0.0.1:{back}", "encoding": encoding,
                                    "headers": {"Authorization": "Bearer tok"}}},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["otlp_http"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }
    body = (otlp_examples / "logs.json").read_bytes()
    with running_collector(backend), running_collector(front_cfg) as c:
        r = httpx.post(f"http://127.0.0.1:{front}/v1/logs", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 200
    # leaving the front collector drained its queue into the backend
    assert c.telemetry.value("otelcol_exporter_sent_log_records", exporter="otlp_http") == 1
    (line,) = out.read_text().splitlines()
    assert otlpjson.decode(Signal.LOGS, line).request == otlpjson.decode(Signal.LOGS, body).request


def test_a_permanent_rejection_is_counted_not_retried(tmp_path: Path) -> None:
    front, back = free_port(), free_port()
    backend = {  # answers 401: wrong token
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{back}",
                                                      "auth": {"bearer_token": "right"}}}}},
        "exporters": {"debug": None},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["debug"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }
    front_cfg = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{front}"}}}},
        "exporters": {"otlphttp": {"endpoint": f"http://127.0.0.1:{back}", "headers": {"Authorization": "Bearer x"}}},
        "service": {"pipelines": {"logs": {"receivers": ["otlp"], "exporters": ["otlphttp"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }
    body = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}, {}]}]}]}'
    with running_collector(backend), running_collector(front_cfg) as c:
        assert httpx.post(f"http://127.0.0.1:{front}/v1/logs", content=body,
                          headers={"Content-Type": "application/json"}).status_code == 200
    assert c.telemetry.value("otelcol_exporter_send_failed_log_records", exporter="otlphttp") == 2
