"""The service: health follows the lifecycle, self-metrics are served, a failed start leaves nothing running."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.service import Service
from collector.testing import running_collector
from tests.support import free_port


def config(tmp_path: Path, http: int, health: int, metrics: int | None) -> dict[str, Any]:
    return {
        "extensions": {"health_check": {"endpoint": f"127.0.0.1:{health}"}},
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{http}"}}}},
        "processors": {"batch": {"timeout": "10ms"}},
        "exporters": {"file": {"path": str(tmp_path / "out.jsonl")}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["file"]}},
            "telemetry": {"metrics": {"address": f"127.0.0.1:{metrics}"} if metrics else {"level": "none"}},
        },
    }


def spans(n: int) -> bytes:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        ss.spans.add(name=f"s{i}", trace_id=b"\x01" * 16, span_id=bytes([i + 1]) * 8)
    return req.SerializeToString()


def test_health_is_ready_while_running_and_not_ready_while_draining(tmp_path: Path) -> None:
    http, health = free_port(), free_port()
    service = Service.from_config(config(tmp_path, http, health, None))

    async def scenario() -> list[int]:
        statuses = []
        await service.start()
        async with httpx.AsyncClient() as client:
            statuses.append((await client.get(f"http://127.0.0.1:{health}/")).status_code)
            service._set_ready(False)  # the first thing shutdown() does
            statuses.append((await client.get(f"http://127.0.0.1:{health}/")).status_code)
        await service.shutdown()
        return statuses

    assert asyncio.run(scenario()) == [200, 503]


def test_self_metrics_are_served_in_prometheus_text(tmp_path: Path) -> None:
    http, health, metrics = free_port(), free_port(), free_port()
    with running_collector(config(tmp_path, http, health, metrics), self_metrics=True):
        r = httpx.post(f"http://127.0.0.1:{http}/v1/traces", content=spans(3),
                       headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200
        text = ""
        for _ in range(100):
            text = httpx.get(f"http://127.0.0.1:{metrics}/metrics").text
            if "otelcol_exporter_sent_spans_total" in text:
                break
            time.sleep(0.02)
    assert 'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 3.0' in text
    assert 'otelcol_exporter_sent_spans_total{exporter="file"} 3.0' in text


def test_a_failed_start_stops_what_had_started(tmp_path: Path) -> None:
    http, health = free_port(), free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", http))
        busy.listen()
        service = Service.from_config(config(tmp_path, http, health, None))

        async def scenario() -> None:
            with pytest.raises(OSError, match=f"receivers::otlp::protocols::http::endpoint: cannot listen on "
                                              f"127.0.0.1:{http}"):
                await service.start()

        asyncio.run(scenario())
    # the health endpoint that had started is closed again
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", health))


@pytest.mark.parametrize(("section", "key"), [
    ("grpc", "receivers::otlp::protocols::grpc::endpoint"),
    ("health", "extensions::health_check::endpoint"),
    ("metrics", "service::telemetry::metrics::address"),
])
def test_a_port_in_use_is_reported_naming_the_key_that_set_it(tmp_path: Path, section: str, key: str) -> None:
    http, health, metrics = free_port(), free_port(), free_port()
    cfg = config(tmp_path, http, health, metrics)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        if section == "grpc":
            cfg["receivers"]["otlp"]["protocols"]["grpc"] = {"endpoint": f"127.0.0.1:{taken}"}
        elif section == "health":
            cfg["extensions"]["health_check"]["endpoint"] = f"127.0.0.1:{taken}"
        else:
            cfg["service"]["telemetry"]["metrics"]["address"] = f"127.0.0.1:{taken}"
        service = Service.from_config(cfg)

        async def scenario() -> None:
            with pytest.raises((OSError, RuntimeError), match=f"{key}: cannot listen on 127.0.0.1:{taken}"):
                await service.start()

        asyncio.run(scenario())
    with socket.socket() as probe:  # what had started is closed again
        probe.bind(("127.0.0.1", http))
