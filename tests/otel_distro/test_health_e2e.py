"""The health monitor in real server processes: ``opentelemetry-instrument uvicorn --workers 2``.

Each worker runs its own monitor from start-up; the database of an engine the app created but never used is
checked from the first run (issue 14: it used to be missing until the app's first query); the checks' own
queries make no spans (issue 14: ``SELECT 1`` made root traces); the health metrics travel over OTLP; the
monitor stops with the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from otel_distro._internal.otlp_sink import OtlpHttpSink
from tests.support import free_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent

APP = textwrap.dedent(
    """
    from fastapi import FastAPI
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")  # never used by the app
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}
    """
)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _health_logs(sink: OtlpHttpSink) -> list[tuple[int, dict[str, Any]]]:
    found = []
    for request in sink.requests["logs"]:
        for resource_logs in request.resource_logs:
            pid = next(kv.value.int_value for kv in resource_logs.resource.attributes if kv.key == "process.pid")
            for scope in resource_logs.scope_logs:
                for record in scope.log_records:
                    if record.body.string_value == "health_check":
                        found.append((pid, {kv.key: kv.value for kv in record.attributes}))
    return found


def test_each_worker_monitors_from_start_up_without_spans(tmp_path: Path) -> None:
    if not (_listening(5432) and _listening(6379)):
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379")
    (tmp_path / "health_app.py").write_text(APP)
    port = free_port()
    with OtlpHttpSink() as sink:
        env = {
            **os.environ,
            "PYTHONPATH": str(tmp_path),
            "OTEL_PYTHON_DISTRO": "otel_distro",
            "OTEL_PYTHON_CONFIGURATOR": "otel_distro",
            "OTEL_SERVICE_NAME": "health-e2e",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_DISTRO_HEALTH_INTERVAL": "300ms",
            "OTEL_DISTRO_HEALTH_REDIS_URL": "redis://127.0.0.1:6379/0",
        }
        env.pop("PYTEST_CURRENT_TEST", None)
        log = (tmp_path / "server.log").open("wb")
        command = [
            str(BIN / "opentelemetry-instrument"),
            sys.executable, "-m", "uvicorn", "health_app:app", "--port", str(port), "--workers", "2",
        ]
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    health = httpx.get(base + "/health", timeout=1)
                    if health.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError((tmp_path / "server.log").read_text()[-3000:])
                time.sleep(0.2)
            assert health.json() == {"status": "ok", "checks": {"database:postgresql:test": "ok", "redis": "ok"}}
            detailed = httpx.get(base + "/health/detailed", timeout=5).json()
            assert detailed["checks"]["database:postgresql:test"]["status"] == "ok"
            assert detailed["service"]["name"] == "health-e2e"
            for index in range(10):
                assert httpx.get(f"{base}/items/{index}", timeout=10).status_code == 200
            assert sink.wait_for(lambda s: len({pid for pid, _ in _health_logs(s)}) >= 2, timeout=30), (
                "every worker runs its own monitor"
            )
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                returncode = process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
                raise
            finally:
                log.close()
        output = (tmp_path / "server.log").read_text()
        assert returncode in (0, -signal.SIGTERM), output[-3000:]
        assert "otel_distro_internal_error" not in output
        assert "Task was destroyed" not in output and "Traceback" not in output, output[-3000:]

        spans = [
            span
            for request in sink.requests["traces"]
            for resource_spans in request.resource_spans
            for scope in resource_spans.scope_spans
            for span in scope.spans
        ]
        assert len([s for s in spans if s.name.startswith("GET /items")]) == 10
        assert [s.name for s in spans if not s.name.startswith("GET /items")] == [], "no spans from health checks"

        metric_names = {
            metric.name
            for request in sink.requests["metrics"]
            for resource_metrics in request.resource_metrics
            for scope in resource_metrics.scope_metrics
            for metric in scope.metrics
        }
        assert {"app.health.check.status", "app.health.check.duration"} <= metric_names
