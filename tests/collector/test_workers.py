"""``collector run --workers 2``: two processes on one port, one health and metrics view, nothing lost."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.config import load
from collector.testing import running_collector
from collector.workers import default_workers, port_zero_endpoints, single_process_components
from tests.collector._backend import backend_config, received_names
from tests.support import ROOT, free_port

pytestmark = pytest.mark.slow

SPANS_PER_REQUEST = 10


def collector_yaml(tmp_path: Path, receive: int, backend: int, health: int, metrics: int) -> Path:
    path = tmp_path / "collector.yaml"
    path.write_text(f"""
extensions:
  health_check: {{endpoint: "127.0.0.1:{health}"}}
  file_storage: {{directory: "{tmp_path / 'storage'}"}}
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{receive}"}}}}}}
processors:
  memory_limiter: {{limit_percentage: 95, spike_limit_percentage: 10}}
exporters:
  otlphttp:
    endpoint: "http://127.0.0.1:{backend}"
    compression: none
    sending_queue: {{storage: file_storage, num_consumers: 2}}
    retry_on_failure: {{initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 1s}}
service:
  extensions: [health_check, file_storage]
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics}"}}, logs: {{level: warn}}}}
  pipelines: {{traces: {{receivers: [otlp], processors: [memory_limiter], exporters: [otlphttp]}}}}
""")
    return path


def start(config: Path, health: int, workers: int = 2) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", str(config),
                             "--workers", str(workers)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(health, proc)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def wait_healthy(health: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{health}/").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"collector exited with {proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError("collector did not become healthy")


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=120)


def run_with_two_workers(config: Path) -> subprocess.CompletedProcess[bytes]:
    """``collector run --workers 2`` to its end (for configurations it refuses or cannot start)."""
    return subprocess.run([sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", str(config),
                           "--workers", "2"], capture_output=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, check=False)


def workers_of(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children()


def span_request(i: int) -> bytes:
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    for k in range(SPANS_PER_REQUEST):
        n = i * SPANS_PER_REQUEST + k
        spans.add(name=f"span-{n}", trace_id=(n + 1).to_bytes(16, "big"), span_id=(n + 1).to_bytes(8, "big"))
    return req.SerializeToString()


def names(first: int, requests: int) -> set[str]:
    return {f"span-{n}" for n in range(first * SPANS_PER_REQUEST, (first + requests) * SPANS_PER_REQUEST)}


def send(port: int, first: int, requests: int, deadline: float = 60) -> None:
    """Each request on a new connection (the kernel spreads connections over the workers), retried as an OTLP
    client does until it is answered 200."""
    for i in range(first, first + requests):
        end = time.monotonic() + deadline
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=span_request(i),
                               headers={"Content-Type": "application/x-protobuf", "Connection": "close"})
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > end:
                raise TimeoutError(f"request {i} was never accepted")
            time.sleep(0.1)


def metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def listening_ports(process: psutil.Process) -> set[int]:
    return {c.laddr.port for c in process.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}


def test_two_workers_share_one_port_and_lose_nothing_across_kill_9_and_sigterm(tmp_path: Path) -> None:
    receive, backend, health, metrics = free_port(), free_port(), free_port(), free_port()
    config = collector_yaml(tmp_path, receive, backend, health, metrics)
    proc = start(config, health)
    try:
        workers = workers_of(proc)
        assert len(workers) == 2
        for w in workers:  # both listen on the one receiver port; health and metrics are the supervisor's
            assert receive in listening_ports(w)
            assert not {health, metrics} & listening_ports(w)
        assert {receive} & listening_ports(psutil.Process(proc.pid)) == set()

        send(receive, 0, 30)  # the backend is down: everything goes to the workers' persistent queues
        assert metric(metrics, "otelcol_receiver_accepted_spans_total") == 30 * SPANS_PER_REQUEST
        queued = {p.parent.parent.name for p in (tmp_path / "storage").rglob("*.pb")}
        assert "worker-1" in queued  # worker 1 got connections too, and has a queue directory of its own

        victim = workers[0]
        victim.send_signal(signal.SIGKILL)  # its queue stays on disk; the supervisor starts it again
        victim.wait(timeout=30)
        send(receive, 30, 30)
        deadline = time.monotonic() + 60
        while len(workers_of(proc)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        wait_healthy(health, proc)
        assert victim.pid not in {w.pid for w in workers_of(proc)}
        # a request the killed worker had accepted may be counted again when its client retried it
        assert metric(metrics, "otelcol_receiver_accepted_spans_total") >= 60 * SPANS_PER_REQUEST
    finally:
        code = stop(proc)
    assert code == 0  # a clean drain: every worker stopped on SIGTERM
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in workers)

    out = tmp_path / "backend.jsonl"
    with running_collector(backend_config(backend, out)):  # the backend comes back; so do the workers
        proc = start(config, health)
        try:
            deadline = time.monotonic() + 60
            while not names(0, 60) <= set(received_names(out)) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            assert stop(proc) == 0
    assert set(received_names(out)) == names(0, 60)  # at least once: every accepted span
    assert list((tmp_path / "storage").rglob("*.pb")) == []


def test_sigterm_drains_what_the_batch_processor_holds_in_every_worker(tmp_path: Path) -> None:
    receive, backend, health, metrics = free_port(), free_port(), free_port(), free_port()
    out = tmp_path / "backend.jsonl"
    config = tmp_path / "collector.yaml"
    config.write_text(f"""
extensions:
  health_check: {{endpoint: "127.0.0.1:{health}"}}
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{receive}"}}}}}}
processors:
  batch: {{send_batch_size: 100000, timeout: 1h}}
exporters:
  otlphttp: {{endpoint: "http://127.0.0.1:{backend}", compression: none}}
service:
  extensions: [health_check]
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics}"}}, logs: {{level: warn}}}}
  pipelines: {{traces: {{receivers: [otlp], processors: [batch], exporters: [otlphttp]}}}}
""")
    with running_collector(backend_config(backend, out)):
        proc = start(config, health)
        try:
            send(receive, 0, 20)
            assert metric(metrics, "otelcol_receiver_accepted_spans_total") == 20 * SPANS_PER_REQUEST
            assert received_names(out) == []  # held by batch (1 h timeout) in both workers
        finally:
            assert stop(proc) == 0
        assert sorted(received_names(out)) == sorted(names(0, 20))  # flushed on the way out, exactly once


def test_a_worker_that_cannot_start_stops_the_collector_with_one_message(tmp_path: Path) -> None:
    import socket  # noqa: PLC0415

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "collector.yaml"
        config.write_text(f"""
receivers:
  otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}
exporters:
  debug: {{}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
""")
        proc = run_with_two_workers(config)
    assert proc.returncode == 1
    (line,) = [x for x in proc.stderr.decode().splitlines() if "collector_failed" in x]
    assert "receivers::otlp::protocols::http::endpoint" in line


def test_components_that_keep_state_in_one_process_keep_the_collector_to_one_worker(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("""
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}}}
exporters:
  prometheus: {endpoint: "127.0.0.1:0"}
  otlphttp: {endpoint: "http://127.0.0.1:1"}
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [prometheus, otlphttp]}
""")
    loaded = load(config)
    assert single_process_components(loaded) == ["exporters::prometheus"]
    assert default_workers(loaded) == (1, "exporters::prometheus keep state one process cannot share")
    proc = run_with_two_workers(config)
    assert proc.returncode == 1
    assert "--workers 2: exporters::prometheus keep state one process cannot share" in proc.stderr.decode()


def test_a_receiver_on_port_0_keeps_the_collector_to_one_worker_and_an_explicit_count_is_refused(
        tmp_path: Path) -> None:
    # each worker would be handed a free port of its own: a client would reach one worker, the others idle
    config = tmp_path / "c.yaml"
    config.write_text("""
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:0"}, grpc: {endpoint: "127.0.0.1:4317"}}}
exporters:
  otlphttp: {endpoint: "http://127.0.0.1:1"}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [otlphttp]}
""")
    loaded = load(config)
    assert port_zero_endpoints(loaded) == ["receivers::otlp::protocols::http::endpoint"]
    workers, why = default_workers(loaded)
    assert workers == 1
    assert why is not None and "receivers::otlp::protocols::http::endpoint ask for port 0" in why
    proc = run_with_two_workers(config)
    assert proc.returncode == 1
    assert "--workers 2: receivers::otlp::protocols::http::endpoint ask for port 0" in proc.stderr.decode()


def test_fixed_ports_leave_the_worker_count_to_the_cores(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("""
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:4318"}}}
exporters:
  otlphttp: {endpoint: "http://127.0.0.1:1"}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [otlphttp]}
""")
    loaded = load(config)
    assert port_zero_endpoints(loaded) == []
    assert default_workers(loaded) == (max(1, len(os.sched_getaffinity(0))), None)
