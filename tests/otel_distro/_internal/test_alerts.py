"""Threshold alerts: raised once per incident, resolved once, posted to Alertmanager (the real one when installed,
else a stand-in following its ``/api/v2/alerts`` API), never holding up the app."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from otel_distro._internal import health_monitor, state
from otel_distro._internal.alerts import Alert, AlertmanagerPoster, ThresholdAlerts
from otel_distro._internal.request_stats import WindowStats
from otel_distro.settings import Settings, load_settings
from otel_distro.testing import OtelCapture
from tests.servers.processes import ServerProcess
from tests.support import free_port


def _window(requests: int, errors: int = 0, slow: int = 0) -> WindowStats:
    return WindowStats(requests, errors, slow, p95_estimate=0.1, span_s=60)


def _alerts(**changes: Any) -> ThresholdAlerts:
    return ThresholdAlerts(dataclasses.replace(load_settings({}), **changes), "shop")


def test_an_alert_is_raised_once_and_resolved_once(otel: OtelCapture) -> None:
    alerts = _alerts()
    timeline = [_window(100, errors=10)] * 3 + [_window(100, errors=1)] * 3 + [_window(100, errors=20)]
    changes = [[(a.name, a.ended_at is None) for a in alerts.evaluate(w, now=i)] for i, w in enumerate(timeline)]
    assert changes == [[("HighErrorRate", True)], [], [], [("HighErrorRate", False)], [], [], [("HighErrorRate", True)]]
    raised = [e for e in otel.logs if e["message"] == "alert_raised"]
    resolved = [e for e in otel.logs if e["message"] == "alert_resolved"]
    assert [e["level"] for e in raised] == ["error", "error"]  # two incidents
    assert [e["level"] for e in resolved] == ["info"]
    assert raised[0]["alert"] == "HighErrorRate" and raised[0]["severity"] == "critical"
    assert raised[0]["value"] == 0.1 and raised[0]["threshold"] == 0.05 and raised[0]["service"] == "shop"
    assert resolved[0]["duration_s"] == 3


def test_latency_and_error_rate_are_separate_alerts() -> None:
    alerts = _alerts()
    alerts.evaluate(_window(100, slow=6), now=0)
    assert set(alerts.firing) == {"HighLatency"}
    alerts.evaluate(_window(100, slow=6, errors=50), now=1)
    assert set(alerts.firing) == {"HighLatency", "HighErrorRate"}
    alerts.evaluate(_window(100, errors=50), now=2)
    assert set(alerts.firing) == {"HighErrorRate"}
    assert alerts.firing["HighErrorRate"].started_at == 1


def test_too_few_requests_never_raise_and_resolve_a_firing_alert() -> None:
    alerts = _alerts(alert_min_requests=20)
    assert alerts.evaluate(_window(19, errors=19)) == []
    alerts.evaluate(_window(20, errors=20))
    assert "HighErrorRate" in alerts.firing
    alerts.evaluate(_window(0))
    assert alerts.firing == {}


def test_thresholds_are_settings() -> None:
    alerts = _alerts(alert_error_rate=0.5)
    alerts.evaluate(_window(100, errors=40))
    assert alerts.firing == {}
    settings = load_settings({"OTEL_DISTRO_ALERT_ERROR_RATE": "20%", "OTEL_DISTRO_ALERT_LATENCY_P95": "750ms"})
    assert (settings.alert_error_rate, settings.alert_latency_p95) == (0.2, 0.75)


# -- end to end: an app's own requests, the monitor, Alertmanager ----------------------------------------------


class _StandIn(ThreadingHTTPServer):
    """Alertmanager's ``POST /api/v2/alerts`` (200 on a valid list of postable alerts, 400 otherwise) and
    ``GET /api/v2/alerts`` (the alerts not yet ended), as Alertmanager answers them."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts: list[list[dict[str, Any]]] = []
        self.alerts: dict[str, dict[str, Any]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _StandIn

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/api/v2/alerts" or not isinstance(body, list) or not all(
            isinstance(a.get("labels"), dict) and a["labels"].get("alertname") for a in body
        ):
            self._answer(400, {"message": "invalid alerts"})
            return
        self.server.posts.append(body)
        for alert in body:
            self.server.alerts[json.dumps(alert["labels"], sort_keys=True)] = alert
        self._answer(200, None)

    def do_GET(self) -> None:
        now = time.time()
        active = [
            {**a, "status": {"state": "active"}}
            for a in self.server.alerts.values()
            if datetime.fromisoformat(a["endsAt"]).timestamp() > now
        ]
        self._answer(200, active)

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(params=["alertmanager", "stand-in"])
def alertmanager(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, _StandIn | None]]:
    if request.param == "stand-in":
        server = _StandIn()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield server.url, server
        server.shutdown()
        server.server_close()
        return
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed (`make system-deps` installs it as root)")
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
    port = free_port()
    argv = [
        binary, f"--config.file={config}", f"--storage.path={tmp_path / 'am'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
    ]
    with ServerProcess(argv, f"http://127.0.0.1:{port}/-/ready"):
        yield f"http://127.0.0.1:{port}", None


def _active(url: str) -> dict[str, dict[str, Any]]:
    alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return {a["labels"]["alertname"]: a for a in alerts if a["status"]["state"] == "active"}


def _wait(what: str, condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _configure(**changes: Any) -> Settings:
    settings = dataclasses.replace(state.settings(), **changes)
    state.set_settings(settings)
    return settings


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/slow")
    async def slow() -> PlainTextResponse:
        await asyncio.sleep(0.3)
        return PlainTextResponse("done")

    @app.get("/fail")
    async def fail() -> PlainTextResponse:
        return PlainTextResponse("no", status_code=500)

    @app.get("/fast")
    async def fast() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app


@pytest.mark.parametrize(("route", "alertname", "severity"), [("/slow", "HighLatency", "warning"),
                                                              ("/fail", "HighErrorRate", "critical")])
def test_an_incident_fires_once_and_resolves_once_in_alertmanager(
    otel: OtelCapture, alertmanager: tuple[str, _StandIn | None], route: str, alertname: str, severity: str
) -> None:
    url, stand_in = alertmanager
    # thresholds far from what a loaded machine does to the other routes: only the incident under test can fire
    _configure(
        health_interval=0.1, alert_window=3.0, alert_min_requests=5,
        alert_latency_p95=0.25 if alertname == "HighLatency" else 30.0, alertmanager_url=url,
    )
    app = otel.instrument(_app())
    with TestClient(app) as client:
        monitor = health_monitor.monitor()
        for _ in range(8):
            client.get(route)
        _wait("the alert in Alertmanager", lambda: alertname in _active(url))
        alert = _active(url)[alertname]
        assert alert["labels"] == {"alertname": alertname, "service": "test", "severity": severity}
        assert alert["annotations"]["summary"].startswith("test: ")
        for _ in range(10):
            client.get("/fast")  # recovered traffic: the incident ends when the bad requests leave the window
        _wait("the alert resolved in Alertmanager", lambda: alertname not in _active(url))
        assert monitor.alerts.firing == {}

    raised = [e for e in otel.logs if e["message"] == "alert_raised"]
    resolved = [e for e in otel.logs if e["message"] == "alert_resolved"]
    assert [(e["alert"], e["level"]) for e in raised] == [(alertname, "error")]
    assert [(e["alert"], e["level"]) for e in resolved] == [(alertname, "info")]
    if stand_in is not None:
        sent = [a for post in stand_in.posts for a in post if a["labels"]["alertname"] == alertname]
        starts = {a["startsAt"] for a in sent}
        assert len(starts) == 1, "one incident: every post carries the same startsAt"
        first_end = datetime.fromisoformat(sent[0]["endsAt"]).timestamp()
        last_end = datetime.fromisoformat(sent[-1]["endsAt"]).timestamp()
        assert first_end > datetime.fromisoformat(sent[0]["startsAt"]).timestamp()  # firing: ends in the future
        assert last_end < first_end  # resolved: ended when it resolved


def test_an_unreachable_alertmanager_is_logged_once_and_never_holds_up_the_app(otel: OtelCapture) -> None:
    _configure(
        health_interval=0.05, alert_window=5, alert_min_requests=1, alertmanager_url=f"http://127.0.0.1:{free_port()}"
    )
    with TestClient(otel.instrument(_app())) as client:
        monitor = health_monitor.monitor()
        client.get("/fail")
        _wait("the alert", lambda: "HighErrorRate" in monitor.alerts.firing)
        runs = monitor.runs
        _wait("ten more runs", lambda: monitor.runs > runs + 10)
        assert client.get("/fast").status_code == 200
    failures = [e for e in otel.logs if e["message"] == "alertmanager_post_failed"]
    assert len(failures) == 1
    assert failures[0]["level"] == "warning" and "ClientConnectorError" in failures[0]["error"]


def test_an_alert_raised_again_before_its_resolve_was_delivered_shows_as_firing(
    alertmanager: tuple[str, _StandIn | None],
) -> None:
    url, _ = alertmanager
    poster = AlertmanagerPoster(url, "shop")

    async def scenario() -> None:
        now = time.time()
        first = Alert("HighErrorRate", "critical", "shop: errors", "first incident", now - 60, 0.5, 0.05)
        poster.update([first], [first], now - 60)  # posted in the background
        first.ended_at = now - 30
        poster.update([], [first], now - 30)  # resolved while that post is under way: said with the next one
        await poster.close()
        again = Alert("HighErrorRate", "critical", "shop: errors", "second incident", now, 0.5, 0.05)
        poster.update([again], [again], now)  # the new incident and the old one's resolve in one post
        await poster.close()

    asyncio.run(scenario())
    assert poster.posts == 2
    assert "HighErrorRate" in _active(url)  # the second incident fires (the first's resolve does not end it)
