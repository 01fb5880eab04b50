"""End to end: the demo app under the real ``opentelemetry-instrument`` -> OTLP -> the collector -> a real
Prometheus, the local Elasticsearch and the local Sentry endpoint.

One failing request (``GET /fail``, which raises) carries a W3C ``traceparent`` with a known trace id; the same
failure shows up in all three backends: counted in Prometheus as a 500 on its route, as log and span documents
with that trace id in Elasticsearch, and as a Sentry error event (and transaction) linked to that trace.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from collector.testing import running_collector
from tests.servers.elasticsearch import ElasticsearchServer
from tests.servers.prometheus import PrometheusServer
from tests.servers.sentry import SentryReceiver
from tests.support import ROOT, free_port

pytestmark = pytest.mark.slow

T = TypeVar("T")
BIN = Path(sys.executable).parent


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout}s")
        time.sleep(0.2)


class DemoApp:
    """``opentelemetry-instrument uvicorn examples.demo_app.main:app`` in a subprocess."""

    def __init__(self, workdir: Path, otlp_port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = workdir / "demo-app.log"
        self.env = {
            **os.environ,
            "OTEL_SERVICE_NAME": "demo-app",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_DISTRO_ENVIRONMENT": "e2e",
            "OTEL_DISTRO_SERVICE_VERSION": "9.9.9",
            "OTEL_DISTRO_SYSTEM_METRICS": "false",
            "DATABASE_URL": f"sqlite:///{workdir / 'demo.db'}",
        }
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DemoApp:
        argv = [str(BIN / "opentelemetry-instrument"), str(BIN / "uvicorn"), "examples.demo_app.main:app",
                "--host", "127.0.0.1", "--port", str(self.port)]
        with self.output.open("wb") as out:
            self._proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        eventually(self._ready, f"the demo app on {self.url} (output in {self.output})")
        return self

    def _ready(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise AssertionError(f"the demo app exited:\n{self.output.read_text()[-4000:]}")
        try:
            return self.get("/api/info")[0] == 200
        except OSError:
            return False

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
        request = urllib.request.Request(f"{self.url}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()  # uvicorn shuts down; the SDK flushes what it holds
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


@contextmanager
def demo_app(workdir: Path, otlp_port: int) -> Iterator[DemoApp]:
    app = DemoApp(workdir, otlp_port)
    try:
        yield app.start()
    finally:
        app.stop()


def collector_config(otlp_port: int, scrape_port: int, es_url: str, sentry_dsn: str) -> dict[str, Any]:
    fast_retry = {"initial_interval": "100ms", "max_interval": "500ms"}
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {
            "prometheus": {"endpoint": f"127.0.0.1:{scrape_port}"},
            "elasticsearch": {"endpoint": es_url, "flush": {"interval": "200ms"}, "retry_on_failure": fast_retry},
            "sentry": {"dsn": sentry_dsn, "transactions": True, "retry_on_failure": fast_retry},
        },
        "service": {
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["elasticsearch", "sentry"]},
                "logs": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["elasticsearch", "sentry"]},
                "metrics": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["prometheus"]},
            },
            "telemetry": {"metrics": {"level": "none"}},
        },
    }


def test_one_failing_request_shows_up_in_prometheus_elasticsearch_and_sentry(tmp_path: Path) -> None:
    otlp_port, scrape_port = free_port(), free_port()
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"

    with (
        SentryReceiver() as sentry,
        ElasticsearchServer() as es,
        PrometheusServer(tmp_path, scrape_targets=[f"127.0.0.1:{scrape_port}"]) as prom,
        running_collector(collector_config(otlp_port, scrape_port, es.url, sentry.dsn)),
        demo_app(tmp_path, otlp_port) as app,
    ):
        status, headers = app.get("/fail", {"traceparent": traceparent})
        assert status == 500

        def linked(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [e for e in items if e.get("contexts", {}).get("trace", {}).get("trace_id") == trace_id]

        errors = eventually(lambda: linked(sentry.events()), "a Sentry event linked to the failing trace")
        [transaction] = eventually(lambda: linked(sentry.transactions()), "a Sentry transaction of the trace")
        logs = eventually(lambda: es.search("logs-*", {"term": {"trace_id": trace_id}}),
                          "log documents of the failing trace in Elasticsearch")
        spans = eventually(lambda: es.search("traces-*", {"term": {"trace_id": trace_id}}),
                           "span documents of the failing trace in Elasticsearch")
        failures = prom.wait_for(
            'http_server_request_duration_seconds_count{job="demo-app",http_route="/fail",'
            'http_response_status_code="500"}'
        )

    # Sentry: the error, with what Sentry groups and filters by, linked to the trace
    with_exception = [e for e in errors if "exception" in e]
    assert with_exception
    for error in with_exception:
        exception = error["exception"]["values"][-1]
        assert (exception["type"], exception["value"]) == (
            "RuntimeError", "demo failure: the /fail route always raises")
        assert exception["stacktrace"]["frames"][-1]["function"] == "fail"
        assert exception["stacktrace"]["frames"][-1]["in_app"] is True
        assert (error["release"], error["environment"], error["platform"]) == ("9.9.9", "e2e", "python")
        assert error["tags"]["service.name"] == "demo-app"
    assert transaction["transaction"] == "GET /fail"
    assert transaction["contexts"]["trace"]["status"] == "internal_error"
    assert sentry.rejected == []

    # Elasticsearch: the same request's log lines and spans, found by the trace id
    assert any(doc.get("body", {}).get("text") == "request_failed" or "request_failed" in str(doc) for doc in logs)
    assert any(doc.get("name") == "GET /fail" for doc in spans)
    request_id = headers.get("x-request-id") or headers.get("X-Request-ID")
    assert request_id is not None and request_id in str(logs)

    # Prometheus: the failure is counted on its route
    assert sum(float(series["value"][1]) for series in failures) == 1
