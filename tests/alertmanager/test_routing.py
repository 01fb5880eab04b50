"""alertmanager/alertmanager.yml routes real alerts: a real Prometheus evaluates rules and sends to a real
Alertmanager, which notifies a Slack webhook stand-in (HTTP) and an SMTP server (aiosmtpd), both in-process.

The committed config is used as it is, with only the addresses (Slack URL file, SMTP host, template dir) and the
grouping waits (30s -> 1s) changed for the test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller

from tests.servers.processes import ServerProcess, require_binary
from tests.support import ROOT, free_port

pytestmark = pytest.mark.slow


class _Slack(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _SlackHandler)


class _SlackHandler(BaseHTTPRequestHandler):
    server: _Slack

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.messages.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return None


class _Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content)
        self.mails.append((list(envelope.rcpt_tos), str(msg["Subject"])))
        return "250 OK"


@pytest.fixture
def slack() -> Iterator[_Slack]:
    server = _Slack()
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def mailbox() -> Iterator[tuple[_Mailbox, int]]:
    box = _Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def _alertmanager_config(tmp: Path, slack_url: str, smtp_port: int) -> Path:
    cfg = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())
    (tmp / "slack_url").write_text(slack_url)
    shutil.copytree(ROOT / "alertmanager" / "templates", tmp / "templates")
    cfg["global"]["slack_api_url_file"] = str(tmp / "slack_url")
    cfg["global"]["smtp_smarthost"] = f"127.0.0.1:{smtp_port}"
    cfg["templates"] = [str(tmp / "templates" / "*.tmpl")]
    for route in [cfg["route"], *cfg["route"].get("routes", [])]:
        route["group_wait"] = "1s"
        route["group_interval"] = "1s"
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


_TEST_RULES = """
groups:
  - name: routing-test
    interval: 1s
    rules:
      - alert: DiskAlmostFull
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


def test_alerts_reach_slack_and_email_by_severity(tmp_path: Path, slack: _Slack, mailbox: tuple[_Mailbox, int]) -> None:
    box, smtp_port = mailbox
    am_port, prom_port = free_port(), free_port()
    am_cfg = _alertmanager_config(tmp_path, f"http://127.0.0.1:{slack.server_address[1]}/hook", smtp_port)
    check = subprocess.run([require_binary("amtool"), "check-config", str(am_cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    (tmp_path / "rules.yml").write_text(_TEST_RULES)
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump({
            "global": {"evaluation_interval": "1s"},
            "rule_files": [str(tmp_path / "rules.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        })
    )
    alertmanager = [
        require_binary("prometheus-alertmanager"), f"--config.file={am_cfg}", f"--storage.path={tmp_path / 'am'}",
        f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
    ]
    prometheus = [
        require_binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'prom'}", f"--web.listen-address=127.0.0.1:{prom_port}",
        "--rules.alert.resend-delay=1s",
    ]
    with (
        ServerProcess(alertmanager, f"http://127.0.0.1:{am_port}/-/ready"),
        ServerProcess(prometheus, f"http://127.0.0.1:{prom_port}/-/ready"),
    ):
        def titles(channel: str) -> set[str]:
            return {m["attachments"][0]["title"] for m in slack.messages if m.get("channel") == channel}

        _wait_for(lambda: len(titles("#alerts")) >= 2 and titles("#oncall") and len(box.mails) >= 2, 60,
                  "slack messages and mails")

    assert titles("#alerts") == {"[FIRING:1] DiskAlmostFull (shop/api)", "[FIRING:1] HighErrorRate (shop/api)"}
    assert titles("#oncall") == {"[FIRING:1] EscalatedCritical (shop/billing)"}
    text = next(m["attachments"][0]["text"] for m in slack.messages if "HighErrorRate" in m["attachments"][0]["title"])
    assert "*critical* 12% of requests fail" in text
    mails = {(rcpt[0], subject) for rcpt, subject in box.mails}
    # critical -> Slack and e-mail to SRE; page -> on-call channel and e-mail; warning -> Slack only
    assert ("sre@otel-distro.local", "[FIRING:1] HighErrorRate (shop/api)") in mails
    assert ("oncall@otel-distro.local", "[FIRING:1] EscalatedCritical (shop/billing)") in mails
    assert not any("DiskAlmostFull" in subject for _, subject in mails)
