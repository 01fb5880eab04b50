"""The whole alerting path with real processes: a scrape target whose 5xx share crosses 5%, a real Prometheus
evaluating the shipped rules (windows and ``for:`` shortened, thresholds as shipped), a real Alertmanager
started through the shipped entrypoint on the shipped config (grouping waits shortened), a Slack-compatible
webhook server, an SMTP server, and ``otel-distro alerts serve`` (over PostgreSQL) recording every notification
and escalating what nobody acknowledges: three services fail; one is acknowledged through the history's API, one
silenced in Alertmanager, and only the third is escalated."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from collector.testing import running_collector
from tests.alertmanager.config import ENTRYPOINT, render, shorten_waits
from tests.servers._http import LocalHTTPServer
from tests.servers.notifications import Mailbox, SlackWebhook
from tests.servers.processes import ServerProcess, require_binary
from tests.support import ROOT, free_port
from tests.test_end_to_end import demo_app

pytestmark = pytest.mark.slow


class RequestCounters(LocalHTTPServer):
    """A scrape target: ``http_server_request_duration_seconds_count`` per service and status code, growing
    by 100 requests a second per service, of which ``error_share[service]`` answer 500."""

    def __init__(self, services: list[str]) -> None:
        super().__init__()
        self.error_share = dict.fromkeys(services, 0.01)
        self._counts: dict[tuple[str, str], float] = {(s, c): 0.0 for s in services for c in ("200", "500")}
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)

    def _tick(self) -> None:
        while not self._stop.wait(0.1):
            with self._lock:
                for service, share in self.error_share.items():
                    self._counts[(service, "500")] += 10 * share
                    self._counts[(service, "200")] += 10 * (1 - share)

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        with self._lock:
            lines = ["# TYPE http_server_request_duration_seconds_count counter"] + [
                f'http_server_request_duration_seconds_count{{job="{service}",http_response_status_code="{code}"}} '
                f"{value}" for (service, code), value in self._counts.items()]
        return 200, {"Content-Type": "text/plain; version=0.0.4"}, ("\n".join(lines) + "\n").encode()

    def start(self) -> RequestCounters:
        super().start()
        if not self._ticker.is_alive():
            self._ticker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        super().stop()


def fast_rules(out: Path) -> Path:
    """app.rules.yml as shipped, with 5m windows -> 5s, ``for:`` -> 1s and a 1s evaluation interval."""
    config = yaml.safe_load((ROOT / "prometheus" / "rules" / "app.rules.yml").read_text())
    for group in config["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["expr"] = rule["expr"].replace("[5m]", "[5s]")
            if "for" in rule:
                rule["for"] = "1s"
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


@pytest.fixture
def database_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    name = f"alerts_e2e_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_error_rate_over_5_percent_notifies_slack_email_history_and_escalates_until_acknowledged(
        tmp_path: Path, database_url: str) -> None:
    am_port, prom_port, history_port = free_port(), free_port(), free_port()
    with (
        SlackWebhook() as slack,
        Mailbox() as mailbox,
        RequestCounters(["shop/api", "shop/chat", "shop/images"]) as target,
    ):
        env = {"SLACK_WEBHOOK_URL": slack.url, "SMTP_SMARTHOST": f"127.0.0.1:{mailbox.port}",
               "ALERT_HISTORY_URL": f"http://127.0.0.1:{history_port}",
               "AM_TEMPLATES_DIR": str(ROOT / "alertmanager" / "templates")}
        config = tmp_path / "am" / "alertmanager.yml"
        shorten_waits(render(config, env))
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(fast_rules(tmp_path / "app.rules.yml"))],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "apps", "honor_labels": True,
                                "static_configs": [{"targets": [f"127.0.0.1:{target.port}"]}]}],
        }))
        alertmanager = ["env", f"ALERTMANAGER_BIN={require_binary('prometheus-alertmanager')}",
                        f"AM_CONFIG_TEMPLATE={config}", f"AM_CONFIG={tmp_path / 'am' / 'run.yml'}",
                        "sh", str(ENTRYPOINT), f"--storage.path={tmp_path / 'am-data'}",
                        f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="]
        prometheus = [require_binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                      f"--storage.tsdb.path={tmp_path / 'prom'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                      "--rules.alert.resend-delay=1s", "--log.level=warn"]
        history_env = {**os.environ, "OTEL_DISTRO_ALERTS_DATABASE_URL": database_url,
                       "OTEL_DISTRO_ALERTMANAGER_URL": f"http://127.0.0.1:{am_port}",
                       "OTEL_DISTRO_ALERTS_ESCALATE_AFTER": "8s", "OTEL_DISTRO_ALERTS_ESCALATE_AGAIN_AFTER": "4s"}
        history = [sys.executable, "-m", "otel_distro.cli", "alerts", "serve", "--port", str(history_port),
                   "--check-interval", "500ms"]
        history_url = f"http://127.0.0.1:{history_port}"
        with (
            ServerProcess(alertmanager, f"http://127.0.0.1:{am_port}/-/ready"),
            ServerProcess(_with_env(history, history_env), f"{history_url}/health") as history_proc,
            ServerProcess(prometheus, f"http://127.0.0.1:{prom_port}/-/ready"),
        ):
            def alerts(**params: str) -> list[dict[str, Any]]:
                found: list[dict[str, Any]] = httpx.get(f"{history_url}/api/alerts", params=params).json()["alerts"]
                return found

            # 1% errors: just under the threshold, nothing fires (Prometheus has evaluated the rule meanwhile)
            wait_for(lambda: _rule_evaluated(prom_port), "the rules to be evaluated on data")
            time.sleep(3)
            assert alerts() == []
            target.error_share.update({"shop/api": 0.10, "shop/chat": 0.10, "shop/images": 0.10})

            chat = wait_for(lambda: alerts(service="shop/chat"), "shop/chat's alert in the history")
            acked = httpx.post(f"{history_url}/api/alerts/{chat[0]['fingerprint']}/ack",
                               json={"by": "alice", "reason": "rolling back chat"})
            assert acked.status_code == 200, acked.text
            # shop/images: silenced in Alertmanager, which counts as an acknowledgement
            wait_for(lambda: alerts(service="shop/images"), "shop/images' alert in the history")
            now = time.time()
            silence = httpx.post(f"http://127.0.0.1:{am_port}/api/v2/silences", json={
                "matchers": [{"name": "job", "value": "shop/images", "isRegex": False, "isEqual": True}],
                "startsAt": _rfc3339(now), "endsAt": _rfc3339(now + 3600), "createdBy": "bob",
                "comment": "deploy freeze"})
            assert silence.status_code == 200, silence.text

            api = wait_for(lambda: [a for a in alerts(service="shop/api") if a["escalation_level"] == 2
                                    and {"escalation-1", "escalation-2"} <= set(a["receivers"])],
                           "shop/api escalated twice")[0]
            wait_for(lambda: mailbox.subjects("engineering-lead@otel-distro.local"), "the level-2 e-mail")
            chat_now = alerts(service="shop/chat")[0]
            images = wait_for(lambda: [a for a in alerts(service="shop/images") if a["acknowledged"]],
                              "the silence to count as an acknowledgement")[0]
            history_log = history_proc.output()

    # the alert, as shipped: critical, >5% of requests fail; it reached Slack, e-mail and the history
    assert api["alertname"] == "HighErrorRate" and api["severity"] == "critical" and api["state"] == "firing"
    assert re.match(r"shop/api: \d+(\.\d+)?% of requests fail with 5xx", api["annotations"]["summary"])
    assert "[FIRING:1] HighErrorRate (shop/api)" in slack.titles("#alerts")
    assert "[FIRING:1] HighErrorRate (shop/api)" in mailbox.subjects("sre@otel-distro.local")
    assert "slack-and-email" in api["receivers"]
    # not acknowledged: escalated to level 1 (second Slack channel, on-call e-mail), then level 2
    assert [e["kind"] for e in api["events"]][:2] == ["escalated", "escalated"], api["events"]
    assert "[FIRING:1] HighErrorRate (shop/api)" in slack.titles("#alerts-escalation")
    assert "[FIRING:1] HighErrorRate (shop/api)" in mailbox.subjects("oncall@otel-distro.local")
    # acknowledged in time: recorded, and never escalated
    assert chat_now["acknowledged"]["by"] == "alice" and chat_now["acknowledged"]["reason"] == "rolling back chat"
    assert chat_now["escalation_level"] == 0
    assert [e["kind"] for e in chat_now["events"]] == ["ack"]
    assert not any("shop/chat" in t for t in slack.titles("#alerts-escalation"))
    assert not any("shop/chat" in s for s in mailbox.subjects("oncall@otel-distro.local"))
    assert "[FIRING:1] HighErrorRate (shop/chat)" in slack.titles("#alerts")
    assert "alert_escalated" in history_log
    # silenced in Alertmanager: acknowledged by the silence's author, never escalated
    assert images["acknowledged"]["by"] == "bob"
    assert images["acknowledged"]["reason"].endswith(": deploy freeze")
    assert images["escalation_level"] == 0 and [e["kind"] for e in images["events"]] == ["silenced"]


def _rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + "Z"


def _with_env(argv: list[str], env: dict[str, str]) -> list[str]:
    changed = [f"{k}={v}" for k, v in env.items() if os.environ.get(k) != v]
    return ["env", *changed, *argv]


def _rule_evaluated(prom_port: int) -> bool:
    response = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/query",
                         params={"query": "job:http_server_requests:rate5m"})
    return bool(json.loads(response.text)["data"]["result"])


def test_the_demo_app_failing_more_than_5_percent_of_requests_reaches_slack_email_and_the_history(
        tmp_path: Path) -> None:
    """The real app this time: the demo app under ``opentelemetry-instrument`` -> OTLP -> the collector's
    prometheus exporter -> Prometheus -> Alertmanager -> Slack, e-mail and ``otel-distro alerts serve``."""
    am_port, prom_port, history_port, otlp_port, scrape_port = (free_port() for _ in range(5))
    history_url = f"http://127.0.0.1:{history_port}"
    collector = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
        "exporters": {"prometheus": {"endpoint": f"127.0.0.1:{scrape_port}"},
                      "file": {"path": str(tmp_path / "otlp.jsonl")}},
        "service": {"pipelines": {
            "metrics": {"receivers": ["otlp"], "exporters": ["prometheus"]},
            "traces": {"receivers": ["otlp"], "exporters": ["file"]},
            "logs": {"receivers": ["otlp"], "exporters": ["file"]},
        }},
    }
    with (
        SlackWebhook() as slack,
        Mailbox() as mailbox,
        running_collector(collector),
        demo_app(tmp_path, otlp_port) as app,
    ):
        config = tmp_path / "am" / "alertmanager.yml"
        shorten_waits(render(config, {"SLACK_WEBHOOK_URL": slack.url, "SMTP_SMARTHOST": f"127.0.0.1:{mailbox.port}",
                                      "ALERT_HISTORY_URL": history_url,
                                      "AM_TEMPLATES_DIR": str(ROOT / "alertmanager" / "templates")}))
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(fast_rules(tmp_path / "app.rules.yml"))],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "otel-collector-exporter", "honor_labels": True,
                                "static_configs": [{"targets": [f"127.0.0.1:{scrape_port}"]}]}],
        }))
        alertmanager = [require_binary("prometheus-alertmanager"), f"--config.file={config}",
                        f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                        "--cluster.listen-address="]
        prometheus = [require_binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                      f"--storage.tsdb.path={tmp_path / 'prom'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                      "--rules.alert.resend-delay=1s", "--log.level=warn"]
        history = _with_env([sys.executable, "-m", "otel_distro.cli", "alerts", "serve", "--port",
                             str(history_port)], {"OTEL_DISTRO_ALERTS_DATABASE_URL":
                                                  f"sqlite:///{tmp_path / 'history.db'}"})
        stop = threading.Event()

        def traffic() -> None:  # 2 of every 20 requests fail: 10%
            while not stop.is_set():
                for i in range(20):
                    app.get("/fail" if i < 2 else "/api/info")
                stop.wait(0.2)

        sender = threading.Thread(target=traffic, daemon=True)
        with (
            ServerProcess(alertmanager, f"http://127.0.0.1:{am_port}/-/ready"),
            ServerProcess(history, f"{history_url}/health"),
            ServerProcess(prometheus, f"http://127.0.0.1:{prom_port}/-/ready"),
        ):
            sender.start()
            try:
                recorded = wait_for(lambda: httpx.get(f"{history_url}/api/alerts", params={
                    "service": "demo-app", "alertname": "HighErrorRate"}).json()["alerts"],
                    "the demo app's HighErrorRate in the history", timeout=120)
                wait_for(lambda: mailbox.subjects("sre@otel-distro.local"), "the e-mail")
                wait_for(lambda: slack.titles("#alerts"), "the Slack message")
            finally:
                stop.set()
                sender.join(30)

    [alert] = recorded
    assert alert["severity"] == "critical" and alert["state"] == "firing"
    assert re.match(r"demo-app: \d+(\.\d+)?% of requests fail with 5xx", alert["annotations"]["summary"])
    assert alert["receivers"] == ["slack-and-email"]
    assert mailbox.subjects("sre@otel-distro.local") == ["[FIRING:1] HighErrorRate (demo-app)"]
    assert slack.titles("#alerts") == ["[FIRING:1] HighErrorRate (demo-app)"]
