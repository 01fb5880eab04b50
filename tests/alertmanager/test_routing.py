"""alertmanager/alertmanager.yml, rendered from the environment by alertmanager/entrypoint.sh, routes real
alerts: a real Prometheus evaluates rules and sends them to a real Alertmanager (started through the entrypoint),
which notifies a Slack-compatible webhook server, an SMTP server and the alert-history webhook, by severity and
escalation level. Only the grouping waits (30s -> 1s) differ from the shipped config."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.alertmanager.config import ENTRYPOINT, TEMPLATE, render, shorten_waits
from tests.servers._http import LocalHTTPServer
from tests.servers.notifications import Mailbox, SlackWebhook
from tests.servers.processes import ServerProcess, require_binary
from tests.support import ROOT, free_port

pytestmark = pytest.mark.slow


class WebhookRecorder(LocalHTTPServer):
    def __init__(self) -> None:
        super().__init__()
        self.posts: list[dict[str, Any]] = []

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        with self._lock:
            self.posts.append(json.loads(body))
        return 200, {}, b""

    def receivers(self) -> set[tuple[str, str]]:
        with self._lock:
            return {(p["receiver"], a["labels"]["alertname"]) for p in self.posts for a in p["alerts"]}


@pytest.fixture
def slack() -> Iterator[SlackWebhook]:
    with SlackWebhook() as server:
        yield server


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


@pytest.fixture
def history() -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as server:
        yield server


def test_the_shipped_config_renders_with_its_defaults_and_passes_amtool(tmp_path: Path) -> None:
    rendered = render(tmp_path / "alertmanager.yml", {})
    out = subprocess.run([require_binary("amtool"), "check-config", str(rendered)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    config = yaml.safe_load(rendered.read_text())
    assert config["global"]["smtp_smarthost"] == "smtp:25"
    assert "${" not in rendered.read_text().split("global:", 1)[1]


def test_environment_values_are_rendered_quoted_and_the_slack_url_goes_to_a_private_file(tmp_path: Path) -> None:
    rendered = render(tmp_path / "am" / "alertmanager.yml", {
        "SMTP_SMARTHOST": "mail.example.com:587", "SMTP_AUTH_PASSWORD": "it's a \"secret\" \\ pw",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X", "ALERT_EMAIL_TO": "team@example.com",
        "SLACK_CHANNEL": "#prod-alerts"})
    config = yaml.safe_load(rendered.read_text())
    assert config["global"]["smtp_smarthost"] == "mail.example.com:587"
    assert config["global"]["smtp_auth_password"] == "it's a \"secret\" \\ pw"
    url_file = Path(config["global"]["slack_api_url_file"])
    assert url_file.read_text() == "https://hooks.slack.com/services/T/B/X"
    assert url_file.stat().st_mode & 0o077 == 0
    assert "hooks.slack.com" not in rendered.read_text()
    assert rendered.stat().st_mode & 0o077 == 0  # it holds the SMTP password
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["slack-and-email"]["email_configs"][0]["to"] == "team@example.com"
    assert receivers["slack"]["slack_configs"][0]["channel"] == "#prod-alerts"


def test_every_receiver_also_calls_the_history_webhook(tmp_path: Path) -> None:
    config = yaml.safe_load(render(tmp_path / "am.yml", {}).read_text())
    for receiver in config["receivers"]:
        assert [w["url"] for w in receiver["webhook_configs"]] == ["http://alert-history:9097/webhook"], receiver
        assert receiver["webhook_configs"][0]["send_resolved"] is True


_TEST_RULES = """
groups:
  - name: routing-test
    interval: 1s
    rules:
      - alert: DiskSpaceLow
        expr: vector(1)
        labels: {severity: warning, job: shop/api}
        annotations: {summary: "disk 91% full", description: "d"}
      - alert: HighErrorRate
        expr: vector(1)
        labels: {severity: critical, job: shop/api}
        annotations: {summary: "12% of requests fail", description: "d"}
      - alert: EscalatedCritical
        expr: vector(1)
        labels: {severity: page, job: shop/billing}
        annotations: {summary: "unresolved for 30m: HighErrorRate (shop/billing)", description: "d"}
"""


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_alerts_reach_slack_email_and_history_by_severity_and_escalation_level(
        tmp_path: Path, slack: SlackWebhook, mailbox: Mailbox, history: WebhookRecorder) -> None:
    am_port, prom_port = free_port(), free_port()
    env = {"SLACK_WEBHOOK_URL": slack.url, "SMTP_SMARTHOST": f"127.0.0.1:{mailbox.port}",
           "ALERT_HISTORY_URL": f"http://127.0.0.1:{history.port}", "AM_TEMPLATES_DIR": str(ROOT / "alertmanager"
                                                                                             / "templates")}
    config = tmp_path / "am" / "alertmanager.yml"
    shorten_waits(render(config, env))
    (tmp_path / "rules.yml").write_text(_TEST_RULES)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
    }))
    alertmanager = [require_binary("prometheus-alertmanager"), f"--config.file={config}",
                    f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address="]
    prometheus = [require_binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                  f"--storage.tsdb.path={tmp_path / 'prom'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                  "--rules.alert.resend-delay=1s"]
    with (
        ServerProcess(alertmanager, f"http://127.0.0.1:{am_port}/-/ready"),
        ServerProcess(prometheus, f"http://127.0.0.1:{prom_port}/-/ready"),
    ):
        # escalations come from alert-history; post one of each level as it does
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for level in ("1", "2"):
            r = httpx.post(f"http://127.0.0.1:{am_port}/api/v2/alerts", json=[{
                "labels": {"alertname": "HighErrorRate", "severity": "critical", "job": "shop/chat",
                           "escalation_level": level},
                "annotations": {"summary": "12% of requests fail", "description": "d"}, "startsAt": now}])
            assert r.status_code == 200
        _wait_for(lambda: len(slack.titles("#alerts")) >= 2 and len(slack.titles("#alerts-escalation")) >= 3
                  and len(mailbox.mails) >= 5 and len(history.receivers()) >= 5, 60,
                  "slack messages, mails and history webhooks")

    assert set(slack.titles("#alerts")) == {"[FIRING:1] DiskSpaceLow (shop/api)", "[FIRING:1] HighErrorRate (shop/api)"}
    assert set(slack.titles("#alerts-escalation")) == {"[FIRING:1] EscalatedCritical (shop/billing)",
                                                        "[FIRING:1] HighErrorRate (shop/chat)"}
    text = next(m["attachments"][0]["text"] for m in slack.messages if "HighErrorRate (shop/api)" in
                m["attachments"][0]["title"])
    assert "*critical* 12% of requests fail" in text
    # critical -> e-mail to SRE; level 1 and page -> on-call; level 2 -> on-call and the escalation address
    assert mailbox.subjects("sre@otel-distro.local") == ["[FIRING:1] HighErrorRate (shop/api)"]
    assert sorted(mailbox.subjects("oncall@otel-distro.local")) == [
        "[FIRING:1] EscalatedCritical (shop/billing)", "[FIRING:1] HighErrorRate (shop/chat)",
        "[FIRING:1] HighErrorRate (shop/chat)"]
    assert mailbox.subjects("engineering-lead@otel-distro.local") == ["[FIRING:1] HighErrorRate (shop/chat)"]
    assert not any("DiskSpaceLow" in subject for _, subject, _ in mailbox.mails)
    assert {("slack", "DiskSpaceLow"), ("slack-and-email", "HighErrorRate"), ("escalation-1", "EscalatedCritical"),
            ("escalation-1", "HighErrorRate"), ("escalation-2", "HighErrorRate")} <= history.receivers()


def test_the_entrypoint_starts_alertmanager_on_the_rendered_config(tmp_path: Path) -> None:
    port = free_port()
    env = {"ALERTMANAGER_BIN": require_binary("prometheus-alertmanager"), "AM_CONFIG_TEMPLATE": str(TEMPLATE),
           "AM_CONFIG": str(tmp_path / "rendered" / "alertmanager.yml"),
           "AM_TEMPLATES_DIR": str(ROOT / "alertmanager" / "templates"), "SMTP_SMARTHOST": "127.0.0.1:1"}
    argv = ["env", *(f"{k}={v}" for k, v in env.items()), "sh", str(ENTRYPOINT), f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    assert os.access(ENTRYPOINT, os.X_OK)
    with ServerProcess(argv, f"http://127.0.0.1:{port}/-/ready"):
        status = httpx.get(f"http://127.0.0.1:{port}/api/v2/status").json()
    assert "smtp_smarthost: 127.0.0.1:1" in status["config"]["original"]
