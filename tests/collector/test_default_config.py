"""The shipped otel-collector.yaml: runs on one machine with no backend, and each backend is switched on by its
env var (an exporter whose address is empty is left out of the pipelines)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.testing import running_collector
from tests.support import ROOT, free_port

BACKEND_VARS = ("PROMETHEUS_REMOTE_WRITE_URL", "ELASTICSEARCH_URL", "SENTRY_DSN", "OTLP_TRACES_ENDPOINT")


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    ports = {name: free_port() for name in ("grpc", "http", "health", "prometheus")}
    for name in BACKEND_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTELCOL_GRPC_ENDPOINT", f"127.0.0.1:{ports['grpc']}")
    monkeypatch.setenv("OTELCOL_HTTP_ENDPOINT", f"127.0.0.1:{ports['http']}")
    monkeypatch.setenv("OTELCOL_HEALTH_ENDPOINT", f"127.0.0.1:{ports['health']}")
    monkeypatch.setenv("OTELCOL_PROMETHEUS_ENDPOINT", f"127.0.0.1:{ports['prometheus']}")
    monkeypatch.setenv("OTELCOL_STORAGE_DIR", str(tmp_path / "storage"))
    monkeypatch.setenv("OTELCOL_FILE_PATH", str(tmp_path / "otlp.jsonl"))
    return ports


def _exporters(c: object) -> dict[str, set[str]]:
    graph = c.service.graph  # type: ignore[attr-defined]
    out: dict[str, set[str]] = {}
    for eid, signal in graph.exporters:
        out.setdefault(signal.value, set()).add(str(eid))
    return out


def test_with_no_backend_set_data_goes_to_file_debug_and_the_scrape_endpoint(
    local_env: dict[str, int], tmp_path: Path
) -> None:
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add(name="GET /items/{item_id}", trace_id=b"\x01" * 16,
                                                          span_id=b"\x02" * 8)
    with running_collector(ROOT / "otel-collector.yaml") as c:
        assert _exporters(c) == {
            "traces": {"file", "debug"},
            "metrics": {"file", "debug", "prometheus"},
            "logs": {"file", "debug"},
        }
        r = httpx.post(f"http://127.0.0.1:{local_env['http']}/v1/traces", content=req.SerializeToString(),
                       headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200
    assert "GET /items/{item_id}" in (tmp_path / "otlp.jsonl").read_text()


def test_each_backend_is_switched_on_by_its_env_var(local_env: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    dead = free_port()  # nothing listens: the exporters start and queue, they do not need the backend up
    monkeypatch.setenv("PROMETHEUS_REMOTE_WRITE_URL", f"http://127.0.0.1:{dead}/api/v1/write")
    monkeypatch.setenv("ELASTICSEARCH_URL", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("SENTRY_DSN", f"http://public@127.0.0.1:{dead}/1")
    monkeypatch.setenv("OTLP_TRACES_ENDPOINT", f"127.0.0.1:{dead}")
    with running_collector(ROOT / "otel-collector.yaml") as c:
        assert _exporters(c) == {
            "traces": {"file", "debug", "elasticsearch", "sentry", "otlp/traces"},
            "metrics": {"file", "debug", "prometheus", "prometheusremotewrite"},
            "logs": {"file", "debug", "elasticsearch", "sentry"},
        }
