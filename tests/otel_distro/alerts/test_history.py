"""``otel-distro alerts serve``: every firing and resolved notification of Alertmanager's webhook is recorded
(over SQLite and PostgreSQL), the history is read back with filters, and alerts are acknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.otel_distro.alerts.conftest import RunningHistory, run_history


def alert(name: str = "HighErrorRate", *, status: str = "firing", severity: str = "critical", job: str = "shop/api",
          fingerprint: str = "f1", starts: str = "2026-12-06T10:00:00Z", ends: str = "0001-01-01T00:00:00Z",
          **labels: str) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": name, "severity": severity, "job": job, **labels},
            "annotations": {"summary": f"{name} on {job}"}, "startsAt": starts, "endsAt": ends,
            "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint}


def notification(*alerts: dict[str, Any], receiver: str = "slack-and-email") -> dict[str, Any]:
    return {"version": "4", "receiver": receiver, "status": alerts[0]["status"], "groupKey": "{}:{}",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
            "truncatedAlerts": 0, "alerts": list(alerts)}


@pytest.fixture
def history(database_url: str) -> Iterator[RunningHistory]:
    yield from run_history(database_url=database_url, alertmanager_url=None, escalate_after=900,
                           escalate_again_after=900)


def test_firing_and_resolved_notifications_are_recorded_with_their_receivers(history: RunningHistory) -> None:
    url = history.url
    assert httpx.post(f"{url}/webhook", json=notification(alert())).json() == {"recorded": 1}
    httpx.post(f"{url}/webhook", json=notification(alert(), receiver="alert-history"))
    httpx.post(f"{url}/webhook", json=notification(alert(status="resolved", ends="2026-12-06T10:20:00Z")))

    [recorded] = httpx.get(f"{url}/api/alerts").json()["alerts"]
    assert recorded["alertname"] == "HighErrorRate" and recorded["fingerprint"] == "f1"
    assert recorded["state"] == "resolved"
    assert recorded["starts_at"] == "2026-12-06T10:00:00.000Z" and recorded["ends_at"] == "2026-12-06T10:20:00.000Z"
    assert recorded["labels"] == {"alertname": "HighErrorRate", "severity": "critical", "job": "shop/api"}
    assert recorded["annotations"] == {"summary": "HighErrorRate on shop/api"}
    assert recorded["receivers"] == ["alert-history", "slack-and-email"]
    assert [n["status"] for n in recorded["notifications"]] == ["firing", "firing", "resolved"]
    assert recorded["acknowledged"] is None


def test_an_alert_firing_again_later_is_a_new_episode(history: RunningHistory) -> None:
    httpx.post(f"{history.url}/webhook", json=notification(alert(status="resolved", ends="2026-12-06T10:20:00Z")))
    httpx.post(f"{history.url}/webhook", json=notification(alert(starts="2026-12-06T12:00:00Z")))
    episodes = httpx.get(f"{history.url}/api/alerts").json()["alerts"]
    assert [(e["starts_at"], e["state"]) for e in episodes] == [("2026-12-06T12:00:00.000Z", "firing"),
                                                                ("2026-12-06T10:00:00.000Z", "resolved")]


def test_the_history_is_filtered_by_time_service_severity_and_state(history: RunningHistory) -> None:
    url = history.url
    httpx.post(f"{url}/webhook", json=notification(
        alert(fingerprint="a"), alert("DiskSpaceLow", severity="warning", fingerprint="b", job="shop/chat"),
        alert("ApiEndpointDown", fingerprint="c", starts="2026-12-01T00:00:00Z", status="resolved",
              ends="2026-12-01T01:00:00Z")))

    def names(**params: str) -> list[str]:
        response = httpx.get(f"{url}/api/alerts", params=params)
        assert response.status_code == 200, response.text
        return sorted(a["alertname"] for a in response.json()["alerts"])

    assert names() == ["ApiEndpointDown", "DiskSpaceLow", "HighErrorRate"]
    assert names(service="shop/chat") == ["DiskSpaceLow"]
    assert names(severity="critical") == ["ApiEndpointDown", "HighErrorRate"]
    assert names(state="resolved") == ["ApiEndpointDown"]
    assert names(since="2026-12-05T00:00:00Z") == ["DiskSpaceLow", "HighErrorRate"]
    assert names(until="2026-12-02T00:00:00Z") == ["ApiEndpointDown"]
    assert names(state="unacknowledged", severity="warning") == ["DiskSpaceLow"]


def test_acknowledging_records_who_and_why(history: RunningHistory) -> None:
    url = history.url
    httpx.post(f"{url}/webhook", json=notification(alert()))
    response = httpx.post(f"{url}/api/alerts/f1/ack", json={"by": "alice", "reason": "rolling back deploy 42"})
    assert response.status_code == 200
    ack = response.json()["acknowledged"]
    assert ack["by"] == "alice" and ack["reason"] == "rolling back deploy 42"
    httpx.post(f"{url}/api/alerts/f1/ack", json={"by": "bob", "reason": "me too"})
    detail = httpx.get(f"{url}/api/alerts/f1").json()
    assert detail["acknowledged"]["by"] == "alice"  # the first acknowledgement stands
    assert [(e["kind"], e["by"]) for e in detail["events"]] == [("ack", "alice"), ("ack", "bob")]
    assert [a["alertname"] for a in httpx.get(f"{url}/api/alerts", params={"state": "acknowledged"}).json()[
        "alerts"]] == ["HighErrorRate"]


@pytest.mark.parametrize(("path", "body", "status", "message"), [
    ("/api/alerts/f1/ack", {"reason": "x"}, 400, "by: required"),
    ("/api/alerts/nope/ack", {"by": "alice"}, 404, "no alert with fingerprint 'nope'"),
    ("/webhook", {"receiver": "x", "status": "firing", "alerts": [{"status": "firing"}]}, 400, "alerts.0.labels"),
    ("/webhook", {"receiver": "x", "status": "sleeping", "alerts": []}, 400, "status"),
])
def test_bad_requests_are_refused_naming_what_is_wrong(history: RunningHistory, path: str, body: dict[str, Any],
                                                       status: int, message: str) -> None:
    httpx.post(f"{history.url}/webhook", json=notification(alert()))
    response = httpx.post(f"{history.url}{path}", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_bad_filters_are_refused(history: RunningHistory) -> None:
    assert httpx.get(f"{history.url}/api/alerts", params={"state": "open"}).status_code == 400
    response = httpx.get(f"{history.url}/api/alerts", params={"since": "yesterday"})
    assert response.status_code == 400 and "since" in response.json()["error"]


def test_health(history: RunningHistory) -> None:
    assert httpx.get(f"{history.url}/health").json() == {"status": "ok"}
