"""Several workers: uvicorn --workers N (spawned) and gunicorn with uvicorn workers (forked).

Every worker exports with its own pid and instance id, nothing buffered is lost when workers exit, and
/metrics refuses to report one worker's share as the total.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from otel_distro._internal.otlp_sink import OtlpHttpSink
from tests.support import ROOT, free_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _env(tmp_path: Path, sink: OtlpHttpSink) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "examples"),
        "OTEL_PYTHON_DISTRO": "otel_distro",
        "OTEL_PYTHON_CONFIGURATOR": "otel_distro",
        "OTEL_SERVICE_NAME": "demo-workers",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        # Long enough that only the flush at worker exit can deliver the spans.
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
        "OTEL_BLRP_SCHEDULE_DELAY": "60000",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _serve_and_stop(command: list[str], env: dict[str, str], port: int, tmp_path: Path) -> tuple[int, str]:
    """Start, send 30 requests, read /metrics, stop with SIGTERM; returns (metrics status, metrics body)."""
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError((tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        for index in range(30):
            # New connections, so the kernel spreads them over the workers.
            response = httpx.get(f"{base}/items/1", headers={"X-Request-ID": f"w-{index}"}, timeout=30)
            assert response.status_code == 200
        metrics = httpx.get(base + "/metrics", timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
    return metrics.status_code, metrics.text


def _request_spans(sink: OtlpHttpSink) -> list[tuple[dict[str, Any], Any]]:
    found = []
    for request in sink.requests["traces"]:
        for resource_spans in request.resource_spans:
            resource = {kv.key: kv.value for kv in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attributes = {kv.key: kv.value.string_value for kv in span.attributes}
                    if attributes.get("request_id", "").startswith("w-"):
                        found.append((resource, span))
    return found


def _check(sink: OtlpHttpSink, server_pid_check: bool = True) -> None:
    assert sink.wait_for(lambda s: len(_request_spans(s)) >= 30, timeout=20), "spans lost at worker exit"
    spans = _request_spans(sink)
    assert len(spans) == 30
    pids = {resource["process.pid"].int_value for resource, _ in spans}
    instances = {resource["service.instance.id"].string_value for resource, _ in spans}
    assert len(instances) == len(pids), "each worker has its own service.instance.id"


def _host_metric_pids(sink: OtlpHttpSink) -> set[int]:
    """The ``process.pid`` of every resource that exported a ``system.*`` (host) metric."""
    pids = set()
    for request in sink.requests["metrics"]:
        for resource_metrics in request.resource_metrics:
            resource = {kv.key: kv.value for kv in resource_metrics.resource.attributes}
            names = {m.name for scope in resource_metrics.scope_metrics for m in scope.metrics}
            if any(name.startswith("system.") for name in names):
                pids.add(resource["process.pid"].int_value)
    return pids


def test_uvicorn_workers(tmp_path: Path) -> None:
    port = free_port()
    with OtlpHttpSink() as sink:
        command = [
            str(BIN / "opentelemetry-instrument"),
            sys.executable, "-m", "uvicorn", "demo_app.main:app", "--port", str(port), "--workers", "2",
        ]
        status, body = _serve_and_stop(command, _env(tmp_path, sink), port, tmp_path)
        _check(sink)
        serving = {resource["process.pid"].int_value for resource, _ in _request_spans(sink)}
        assert sink.wait_for(lambda s: len(_host_metric_pids(s)) >= 2 and _host_metric_pids(s) >= serving, timeout=20)
        time.sleep(1)  # the supervisor and multiprocessing's resource tracker exit last: anything of theirs is in
        # Only the two workers measure the host (the supervisor and the resource tracker would make it four).
        assert len(_host_metric_pids(sink)) == 2
    assert status == 503
    assert "2 workers" in body
    # Every line any of the processes printed is one JSON object, the supervisor's own ones included (uvicorn's
    # "Started parent process [pid]").
    printed = (tmp_path / "server.log").read_text().splitlines()
    not_json = [line for line in printed if not line.startswith("{")]
    assert not_json == []
    assert all(isinstance(json.loads(line), dict) for line in printed)
    started = [line for line in printed if "Started parent process" in line]
    assert len(started) == 1
    assert json.loads(started[0])["logger"] == "uvicorn.error"


def test_gunicorn_with_uvicorn_workers(tmp_path: Path) -> None:
    port = free_port()
    with OtlpHttpSink() as sink:
        command = [
            str(BIN / "opentelemetry-instrument"),
            str(BIN / "gunicorn"), "-w", "2", "-k", "uvicorn.workers.UvicornWorker",
            "-b", f"127.0.0.1:{port}", "--graceful-timeout", "10", "demo_app.main:app",
        ]
        status, _ = _serve_and_stop(command, _env(tmp_path, sink), port, tmp_path)
        _check(sink)
        spans = _request_spans(sink)
        master_pids = {resource["process.parent_pid"].int_value for resource, _ in spans}
        worker_pids = {resource["process.pid"].int_value for resource, _ in spans}
        assert not master_pids & worker_pids, "forked workers report their own pid, not the master's"
    assert status == 503
    printed = (tmp_path / "server.log").read_text()
    # gunicorn's own log keeps its handler (UvicornWorker shares it with uvicorn.error, which the distro adopts).
    assert printed.count("Booting worker with pid") == 2
    assert "Handling signal: term" in printed and "Shutting down: Master" in printed
    assert "Cannot call collect" not in printed
