"""The sentry exporter inside a running collector: real OTLP clients in, envelopes out, through the shared
sender — including a Sentry outage, after which every record still arrives."""

from __future__ import annotations

import time
from typing import Any

import pytest
import structlog

from collector.testing import running_collector
from tests.collector.exporters._sentry_data import Sdk, failing_request
from tests.collector.exporters._through_collector import collector_config, send_with_sdk, wait_for_log
from tests.servers.sentry import SentryReceiver, relay_errors
from tests.support import free_port

pytestmark = pytest.mark.slow


def _config(port: int, dsn: str, **sentry: Any) -> dict[str, Any]:
    return collector_config(port, "sentry", {"dsn": dsn, "transactions": True, "dedupe": {"window": "3s"}, **sentry})


def _send(s: Sdk, port: int) -> None:
    send_with_sdk(port, s.spans.get_finished_spans(), s.logs.get_finished_logs())



def test_errors_flow_from_otlp_to_sentry(s: Sdk) -> None:
    failing_request(s)
    s.logger.info("not an error")
    port = free_port()
    with SentryReceiver() as receiver, running_collector(_config(port, receiver.dsn)):
        _send(s, port)
        [event] = receiver.wait_for_events(1)
        [transaction] = receiver.wait_for("transaction", 1)
        time.sleep(1)  # a second event for the same failure would be sent by now
        assert len(receiver.events()) == 1
    # one failure (recorded on the span and logged), one event: the log's message, the span's transaction
    assert event["contexts"]["trace"]["trace_id"] == transaction["contexts"]["trace"]["trace_id"]
    assert event["logentry"]["formatted"] == "chat request failed"
    assert event["transaction"] == "POST /chat"
    assert event["request"]["method"] == "POST"
    assert relay_errors(event) == [] and relay_errors(transaction) == []


def test_every_record_arrives_after_a_sentry_outage(s: Sdk) -> None:
    for user in ("ann", "bob", "cyd"):
        failing_request(s, user=user)
    port = free_port()
    receiver = SentryReceiver()
    receiver.start()
    dsn = receiver.dsn
    receiver.stop()  # Sentry is down before anything is sent
    try:
        with structlog.testing.capture_logs() as logs, running_collector(_config(port, dsn)):
            _send(s, port)  # accepted by the collector although Sentry is down
            retrying = wait_for_log(logs, "export_retrying")
            assert retrying["exporter"] == "sentry"
            receiver.start()
            events = receiver.wait_for_events(3, timeout=30)
            transactions = receiver.wait_for("transaction", 3, timeout=30)
    finally:
        receiver.stop()
    assert len(events) == 3  # one per failure
    assert sorted(e["user"]["id"] for e in events) == ["ann", "bob", "cyd"]
    assert [e["logentry"]["formatted"] for e in events] == ["chat request failed"] * 3
    assert len(transactions) == 3
    assert receiver.rejected == []


def test_a_rate_limit_delays_but_does_not_lose(s: Sdk) -> None:
    failing_request(s)
    port = free_port()
    with SentryReceiver() as receiver:
        receiver.answer(429, {"X-Sentry-Rate-Limits": "1:error:organization"})
        config = _config(port, receiver.dsn, transactions=False)
        with structlog.testing.capture_logs() as logs, running_collector(config):
            _send(s, port)
            events = receiver.wait_for_events(1)
            limited = wait_for_log(logs, "sentry_rate_limited")
    assert limited["category"] == "error"
    assert [status for status, _ in receiver.rejected] == [429]
    assert len(events) == 1
