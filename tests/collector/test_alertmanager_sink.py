"""The Alertmanager sink: posts alerts in the background, keeps them through an outage, holds a resolution
until its firing state was delivered, never blocks the caller, and counts what it drops. Against a stand-in
that answers as Alertmanager's ``POST /api/v2/alerts`` does (200 with an empty body; 400 on a bad alert); the
end-to-end tests use a real Alertmanager."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import structlog

from collector.alertmanager_sink import Alert, AlertmanagerSink, SinkConfig
from collector.testing import RecordingTelemetry
from tests.servers._http import LocalHTTPServer


class FakeAlertmanager(LocalHTTPServer):
    def __init__(self) -> None:
        super().__init__()
        self.posts: list[list[dict[str, Any]]] = []
        self.status = 200

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        if method != "POST" or target != "/api/v2/alerts":
            return 404, {}, b""
        with self._lock:
            if self.status == 200:
                self.posts.append(json.loads(body))
        return self.status, {"Content-Type": "application/json"}, b"" if self.status == 200 else b'"bad"'

    def alerts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [a for post in self.posts for a in post]


@pytest.fixture
def alertmanager() -> Iterator[FakeAlertmanager]:
    with FakeAlertmanager() as server:
        yield server


def _alert(key: str = "a", *, resolved_at: float | None = None, starts: float = 1_800_000_000.0) -> Alert:
    return Alert(key=key, labels={"alertname": key.upper(), "severity": "warning"},
                 annotations={"summary": "s"}, starts_at=starts, ends_at=resolved_at,
                 generator_url="http://grafana/explore")


def run(alertmanager: FakeAlertmanager | None, body: Callable[[AlertmanagerSink], Awaitable[None]],
        telemetry: RecordingTelemetry | None = None, **cfg: Any) -> None:
    endpoint = f"http://127.0.0.1:{alertmanager.port}" if alertmanager else "http://127.0.0.1:9"
    config = SinkConfig.model_validate({"endpoint": endpoint, "retry_on_failure": {"initial_interval": "50ms",
                                                                                  "max_interval": "100ms"}, **cfg})
    sink = AlertmanagerSink(config, telemetry or RecordingTelemetry(), {"processor": "alert_rules"},
                            structlog.get_logger("test"))

    async def main() -> None:
        await sink.start()
        try:
            await body(sink)
        finally:
            await sink.shutdown()

    asyncio.run(main())


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def test_a_firing_alert_is_posted_with_labels_annotations_link_and_an_end_in_the_future(
        alertmanager: FakeAlertmanager) -> None:
    async def body(sink: AlertmanagerSink) -> None:
        sink.submit(_alert())
        await until(lambda: bool(alertmanager.alerts()))

    run(alertmanager, body)
    [posted] = alertmanager.alerts()
    assert posted["labels"] == {"alertname": "A", "severity": "warning"}
    assert posted["annotations"] == {"summary": "s"}
    assert posted["generatorURL"] == "http://grafana/explore"
    assert posted["startsAt"] == "2027-01-15T08:00:00.000Z"
    ends = time.mktime(time.strptime(posted["endsAt"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert ends > time.time() + 200  # endsAt = post time + expire_after (240s)


def test_alerts_wait_out_an_outage_and_arrive_once_alertmanager_is_back(alertmanager: FakeAlertmanager) -> None:
    telemetry = RecordingTelemetry()
    alertmanager.stop()

    async def body(sink: AlertmanagerSink) -> None:
        for key in "abc":
            sink.submit(_alert(key))
        await until(lambda: telemetry.value("otelcol_processor_alert_rules_send_failed_total") >= 2)
        assert sink.queued() == 3
        alertmanager.start()
        await until(lambda: len(alertmanager.alerts()) == 3)

    run(alertmanager, body, telemetry)
    assert sorted(a["labels"]["alertname"] for a in alertmanager.alerts()) == ["A", "B", "C"]
    assert telemetry.value("otelcol_processor_alert_rules_alerts_sent_total") == 3
    assert telemetry.value("otelcol_processor_alert_rules_alerts_dropped_total") == 0


def test_an_alert_that_fired_and_resolved_during_an_outage_arrives_firing_then_resolved(
        alertmanager: FakeAlertmanager) -> None:
    alertmanager.stop()

    async def body(sink: AlertmanagerSink) -> None:
        sink.submit(_alert())
        sink.submit(_alert(resolved_at=time.time()))
        await asyncio.sleep(0.2)
        alertmanager.start()
        await until(lambda: len(alertmanager.alerts()) == 2)

    run(alertmanager, body, resolve_hold="300ms")
    firing, resolved = alertmanager.alerts()
    assert firing["endsAt"] > resolved["endsAt"]  # first posted firing (ends in the future), then the resolution
    assert len(alertmanager.posts) == 2  # in two posts, the resolution held back


def test_newer_states_of_one_alert_replace_older_ones_in_the_buffer(alertmanager: FakeAlertmanager) -> None:
    alertmanager.stop()

    async def body(sink: AlertmanagerSink) -> None:
        for _ in range(50):
            sink.submit(_alert())  # re-sends of one firing alert
        assert sink.queued() == 1
        alertmanager.start()
        await until(lambda: len(alertmanager.alerts()) == 1)

    run(alertmanager, body)


def test_distinct_alerts_beyond_the_queue_size_are_dropped_and_counted() -> None:
    telemetry = RecordingTelemetry()

    async def body(sink: AlertmanagerSink) -> None:
        for key in "abcde":
            sink.submit(_alert(key))
        assert sink.queued() == 3

    run(None, body, telemetry, queue_size=3, timeout="100ms")
    assert telemetry.value("otelcol_processor_alert_rules_alerts_dropped_total", reason="queue_full") == 2


def test_a_rejected_batch_is_dropped_and_counted_not_retried(alertmanager: FakeAlertmanager) -> None:
    telemetry = RecordingTelemetry()
    alertmanager.status = 400

    async def body(sink: AlertmanagerSink) -> None:
        sink.submit(_alert())
        await until(lambda: telemetry.value("otelcol_processor_alert_rules_alerts_dropped_total") == 1)
        assert sink.queued() == 0

    run(alertmanager, body, telemetry)
    assert telemetry.value("otelcol_processor_alert_rules_alerts_dropped_total", reason="rejected") == 1
    assert telemetry.value("otelcol_processor_alert_rules_send_failed_total") == 0


def test_the_resolution_of_a_rejected_alert_is_dropped_with_it_not_held_for_ever(
        alertmanager: FakeAlertmanager) -> None:
    telemetry = RecordingTelemetry()
    alertmanager.status = 400

    async def body(sink: AlertmanagerSink) -> None:
        sink.submit(_alert())
        sink.submit(_alert(resolved_at=time.time()))  # held until the firing state is delivered, which never is
        await until(lambda: telemetry.value("otelcol_processor_alert_rules_alerts_dropped_total") == 2)
        assert sink.queued() == 0

    run(alertmanager, body, telemetry)
    assert telemetry.value("otelcol_processor_alert_rules_alerts_dropped_total", reason="rejected") == 2


def test_without_an_endpoint_nothing_is_sent_or_buffered() -> None:
    sink = AlertmanagerSink(SinkConfig(), RecordingTelemetry(), {}, structlog.get_logger("test"))
    sink.submit(_alert())
    assert not sink.enabled and sink.queued() == 0


def test_a_resolution_right_after_the_firing_state_waits_resolve_hold(alertmanager: FakeAlertmanager) -> None:
    async def body(sink: AlertmanagerSink) -> None:
        sink.submit(_alert())
        await until(lambda: len(alertmanager.alerts()) == 1)
        sink.submit(_alert(resolved_at=time.time()))
        await asyncio.sleep(0.2)
        assert len(alertmanager.alerts()) == 1  # held: Alertmanager would drop a resolution inside its group_wait
        await until(lambda: len(alertmanager.alerts()) == 2)

    run(alertmanager, body, resolve_hold="2s")
    firing, resolved = alertmanager.alerts()
    assert firing["endsAt"] > resolved["endsAt"]  # the firing state ends minutes ahead, the resolution now
