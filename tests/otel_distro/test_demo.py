"""``otel-distro demo`` (what ``make run`` runs), bounded with --duration so it runs to completion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, free_port

pytestmark = pytest.mark.slow


def _demo(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "otel_distro.cli", "demo",
        "--port", str(free_port()), "--otlp-port", str(free_port()),
        "--duration", "1", "--requests", "1", "--workdir", str(tmp_path), *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=150, cwd=ROOT)


def test_demo_serves_sends_traffic_prints_where_to_look_and_stops(tmp_path: Path) -> None:
    result = _demo(tmp_path, "--no-collector")

    assert result.returncode == 0, result.stderr[-3000:]
    assert "[demo] sent demo traffic" in result.stderr
    assert "[demo] app" in result.stderr and "/metrics" in result.stderr
    assert "[demo] browser demo" in result.stderr and "/ui/" in result.stderr
    assert "built-in receiver got" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["message"] == "request_finished"]
    assert len(requests) >= 8
    assert all(len(line["trace_id"]) == 32 and line["request_id"].startswith("demo-") for line in requests)


def test_demo_with_the_collector(tmp_path: Path) -> None:
    if not (ROOT / "collector" / "cli.py").is_file() or not (ROOT / "otel-collector.yaml").is_file():
        pytest.skip("no collector in this checkout")
    result = _demo(tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    if "collector (pid" not in result.stderr:
        pytest.skip("the collector did not start; the demo fell back to its built-in receiver")
    exported = (tmp_path / "collector" / "otlp.jsonl").read_text()
    assert "demo-app" in exported
