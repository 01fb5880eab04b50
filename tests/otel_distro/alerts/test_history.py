"""``otel-distro alerts serve``: every firing and resolved notification of Alertmanager's webhook is recorded
(over SQLite and PostgreSQL), the history is read back with filters, and alerts are acknowledged."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
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


def test_a_notification_with_long_label_values_is_recorded_not_retried_for_ever(history: RunningHistory) -> None:
    # the name, severity and service columns are bounded (PostgreSQL refuses longer values); the labels keep it all
    long_job = "shop/" + "x" * 300
    response = httpx.post(f"{history.url}/webhook", json=notification(
        alert("A" * 250, severity="s" * 60, job=long_job), receiver="r" * 250))
    assert response.status_code == 200, response.text
    [recorded] = httpx.get(f"{history.url}/api/alerts").json()["alerts"]
    assert recorded["labels"]["job"] == long_job and recorded["labels"]["alertname"] == "A" * 250


def test_an_acknowledgement_by_a_too_long_name_is_refused_naming_it(history: RunningHistory) -> None:
    httpx.post(f"{history.url}/webhook", json=notification(alert()))
    response = httpx.post(f"{history.url}/api/alerts/f1/ack", json={"by": "b" * 201})
    assert response.status_code == 400
    assert "by: at most 200 characters" in response.json()["error"]


def test_a_silence_by_a_long_author_still_acknowledges(history: RunningHistory) -> None:
    # Alertmanager's createdBy is free text: refusing it would stop every check (and so every escalation)
    httpx.post(f"{history.url}/webhook", json=notification(alert()))
    store = history.service.store
    assert store.acknowledge("f1", by="c" * 300, reason="silence 1: deploy", now=1.0, kind="silenced")
    assert httpx.get(f"{history.url}/api/alerts/f1").json()["acknowledged"]["by"] == "c" * 200


def test_an_alert_whose_escalation_level_label_is_not_a_number_is_an_alert_of_its_own(
        history: RunningHistory) -> None:
    # not an escalation of this service's: recorded (a 5xx would make Alertmanager retry it for ever)
    response = httpx.post(f"{history.url}/webhook", json=notification(alert(escalation_level="urgent")))
    assert response.status_code == 200, response.text
    [recorded] = httpx.get(f"{history.url}/api/alerts").json()["alerts"]
    assert recorded["labels"]["escalation_level"] == "urgent"


@pytest.mark.parametrize("since", ['"quoted"', "back\\slash"])
def test_a_bad_time_filter_is_refused_with_a_json_error(history: RunningHistory, since: str) -> None:
    response = httpx.get(f"{history.url}/api/alerts", params={"since": since})
    assert response.status_code == 400
    assert response.json()["error"].startswith("since: expected an RFC 3339 time")


def test_a_notification_retried_after_a_failed_write_is_recorded_once(tmp_path: Path) -> None:
    # Alertmanager retries a whole notification after a 5xx: what was stored of it must not be stored twice
    db = tmp_path / "history.db"
    for running in run_history(database_url=f"sqlite:///{db}", alertmanager_url=None, escalate_after=900,
                               escalate_again_after=900):
        with sqlite3.connect(db) as conn:  # the database fails on the second alert of the notification
            conn.execute("CREATE TRIGGER fail BEFORE INSERT ON alert_history_alerts WHEN NEW.alertname = 'Second' "
                         "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        body = notification(alert("First", fingerprint="a"), alert("Second", fingerprint="b"))
        assert httpx.post(f"{running.url}/webhook", json=body).status_code == 503
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TRIGGER fail")
        assert httpx.post(f"{running.url}/webhook", json=body).status_code == 200
        first = httpx.get(f"{running.url}/api/alerts/a").json()
        assert [n["receiver"] for n in first["notifications"]] == ["slack-and-email"]


def test_an_alert_with_a_large_label_set_is_recorded_and_its_escalations_found(history: RunningHistory) -> None:
    # the label set is looked up by a key that PostgreSQL's btree index must hold (at most ~2.7 kB)
    detail = os.urandom(2000).hex()  # incompressible
    response = httpx.post(f"{history.url}/webhook", json=notification(alert(detail=detail)))
    assert response.status_code == 200, response.text
    httpx.post(f"{history.url}/webhook", json=notification(
        alert(detail=detail, escalation_level="1", fingerprint="f-esc"), receiver="escalation-1"))
    recorded = httpx.get(f"{history.url}/api/alerts/f1").json()
    assert recorded["labels"]["detail"] == detail
    assert [(n["receiver"], n["escalation_level"]) for n in recorded["notifications"]] == [
        ("slack-and-email", 0), ("escalation-1", 1)]
