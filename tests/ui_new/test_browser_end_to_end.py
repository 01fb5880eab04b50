"""End to end in a real browser: the ui-new demo page in Debian's Chromium (driven by playwright-core, no browser
download) against the demo app under ``opentelemetry-instrument``, the collector (file exporter), a local Sentry
envelope receiver behind the app's ``/monitoring/tunnel``, and the analytics table in a fresh PostgreSQL database.

One pass logs in, chats, generates an image and clicks each ``trigger-*`` button. Then:
- each trigger produced exactly one Sentry event, with the context its kind asks for;
- the API error's event has the trace id of the backend's server span for that request (read from the collector's
  file output, found by the request id the page shows);
- login, chat and image events are rows of ``analytics_events``;
- no password, e-mail or token appears in any envelope, analytics row or span.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from collector.testing import running_collector
from tests.servers.sentry import SentryReceiver
from tests.support import ROOT, free_port
from tests.test_end_to_end import DemoApp, eventually

pytestmark = pytest.mark.slow

UI = ROOT / "ui-new"
CHROMIUM = "/usr/bin/chromium"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
USERNAME = "ada.lovelace@example.com"  # an e-mail as username: it must never leave the browser in clear text
PASSWORD = "demo-password"  # the demo app's password (demo_app.main.DEMO_PASSWORD)
TOKEN = hashlib.sha256(f"{USERNAME}:session".encode()).hexdigest()[:32]  # what /auth/login answers
# errorTracking.pseudonymousId: what the browser calls the user instead of the username
PSEUDONYM = "u_" + hashlib.sha256(f"otel-distro-user:{USERNAME.lower()}".encode()).hexdigest()[:24]
PRODUCT_EVENTS = {"login", "chat_message_sent", "image_generated"}


@pytest.fixture(autouse=True)
def _requirements() -> None:
    """Skip, saying why, before building anything, when the browser, node or the packages are missing."""
    missing = [what for what, ok in (
        ("node", shutil.which("node") is not None),
        (CHROMIUM + " (Debian package chromium; `make test` installs it as root)", Path(CHROMIUM).exists()),
        ("ui-new/node_modules/playwright-core (`make test` runs npm ci)",
         (UI / "node_modules" / "playwright-core").is_dir()),
    ) if not ok]
    if missing:
        pytest.skip("browser end-to-end test needs " + ", ".join(missing))
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", 5432)) != 0:
            pytest.skip("no PostgreSQL on 127.0.0.1:5432")


@pytest.fixture
def analytics_database() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards."""
    name = f"ui_e2e_{secrets.token_hex(6)}"
    admin = create_engine(f"{POSTGRES}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def ui_dist(tmp_path: Path) -> Path:
    """The demo page built from the current sources (not whatever ui-new/dist holds)."""
    out = tmp_path / "ui-dist"
    build = subprocess.run(["npx", "vite", "build", "--outDir", str(out), "--emptyOutDir", "--logLevel", "warn"],
                           cwd=UI, capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stdout + build.stderr
    return out


def _collector_config(otlp_port: int, traces_file: Path) -> dict[str, Any]:
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp_port}"}}}},
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {"file": {"path": str(traces_file)}},
        "service": {
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["file"]}},
            "telemetry": {"metrics": {"level": "none"}},
        },
    }


def _drive(url: str, user_data_dir: Path) -> list[dict[str, Any]]:
    options = {
        "url": url, "userDataDir": str(user_data_dir), "executablePath": CHROMIUM,
        "credentials": {"username": USERNAME, "password": PASSWORD},
        "chat": "hello from the browser", "prompt": "a lighthouse at dusk",
    }
    run = subprocess.run(["node", "e2e/drive.mjs", json.dumps(options)], cwd=UI, capture_output=True, text=True,
                         timeout=90)
    assert run.returncode == 0, f"the browser driver failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    steps = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert steps and steps[-1]["step"] == "done", run.stdout + run.stderr[-4000:]
    return steps


def _spans(traces_file: Path) -> list[dict[str, Any]]:
    spans = []
    if traces_file.exists():
        for line in traces_file.read_text().splitlines():
            for resource in json.loads(line).get("resourceSpans", []):
                for scope in resource.get("scopeSpans", []):
                    spans.extend(scope.get("spans", []))
    return spans


def _attribute(span: dict[str, Any], key: str) -> Any:
    for attribute in span.get("attributes", []):
        if attribute["key"] == key:
            return next(iter(attribute["value"].values()), None)
    return None


def _rows(database_url: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            if not connection.execute(text("SELECT to_regclass('analytics_events')")).scalar():
                return []
            return [dict(row._mapping) for row in connection.execute(text("SELECT * FROM analytics_events"))]
    finally:
        engine.dispose()


def _browser_events(sentry: SentryReceiver) -> list[dict[str, Any]]:
    return [event for event in sentry.events() if event.get("platform") == "javascript"]


def _product_rows(database_url: str) -> list[dict[str, Any]] | None:
    rows = _rows(database_url)
    return rows if {row["name"] for row in rows} >= PRODUCT_EVENTS else None


def test_each_browser_failure_is_one_sentry_event_on_the_backends_trace(
        tmp_path: Path, analytics_database: str, ui_dist: Path) -> None:
    otlp_port = free_port()
    traces_file = tmp_path / "traces.jsonl"
    closed_port = free_port()  # nothing listens here: the network error's target
    with SentryReceiver() as sentry, running_collector(_collector_config(otlp_port, traces_file)):
        app = DemoApp(tmp_path, otlp_port)
        app.env.update({
            "SENTRY_DSN": sentry.dsn,
            "OTEL_DISTRO_ANALYTICS_DATABASE_URL": analytics_database,
            "OTEL_DISTRO_ANALYTICS_FLUSH_INTERVAL": "200ms",
            "DEMO_UI_DIST": str(ui_dist),
        })
        try:
            app.start()
            steps = _drive(f"{app.url}/ui/?unreachable=http://127.0.0.1:{closed_port}/unreachable",
                           tmp_path / "chromium-profile")
            eventually(lambda: len(_browser_events(sentry)) >= 4, "four browser events at the Sentry receiver", 15)
            rows = eventually(lambda: _product_rows(analytics_database), "the product events in analytics_events", 15)
        finally:
            app.stop()  # flushes the app's last spans into the collector, which drains them into the file on exit
    spans = _spans(traces_file)
    by_step = {step["step"]: step for step in steps}
    assert by_step["loaded"]["errorTracking"] == "on"

    # Exactly one event per trigger, nothing else from the browser (no second event for a rethrown API error).
    browser_events = _browser_events(sentry)
    values = [e["exception"]["values"][-1] for e in browser_events]
    assert sorted(v["type"] for v in values) == ["ApiError", "Error", "Error", "NetworkError"], values
    by_value = {v["value"].split(" answered")[0].split(" failed")[0]: e for v, e in zip(values, browser_events,
                                                                                         strict=True)}
    thrown = by_value["demo: thrown in a click handler"]
    rejected = by_value["demo: unhandled promise rejection"]
    api_error = by_value["GET /fail"]
    network_error = by_value[f"GET http://127.0.0.1:{closed_port}/unreachable"]
    assert thrown["exception"]["values"][-1]["mechanism"]["handled"] is False
    assert rejected["exception"]["values"][-1]["mechanism"]["type"].endswith("onunhandledrejection")

    # The API error: its context, and the trace id of the backend's server span for that very request.
    api_step = by_step["trigger-api-error"]
    assert api_error["contexts"]["api"] | {"response_body": None} == {
        "endpoint": "/fail", "method": "GET", "status_code": 500, "request_id": api_step["requestId"],
        "trace_id": api_step["traceId"], "attempts": 1, "response_body": None}
    assert api_error["level"] == "error"
    assert api_error["tags"]["request_id"] == api_step["requestId"]
    [server_span] = [s for s in spans
                     if s["name"] == "GET /fail" and _attribute(s, "request_id") == api_step["requestId"]]
    assert api_error["contexts"]["trace"]["trace_id"] == server_span["traceId"] == api_step["traceId"]
    assert server_span["parentSpanId"] == api_error["contexts"]["trace"]["span_id"]  # the browser's span
    assert int(_attribute(server_span, "http.response.status_code")) == 500  # OTLP/JSON: int64 as a string

    # The network error: no answer, its context, retried (GET is idempotent), reported once.
    network_step = by_step["trigger-network-error"]
    assert network_error["contexts"]["api"]["status_code"] is None
    assert network_error["contexts"]["api"]["request_id"] == network_step["requestId"]
    assert network_error["contexts"]["api"]["attempts"] == 3
    assert network_error["contexts"]["trace"]["trace_id"] == network_step["traceId"]

    # The page names the user by a pseudonym only (the tunnel may scrub even that before Sentry sees it).
    sent_by_page = "\n".join(by_step["tunnel"]["bodies"])
    assert sent_by_page.count(f'"user":{{"id":"{PSEUDONYM}"}}') >= 4
    for event in browser_events:
        assert event["user"] in ({"id": PSEUDONYM}, {"id": "[REDACTED:user]"})

    # Analytics: the three product events, with their properties.
    named = {row["name"]: row for row in rows}
    assert [row["name"] for row in rows if row["name"] in PRODUCT_EVENTS].count("login") == 1
    assert named["login"]["properties"].items() >= {"method": "password", "success": True}.items()
    assert named["chat_message_sent"]["properties"]["message_length"] == len("hello from the browser")
    assert named["image_generated"]["properties"]["prompt_length"] == len("a lighthouse at dusk")

    # The login, chat and image calls are the backend's server spans too (one trace each, as the page shows).
    for step, name in (("login", "POST /auth/login"), ("chat", "POST /chat/messages"),
                       ("image", "POST /images/generate")):
        assert any(s["name"] == name and s["traceId"] == by_step[step]["traceId"] for s in spans), step

    # No password, e-mail or token in any envelope, row or span.
    envelopes = b"\n".join(received.envelope.serialize() for received in sentry.received).decode(errors="replace")
    everything = {"envelopes from the page": sent_by_page, "envelopes at Sentry": envelopes,
                  "rows": json.dumps(rows, default=str), "spans": json.dumps(spans)}
    for where, blob in everything.items():
        for secret in (PASSWORD, USERNAME, "example.com", TOKEN):
            assert secret not in blob, f"{secret!r} found in {where}"
    assert sentry.rejected == []
