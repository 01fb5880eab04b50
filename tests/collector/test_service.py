"""The service: health follows the lifecycle, self-metrics are served, a failed start leaves nothing running."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.confmap import ConfigError
from collector.service import Service
from collector.testing import RecordingTelemetry, running_collector
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


def test_shutdown_keeps_its_deadline_with_a_hung_backend_and_counts_what_it_drops(tmp_path: Path) -> None:
    http = free_port()
    with socket.socket() as hung:  # accepts connections (the kernel's backlog), never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        cfg = {
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{http}"}}}},
            "exporters": {"otlphttp": {"endpoint": f"http://127.0.0.1:{hung.getsockname()[1]}", "timeout": "60s",
                                       "sending_queue": {"num_consumers": 1}}},
            "service": {
                "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlphttp"]}},
                "telemetry": {"metrics": {"level": "none"}},
                "shutdown_timeout": "1s",
            },
        }
        telemetry = RecordingTelemetry()
        service = Service.from_config(cfg, telemetry=telemetry)

        async def scenario() -> list[dict[str, Any]]:
            await service.start()
            async with httpx.AsyncClient() as client:
                for n in (2, 3, 4):
                    r = await client.post(f"http://127.0.0.1:{http}/v1/traces", content=spans(n),
                                          headers={"Content-Type": "application/x-protobuf"})
                    assert r.status_code == 200  # accepted into the in-memory queue
            with structlog.testing.capture_logs() as logs:
                await asyncio.wait_for(service.shutdown(), 20)  # a guard against a hang, not a timing check
            return logs

        logs = asyncio.run(scenario())
    [exceeded] = [e for e in logs if e["event"] == "shutdown_deadline_exceeded"]
    assert exceeded["dropped_items"] == 9  # every accepted span is accounted for: one in flight, two queued
    assert telemetry.value("otelcol_exporter_send_failed_spans") == 9


def test_shutdown_timeout_is_validated_with_its_path() -> None:
    with pytest.raises(ConfigError, match="service::shutdown_timeout"):
        Service.from_config({
            "receivers": {"otlp": {}}, "exporters": {"debug": {}},
            "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}},
                        "shutdown_timeout": "-1s"},
        })


def test_one_hung_backend_does_not_cost_another_exporter_its_queue_at_shutdown() -> None:
    # `hung` never answers; `blip` failed once and waits out its backoff with two batches queued behind. At
    # SIGTERM every sender drains at once: blip's queued batches get their attempt although hung holds the
    # deadline (one after the other, blip's drain never began and its queue was dropped at the deadline)
    http = free_port()
    received: list[bytes] = []

    async def otlp(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=503 if len(received) == 1 else 200, content_type="application/x-protobuf")

    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)

        async def scenario() -> Any:
            app = web.Application()
            app.router.add_post("/v1/traces", otlp)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            cfg = {
                "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{http}"}}}},
                "exporters": {
                    "otlphttp/hung": {"endpoint": f"http://127.0.0.1:{hung.getsockname()[1]}", "timeout": "60s",
                                      "sending_queue": {"num_consumers": 1}},
                    "otlphttp/blip": {"endpoint": f"http://127.0.0.1:{runner.addresses[0][1]}",
                                      "sending_queue": {"num_consumers": 1},
                                      "retry_on_failure": {"initial_interval": "60s"}},
                },
                "service": {
                    "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlphttp/hung", "otlphttp/blip"]}},
                    "telemetry": {"metrics": {"level": "none"}},
                    "shutdown_timeout": "3s",
                },
            }
            service = Service.from_config(cfg)
            await service.start()
            try:
                async with httpx.AsyncClient() as client:
                    for n in (2, 3, 4):
                        r = await client.post(f"http://127.0.0.1:{http}/v1/traces", content=spans(n),
                                              headers={"Content-Type": "application/x-protobuf"})
                        assert r.status_code == 200
                while not received:  # blip's first attempt failed: its consumer waits out the backoff
                    await asyncio.sleep(0.01)
                with structlog.testing.capture_logs() as logs:
                    await asyncio.wait_for(service.shutdown(), 20)  # a guard against a hang
            finally:
                await runner.cleanup()
            return logs

        logs = asyncio.run(scenario())
    sent = [len(ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans)
            for body in received]
    assert sent == [2, 3, 4]  # the failed one, then the two queued ones at shutdown
    [exceeded] = [e for e in logs if e["event"] == "shutdown_deadline_exceeded"]
    assert exceeded["dropped_items"] == 9  # hung's three batches
