"""``otel-distro collector validate|run``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from collector.cli import main
from otel_distro.cli import main as otel_distro
from tests.support import ROOT, free_port, wait_healthy


def test_validate_accepts_the_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", str(ROOT / "otel-collector.yaml")]) == 0
    assert capsys.readouterr().err == ""


def test_validate_prints_one_line_per_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "receivers: {otlp: }\n"
        "processors: {batch: {timeout: soon}}\n"
        "exporters: {elastic/logs: {}, debug: }\n"
        "service: {pipelines: {traces: {receivers: [otlp], processors: [x], exporters: [debug]}}}\n"
    )
    assert main(["validate", "--config", str(cfg)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("processors::batch::timeout: ")
    assert lines[1].startswith('exporters::elastic/logs: unknown type "elastic"')
    assert lines[2] == 'service::pipelines::traces: references processor "x" which is not configured'


def test_through_the_console_script_dispatcher(tmp_path: Path) -> None:
    assert otel_distro(["collector", "validate", "--config", str(ROOT / "otel-collector.yaml")]) == 0


@pytest.mark.slow
def test_run_serves_until_sigterm_then_drains_and_exits_0(tmp_path: Path) -> None:
    http, health = free_port(), free_port()
    out = tmp_path / "out.jsonl"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
extensions: {{health_check: {{endpoint: "127.0.0.1:{health}"}}}}
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{http}"}}}}}}}}
processors: {{batch: {{timeout: 1h}}}}
exporters: {{file: {{path: "{out}"}}}}
service:
  extensions: [health_check]
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{logs: {{receivers: [otlp], processors: [batch], exporters: [file]}}}}
""")
    proc = subprocess.Popen([sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", str(cfg)],
                            stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_healthy(health)
        body = b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"held by batch"}}]}]}]}'
        req = urllib.request.Request(f"http://127.0.0.1:{http}/v1/logs", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            assert r.status == 200
        assert not out.exists() or out.read_text() == ""  # the batch processor holds it (timeout: 1h)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "held by batch" in out.read_text()  # drained on SIGTERM
    events = [line for line in err.decode().splitlines() if line.startswith("{")]
    assert any('"message": "collector_stopped"' in line for line in events)


@pytest.mark.slow
def test_run_fails_with_one_readable_line_when_a_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"""
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{port}"}}}}}}}}
exporters: {{debug: }}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{logs: {{receivers: [otlp], exporters: [debug]}}}}
""")
        proc = subprocess.run([sys.executable, "-m", "otel_distro.cli", "collector", "run", "--config", str(cfg)],
                              capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              timeout=60, check=False)
    assert proc.returncode == 1
    (line,) = [x for x in proc.stderr.decode().splitlines() if "collector_failed" in x]
    assert '"level": "error"' in line
