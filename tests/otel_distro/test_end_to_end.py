"""The demo app under the real ``opentelemetry-instrument``, exporting to a real OTLP/HTTP receiver.

Spans, logs and metrics must arrive over OTLP and correlate with each other and with the JSON lines the app
prints, for structlog, stdlib and uvicorn's own log lines alike.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from otel_distro._internal import fastpath
from otel_distro._internal.otlp_sink import OtlpHttpSink
from tests.support import ROOT, free_port

pytestmark = pytest.mark.slow

INSTRUMENT = str(Path(sys.executable).with_name("opentelemetry-instrument"))


@dataclass
class RunningApp:
    process: subprocess.Popen[bytes]
    base_url: str
    stdout_path: Path

    def stop(self) -> list[dict[str, Any]]:
        """SIGINT (as Ctrl-C / a process manager would), wait, and return the printed JSON lines."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        lines = self.stdout_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def _start(tmp_path: Path, endpoint: str, **env: str) -> RunningApp:
    port = free_port()
    stdout_path = tmp_path / "app.out"
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "examples"),
        "OTEL_SERVICE_NAME": "demo-e2e",
        # Explicit, in case another distro (the bench's upstream baseline) is installed beside ours.
        "OTEL_PYTHON_DISTRO": "otel_distro",
        "OTEL_PYTHON_CONFIGURATOR": "otel_distro",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        **env,
    }
    full_env.pop("PYTEST_CURRENT_TEST", None)
    with stdout_path.open("wb") as out:
        process = subprocess.Popen(
            [INSTRUMENT, sys.executable, "-m", "uvicorn", "demo_app.main:app", "--port", str(port)],
            cwd=tmp_path,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    app = RunningApp(process, f"http://127.0.0.1:{port}", stdout_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"app exited early: {stdout_path.read_text()[-3000:]}")
        try:
            if httpx.get(app.base_url + "/health", timeout=1).status_code == 200:
                return app
        except httpx.HTTPError:
            time.sleep(0.1)
    app.stop()
    raise AssertionError(f"app never became healthy: {stdout_path.read_text()[-3000:]}")


@pytest.fixture
def sink() -> Iterator[OtlpHttpSink]:
    with OtlpHttpSink() as receiver:
        yield receiver


def _all_spans(sink: OtlpHttpSink) -> list[Any]:
    requests = sink.requests["traces"]
    return [span for r in requests for rs in r.resource_spans for s in rs.scope_spans for span in s.spans]


def _log_records(sink: OtlpHttpSink) -> list[tuple[str, Any]]:
    return [
        (s.scope.name, record)
        for r in sink.requests["logs"]
        for rs in r.resource_logs
        for s in rs.scope_logs
        for record in s.log_records
    ]


def _metric_names(sink: OtlpHttpSink) -> set[str]:
    return {
        metric.name
        for r in sink.requests["metrics"]
        for rm in r.resource_metrics
        for s in rm.scope_metrics
        for metric in s.metrics
    }


def _attrs(item: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in item.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
    return out


@pytest.mark.parametrize("fast_path", ["true", "false"])
def test_demo_app_telemetry_arrives_over_otlp_and_correlates(
    tmp_path: Path, sink: OtlpHttpSink, fast_path: str
) -> None:
    """The same with the fast path off (the plain SDK path, as on an OpenTelemetry release it does not know)."""
    app = _start(tmp_path, sink.endpoint, OTEL_DISTRO_FAST_PATH=fast_path)
    try:
        login = httpx.post(
            app.base_url + "/auth/login",
            json={"username": "ada", "password": "demo-password"},
            headers={"X-Request-ID": "e2e-login-1"},
        )
        item = httpx.get(app.base_url + "/items/2", params={"notify": "ada.lovelace@example.com"})
        failed = httpx.get(app.base_url + "/fail")
        assert (login.status_code, item.status_code, failed.status_code) == (200, 200, 500)
        assert login.headers["x-request-id"] == "e2e-login-1"
        assert failed.headers["x-request-id"]
        assert sink.wait_for(lambda s: "db.client.operation.duration" in _metric_names(s), timeout=30)
    finally:
        printed = app.stop()

    # -- spans: server spans with route and request id, SQL child spans, no ASGI send/receive spans --------
    spans = _all_spans(sink)
    [login_span] = [s for s in spans if _attrs(s).get("http.route") == "/auth/login"]
    assert _attrs(login_span)["request_id"] == "e2e-login-1"
    assert not [s for s in spans if s.name.endswith(("http send", "http receive"))]
    [item_span] = [s for s in spans if _attrs(s).get("http.route") == "/items/{item_id}"]
    sql = [s for s in spans if "db.statement" in _attrs(s) and s.trace_id == item_span.trace_id]
    assert sql, "the SELECT is a child of the request's trace"
    resource = {kv.key for r in sink.requests["traces"] for rs in r.resource_spans for kv in rs.resource.attributes}
    assert {"service.name", "service.version", "deployment.environment.name", "host.name", "process.pid"} <= resource

    # -- scrubbed before export on either path (the plain path hands the exporter a scrubbed copy) ----------
    for exported in ("traces", "logs"):
        assert "ada.lovelace" not in str(sink.requests[exported]), exported  # the query has it as ada.lovelace%40...
    assert "ada.lovelace" not in json.dumps(printed)
    assert _attrs(item_span)["url.query"] == "notify=[REDACTED:email]"

    # -- printed JSON lines: structlog, stdlib and uvicorn, with ids inside requests -----------------------
    login_trace = login_span.trace_id.hex()
    by_logger = {line["logger"] for line in printed}
    assert {"uvicorn.error", "demo_app.legacy", "demo_app", "otel_distro.requests"} <= by_logger
    assert all({"timestamp", "level", "logger", "message"} <= line.keys() for line in printed)
    assert all(line["timestamp"].endswith("Z") for line in printed)
    login_lines = [line for line in printed if line.get("request_id") == "e2e-login-1"]
    assert {line["message"] for line in login_lines} >= {"login_succeeded", "request_finished"}
    assert all(line["trace_id"] == login_trace for line in login_lines)
    [legacy_fail] = [line for line in printed if line["message"] == "about to fail on purpose"]
    assert len(legacy_fail["trace_id"]) == 32 and len(legacy_fail["span_id"]) == 16
    [request_failed] = [line for line in printed if line["message"] == "request_failed"]
    assert request_failed["exception"][-1]["exc_type"] == "RuntimeError"

    # -- the same records over OTLP, with trace context and severity ------------------------------------
    records = _log_records(sink)
    exported_login = [r for _, r in records if r.trace_id.hex() == login_trace]
    assert {r.body.string_value for r in exported_login} >= {"login_succeeded", "request_finished"}
    assert all(_attrs(r).get("request_id") == "e2e-login-1" for r in exported_login)
    [legacy_record] = [r for scope, r in records if scope == "demo_app.legacy" and "fail" in r.body.string_value]
    assert legacy_record.trace_id.hex() == legacy_fail["trace_id"]
    assert legacy_record.severity_text == "WARNING"
    assert any(scope == "uvicorn.error" for scope, _ in records), "uvicorn's own lines are exported too"
    assert not any(scope.startswith("opentelemetry") for scope, _ in records)

    # -- metrics ---------------------------------------------------------------------------------------
    names = _metric_names(sink)
    assert {"http.server.request.duration", "http.server.request.count", "http.server.error.count"} <= names
    assert {"system.cpu.utilization", "system.memory.usage", "process.memory.usage"} <= names

    # -- which path served it, said once --------------------------------------------------------------
    # (with the variable on, on the releases installed here: the fast path's own check, as the app took it)
    expected = fastpath._check_versions() if fast_path == "true" else fastpath.Status(False, "switched_off")
    [configured] = [line for line in printed if line["message"] == "telemetry_configured"]
    assert configured["fast_path"] is expected.active
    disabled = [line for line in printed if line["message"] == "fast_path_disabled"]
    assert [line["reason"] for line in disabled] == ([] if expected.active else [expected.reason])


def test_metrics_route_serves_prometheus_text(tmp_path: Path, sink: OtlpHttpSink) -> None:
    app = _start(tmp_path, sink.endpoint)
    try:
        httpx.get(app.base_url + "/items/1")
        response = httpx.get(app.base_url + "/metrics")
        detailed = httpx.get(app.base_url + "/health/detailed")
    finally:
        app.stop()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "http_server_request_duration_seconds_bucket" in response.text
    assert detailed.status_code == 200
    assert detailed.json()["status"] == "ok"
    assert any(name.startswith("database:sqlite") for name in detailed.json()["checks"])


def test_console_format_prints_human_lines(tmp_path: Path, sink: OtlpHttpSink) -> None:
    app = _start(tmp_path, sink.endpoint, OTEL_DISTRO_LOG_FORMAT="console")
    try:
        httpx.get(app.base_url + "/items/1")
    finally:
        app.stop()
    text = app.stdout_path.read_text()
    assert "request_finished" in text
    assert not [line for line in text.splitlines() if line.startswith("{")]


def test_bad_setting_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [INSTRUMENT, sys.executable, "-c", "print('app started')"],
        env={
            **os.environ,
            "OTEL_PYTHON_DISTRO": "otel_distro",
            "OTEL_PYTHON_CONFIGURATOR": "otel_distro",
            "OTEL_DISTRO_LOG_FORMAT": "xml",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "app started" not in result.stdout
    assert "OTEL_DISTRO_LOG_FORMAT='xml'" in result.stderr
    assert "json or console" in result.stderr


def test_absent_collector_is_quiet_and_does_not_block(tmp_path: Path) -> None:
    app = _start(tmp_path, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    try:
        for _ in range(20):
            assert httpx.get(app.base_url + "/items/1", timeout=5).status_code == 200
        time.sleep(2)  # several export attempts fail meanwhile
    finally:
        printed = app.stop()
    exporter_lines = [line for line in printed if line["logger"].startswith("opentelemetry.exporter")]
    assert exporter_lines, "the failure is reported"
    per_logger_and_level = Counter((line["logger"], line["level"]) for line in exporter_lines)
    assert max(per_logger_and_level.values()) == 1, "at most once a minute per exporter and level"


def test_uvicorn_access_log_when_kept_carries_the_same_ids(tmp_path: Path, sink: OtlpHttpSink) -> None:
    app = _start(tmp_path, sink.endpoint, OTEL_DISTRO_ACCESS_LOG="true")
    try:
        httpx.get(app.base_url + "/items/1", headers={"X-Request-ID": "access-1"})
    finally:
        printed = app.stop()
    [access] = [line for line in printed if line["logger"] == "uvicorn.access" and "/items/1" in line["message"]]
    [finished] = [line for line in printed if line["message"] == "request_finished"]
    assert access["request_id"] == "access-1"
    assert access["trace_id"] == finished["trace_id"]
