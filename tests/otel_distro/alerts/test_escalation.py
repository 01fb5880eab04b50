"""Escalation: a critical alert firing and not acknowledged is re-posted to Alertmanager with
``escalation_level`` 1 after ``escalate_after``, 2 after ``escalate_again_after`` more; acknowledging (through
the API or an Alertmanager silence) or resolving it resolves its escalations there. Against a stand-in for
Alertmanager's API v2 (``POST /api/v2/alerts``, ``GET /api/v2/alerts``, ``GET /api/v2/silence/{id}``); the
end-to-end test uses a real Alertmanager."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from otel_distro.alerts._alertmanager import AlertmanagerClient
from otel_distro.alerts._escalation import Escalator, rfc3339
from otel_distro.alerts._store import AlertStore
from tests.servers._http import LocalHTTPServer

START = datetime.fromisoformat("2026-12-06T10:00:00+00:00").timestamp()


class FakeAlertmanager(LocalHTTPServer):
    def __init__(self) -> None:
        super().__init__()
        self.posted: list[dict[str, Any]] = []
        self.silenced: list[dict[str, Any]] = []
        self.active: list[dict[str, Any]] = [{"fingerprint": "f1"}]  # what Alertmanager holds unresolved
        self.silences: dict[str, dict[str, Any]] = {}

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        json_headers = {"Content-Type": "application/json"}
        with self._lock:
            if method == "POST" and target == "/api/v2/alerts":
                self.posted.extend(json.loads(body))
                return 200, json_headers, b""
            if method == "GET" and target.startswith("/api/v2/alerts?"):
                listed = self.active if "active=true" in target else self.silenced
                if "inhibited=false" in target:  # Alertmanager's filter: inhibited alerts are left out
                    listed = [a for a in listed if not a.get("status", {}).get("inhibitedBy")]
                return 200, json_headers, json.dumps(listed).encode()
            if method == "GET" and target.startswith("/api/v2/silence/"):
                silence = self.silences.get(target.rsplit("/", 1)[1])
                return (200, json_headers, json.dumps(silence).encode()) if silence else (404, {}, b"")
        return 404, {}, b""

    def levels(self, now: float = 0.0) -> list[tuple[str, str, bool]]:
        """(alertname, escalation_level, still firing at ``now`` in Alertmanager's eyes) of every posted alert."""
        with self._lock:
            return [(a["labels"]["alertname"], a["labels"]["escalation_level"], a["endsAt"] > rfc3339(now))
                    for a in self.posted]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def alertmanager() -> Iterator[FakeAlertmanager]:
    with FakeAlertmanager() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AlertStore]:
    store = AlertStore(f"sqlite:///{tmp_path / 'history.db'}")
    store.create_tables()
    yield store
    store.close()


def firing(store: AlertStore, name: str = "HighErrorRate", *, severity: str = "critical", fp: str = "f1") -> None:
    store.record_notification({"status": "firing", "labels": {"alertname": name, "severity": severity, "job": "x"},
                               "annotations": {"summary": "s"}, "starts_at": START, "ends_at": None,
                               "fingerprint": fp}, receiver="slack-and-email", group_key="", now=START)


def escalator(store: AlertStore, alertmanager: FakeAlertmanager, clock: Clock) -> Escalator:
    client = AlertmanagerClient(f"http://127.0.0.1:{alertmanager.port}")
    return Escalator(store, client, escalate_after=900, escalate_again_after=600, check_interval=15, clock=clock)


def check(esc: Escalator) -> None:
    async def once() -> None:
        try:
            await esc.check()
        finally:
            if esc._am is not None:
                await esc._am.close()

    asyncio.run(once())


def events(store: AlertStore, fp: str = "f1") -> list[tuple[str, int | None, str | None]]:
    row = store.latest(fp)
    assert row is not None
    return [(e["kind"], e["level"], e["by"]) for e in row["events"]]


def test_level_1_after_escalate_after_then_level_2_then_withdrawn_on_ack(
        store: AlertStore, alertmanager: FakeAlertmanager) -> None:
    clock = Clock()
    firing(store)
    esc = escalator(store, alertmanager, clock)
    clock.now = START + 899
    check(esc)
    assert alertmanager.levels(clock.now) == []  # just under 15 minutes
    clock.now = START + 900
    check(esc)
    assert alertmanager.levels(clock.now) == [("HighErrorRate", "1", True)]
    assert events(store) == [("escalated", 1, None)]
    posted = alertmanager.posted[0]
    assert posted["labels"] == {"alertname": "HighErrorRate", "severity": "critical", "job": "x",
                                "escalation_level": "1"}
    assert posted["startsAt"] == "2026-12-06T10:00:00.000Z"
    clock.now = START + 900 + 599
    check(esc)  # re-posted, not escalated further
    assert alertmanager.levels(clock.now)[-1] == ("HighErrorRate", "1", True)
    clock.now = START + 1500
    check(esc)
    assert alertmanager.levels(clock.now)[-2:] == [("HighErrorRate", "1", True), ("HighErrorRate", "2", True)]
    assert events(store) == [("escalated", 1, None), ("escalated", 2, None)]
    store.acknowledge("f1", by="alice", reason="on it", now=clock.now)
    alertmanager.posted.clear()
    clock.now += 15
    check(esc)
    assert alertmanager.levels(clock.now) == [("HighErrorRate", "1", False), ("HighErrorRate", "2", False)]
    assert events(store)[-2:] == [("ack", None, "alice"), ("escalation_resolved", 2, None)]
    alertmanager.posted.clear()
    clock.now += 3600
    check(esc)
    assert alertmanager.levels(clock.now) == []  # nothing more


def test_an_acknowledged_alert_is_never_escalated(store: AlertStore, alertmanager: FakeAlertmanager) -> None:
    clock = Clock()
    firing(store)
    store.acknowledge("f1", by="bob", reason="known", now=START + 60)
    clock.now = START + 7200
    check(escalator(store, alertmanager, clock))
    assert alertmanager.levels(clock.now) == []


def test_warnings_are_not_escalated(store: AlertStore, alertmanager: FakeAlertmanager) -> None:
    clock = Clock()
    firing(store, "DiskSpaceLow", severity="warning")
    clock.now = START + 7200
    check(escalator(store, alertmanager, clock))
    assert alertmanager.levels(clock.now) == []


def test_a_resolved_alert_withdraws_its_escalation(store: AlertStore, alertmanager: FakeAlertmanager) -> None:
    clock = Clock()
    firing(store)
    clock.now = START + 901
    esc = escalator(store, alertmanager, clock)
    check(esc)
    store.record_notification({"status": "resolved", "labels": {"alertname": "HighErrorRate", "severity": "critical",
                                                                "job": "x"}, "annotations": {}, "starts_at": START,
                               "ends_at": START + 1000, "fingerprint": "f1"}, receiver="r", group_key="",
                              now=START + 1000)
    alertmanager.posted.clear()
    clock.now = START + 1010
    check(esc)
    assert alertmanager.levels(clock.now) == [("HighErrorRate", "1", False)]


def test_a_silence_in_alertmanager_counts_as_an_acknowledgement(
        store: AlertStore, alertmanager: FakeAlertmanager) -> None:
    clock = Clock()
    firing(store)
    alertmanager.silenced = [{"fingerprint": "f1", "labels": {}, "status": {"state": "suppressed",
                                                                           "silencedBy": ["s-1"]}}]
    alertmanager.silences["s-1"] = {"id": "s-1", "createdBy": "carol", "comment": "maintenance window"}
    clock.now = START + 7200
    check(escalator(store, alertmanager, clock))
    assert alertmanager.levels(clock.now) == []
    row = store.latest("f1")
    assert row is not None and row["acked_by"] == "carol"
    assert row["ack_reason"] == "silence s-1: maintenance window"
    assert events(store) == [("silenced", None, "carol")]


def test_a_silenced_alert_that_is_also_inhibited_counts_as_acknowledged(
        store: AlertStore, alertmanager: FakeAlertmanager) -> None:
    clock = Clock()
    firing(store)
    alertmanager.silenced = [{"fingerprint": "f1", "labels": {}, "status": {
        "state": "suppressed", "silencedBy": ["s-1"], "inhibitedBy": ["f-api-down"]}}]
    alertmanager.silences["s-1"] = {"id": "s-1", "createdBy": "carol", "comment": "maintenance window"}
    clock.now = START + 7200
    check(escalator(store, alertmanager, clock))
    row = store.latest("f1")
    assert row is not None and row["acked_by"] == "carol"


def test_escalation_notifications_are_recorded_on_the_alert_they_escalate(store: AlertStore) -> None:
    firing(store)
    store.record_notification({"status": "firing", "labels": {"alertname": "HighErrorRate", "severity": "critical",
                                                              "job": "x", "escalation_level": "1"},
                               "annotations": {}, "starts_at": START, "ends_at": None, "fingerprint": "f-esc"},
                              receiver="escalation-1", group_key="", now=START + 901)
    row = store.latest("f1")
    assert row is not None
    assert [(n["receiver"], n["escalation_level"]) for n in row["notifications"]] == [
        ("slack-and-email", 0), ("escalation-1", 1)]
    assert store.latest("f-esc") is None  # not an alert of its own


def test_alertmanager_down_leaves_the_escalation_due_for_the_next_check(store: AlertStore) -> None:
    clock = Clock()
    firing(store)
    clock.now = START + 901
    down = LocalHTTPServer()
    down.start()
    port = down.port
    down.stop()
    esc = Escalator(store, AlertmanagerClient(f"http://127.0.0.1:{port}"), escalate_after=900,
                    escalate_again_after=600, check_interval=15, clock=clock)
    check(esc)
    assert events(store) == []  # not recorded: Alertmanager never had it


def test_an_episode_alertmanager_no_longer_holds_is_closed_and_not_escalated(
        store: AlertStore, alertmanager: FakeAlertmanager) -> None:
    """Its resolved notification was lost (this service was down): without closing it, it would escalate for ever."""
    clock = Clock()
    firing(store)
    alertmanager.active = []
    esc = escalator(store, alertmanager, clock)
    clock.now = START + 299
    check(esc)
    row = store.latest("f1")
    assert row is not None and row["state"] == "firing"  # within the grace period: Alertmanager may relearn it
    clock.now = START + 900
    check(esc)
    row = store.latest("f1")
    assert row is not None and row["state"] == "resolved" and row["ends_at"] == START + 900
    assert events(store) == [("resolved_unnotified", None, None)]
    assert alertmanager.levels(clock.now) == []
