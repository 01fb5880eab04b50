"""A log-stream rule end to end: error logs sent to the collector over OTLP/HTTP make its ``alert_rules``
processor fire an alert that reaches a real Alertmanager's API and its receivers (the history webhook, Slack),
and resolve when they stop. With Alertmanager down meanwhile, the collector delivers every log record, and the
alert (fired and resolved during the outage) reaches the receivers, firing then resolved, once it is back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import otlpjson
from collector.pdata import Signal
from collector.testing import RecordingTelemetry, running_collector
from tests.alertmanager.config import render, shorten_waits
from tests.collector.processors.alert_batches import logs
from tests.servers._http import LocalHTTPServer
from tests.servers.notifications import SlackWebhook
from tests.servers.processes import ServerProcess, require_binary
from tests.support import ROOT, free_port

pytestmark = pytest.mark.slow

TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")


class WebhookRecorder(LocalHTTPServer):
    """Alertmanager's webhook receiver (here: the alert-history URL): ``(status, alertname, service)``."""

    def __init__(self) -> None:
        super().__init__()
        self._posts: list[dict[str, Any]] = []

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        with self._lock:
            self._posts.append(json.loads(body))
        return 200, {}, b""

    def seen(self, service: str) -> list[str]:
        """Statuses notified for ``service``'s ErrorLogBurst, in order (consecutive repeats collapsed)."""
        with self._lock:
            statuses = [a["status"] for p in self._posts for a in p["alerts"]
                        if a["labels"].get("service_name") == service]
        return [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]

    def alert(self, service: str) -> dict[str, Any]:
        with self._lock:
            return next(a for p in self._posts for a in p["alerts"] if a["labels"].get("service_name") == service)


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def webhook() -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as server:
        yield server


def test_error_logs_fire_and_resolve_an_alert_through_alertmanager_even_across_its_outage(
        tmp_path: Path, webhook: WebhookRecorder) -> None:
    am_port, http_port = free_port(), free_port()
    am_url = f"http://127.0.0.1:{am_port}"
    with SlackWebhook() as slack:
        config = tmp_path / "am" / "alertmanager.yml"
        shorten_waits(render(config, {"SLACK_WEBHOOK_URL": slack.url, "ALERT_HISTORY_URL": f"http://127.0.0.1:"
                                      f"{webhook.port}", "AM_TEMPLATES_DIR": str(ROOT / "alertmanager" / "templates")}))
        alertmanager = [require_binary("prometheus-alertmanager"), f"--config.file={config}",
                        f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                        "--cluster.listen-address="]
        collector_config = {
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{http_port}"}}}},
            "processors": {"alert_rules": {
                "alertmanager": {"endpoint": am_url, "resolve_hold": "3s", "timeout": "1s",
                                 "retry_on_failure": {"initial_interval": "200ms", "max_interval": "500ms"}},
                "grafana_url": "http://grafana:3000", "evaluation_interval": "200ms", "resend_interval": "1s",
                "rules": [{"name": "ErrorLogBurst", "type": "frequency", "match": {"severity": "error"},
                           "threshold": 5, "window": "3s", "labels": {"severity": "warning"}}],
            }},
            "exporters": {"file": {"path": str(tmp_path / "otlp.jsonl"), "flush_interval": 0}},
            "service": {"pipelines": {"logs": {"receivers": ["otlp"], "processors": ["alert_rules"],
                                               "exporters": ["file"]}}},
        }
        telemetry = RecordingTelemetry()
        sent = 0

        def send(service: str, *records: tuple[str, str]) -> None:
            nonlocal sent
            response = httpx.post(f"http://127.0.0.1:{http_port}/v1/logs",
                                  content=logs(*records, service=service, trace_id=TRACE).to_bytes(),
                                  headers={"Content-Type": "application/x-protobuf"})
            assert response.status_code == 200, response.text
            sent += len(records)

        with running_collector(collector_config, telemetry=telemetry):
            # 1. Alertmanager up: 4 errors are not enough, the 5th fires
            with ServerProcess(alertmanager, f"{am_url}/-/ready"):
                send("shop-api", *[("error", f"db timeout {i}") for i in range(4)], ("info", "ok"))
                time.sleep(1)
                assert _active(am_url) == []
                send("shop-api", ("error", "db timeout 4"))
                [active] = wait_for(lambda: _active(am_url), "the alert in Alertmanager's API")
                assert active["labels"] == {"alertname": "ErrorLogBurst", "severity": "warning",
                                            "source": "otel-collector", "rule_type": "frequency",
                                            "service_name": "shop-api", "job": "shop/shop-api"}
                assert active["annotations"]["trace_id"] == TRACE.hex()
                assert active["annotations"]["summary"] == "shop-api: 5 matching records in 3s"
                assert active["generatorURL"].startswith("http://grafana:3000/explore?")
                wait_for(lambda: webhook.seen("shop-api") == ["firing"], "the firing notification")
                wait_for(lambda: "[FIRING:1] ErrorLogBurst (shop/shop-api)" in slack.titles("#alerts"),
                         "the Slack message")
                # the errors stop: resolved in Alertmanager and notified
                wait_for(lambda: webhook.seen("shop-api") == ["firing", "resolved"], "the resolved notification")
                assert _active(am_url) == []

            # 2. Alertmanager down: the alert fires and resolves meanwhile; nothing is lost
            send("billing", *[("error", f"card declined {i}") for i in range(6)], ("info", "retrying"))
            wait_for(lambda: telemetry.value("otelcol_processor_alert_rules_send_failed_total") >= 2,
                     "failed attempts while Alertmanager is down")
            wait_for(lambda: telemetry.value("otelcol_processor_alert_rules_alerts_firing") == 0 and
                     telemetry.value("otelcol_processor_alert_rules_alerts_fired_total", rule="ErrorLogBurst") == 2,
                     "the billing alert to fire and resolve in the collector")
            assert webhook.seen("billing") == []
            with ServerProcess(alertmanager, f"{am_url}/-/ready"):
                wait_for(lambda: webhook.seen("billing") == ["firing", "resolved"],
                         "the billing alert, firing then resolved, after the outage")
                assert webhook.alert("billing")["labels"]["alertname"] == "ErrorLogBurst"
        assert telemetry.value("otelcol_processor_alert_rules_alerts_dropped_total") == 0

    written = [r.body.string_value for line in (tmp_path / "otlp.jsonl").read_text().splitlines()
               for rl in otlpjson.decode(Signal.LOGS, line).request.resource_logs  # type: ignore[union-attr]
               for sl in rl.scope_logs for r in sl.log_records]
    assert len(written) == sent == 13
    assert {f"card declined {i}" for i in range(6)} <= set(written)


def _active(am_url: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = httpx.get(f"{am_url}/api/v2/alerts", params={
        "filter": 'alertname="ErrorLogBurst"', "active": "true", "silenced": "false", "inhibited": "false"}).json()
    return [a for a in alerts if a["endsAt"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())]
