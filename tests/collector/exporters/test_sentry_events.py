"""What the sentry exporter makes of OTLP data: which records become events, and every field Sentry shows."""

from __future__ import annotations

from typing import Any

import pytest

from collector.exporters.sentry import Config, EventBuilder, SentryItem, subset
from collector.exporters.sentry._events import MAX_STRING
from collector.pdata import Batch, Signal
from tests.collector.exporters._sentry_data import Sdk, failing_request, sdk


class FakePseudonyms:
    def pseudonymize(self, kind: str, value: str) -> str:
        return f"{kind}-pseudonym-of-{len(value)}"


def _build(batch: Batch, **config: Any) -> list[SentryItem]:
    return EventBuilder(Config(dsn="", **config))(batch)


@pytest.fixture
def s() -> Any:
    with sdk() as s:
        yield s


def test_a_logged_exception_becomes_an_error_event(s: Sdk) -> None:
    failing_request(s)
    [item] = _build(s.logs_batch())
    event = item.event
    assert item.item_type == "event"
    assert event["level"] == "error"
    assert event["logentry"] == {"formatted": "chat request failed"}
    assert event["logger"] == "chat.api"
    [exc] = event["exception"]["values"]
    assert (exc["type"], exc["value"]) == ("ValueError", "model backend returned garbage")
    assert exc["mechanism"] == {"type": "otel.log", "handled": True}
    assert exc["stacktrace"]["frames"][-1]["function"] == "handler"
    assert exc["stacktrace"]["frames"][-1]["in_app"] is True


def test_the_event_links_to_its_trace(s: Sdk) -> None:
    failing_request(s)
    [log_item] = _build(s.logs_batch())
    server = next(sp for sp in s.spans.get_finished_spans() if sp.name == "POST /chat")
    assert log_item.event["contexts"]["trace"] == {
        "trace_id": f"{server.context.trace_id:032x}",
        "span_id": f"{server.context.span_id:016x}",
    }


def test_release_environment_server_and_platform_come_from_the_resource(s: Sdk) -> None:
    failing_request(s)
    [item] = _build(s.logs_batch())
    event = item.event
    assert (event["release"], event["environment"], event["server_name"]) == ("2.4.1", "staging", "web-1")
    assert event["platform"] == "python"
    assert event["contexts"]["otel"]["resource"]["service.name"] == "chat-api"


def test_the_configured_environment_is_the_fallback() -> None:
    with sdk({"service.name": "chat-api"}) as s:
        failing_request(s)
        [item] = _build(s.logs_batch(), environment="production")
        [bare] = _build(s.logs_batch())
    assert item.event["environment"] == "production"
    assert "environment" not in bare.event
    assert "release" not in bare.event


def test_tags_come_from_the_chosen_attributes(s: Sdk) -> None:
    failing_request(s)
    [item] = _build(s.traces_batch(), tag_attributes=["service.name", "http.route", "http.response.status_code", "x"])
    assert item.event["tags"] == {"service.name": "chat-api", "http.route": "/chat", "http.response.status_code": "500"}


def test_the_user_is_enduser_id(s: Sdk) -> None:
    failing_request(s, user="alice@example.com")
    [item] = _build(s.traces_batch())
    assert item.event["user"] == {"id": "alice@example.com"}


def test_the_user_is_pseudonymised_everywhere_when_configured(s: Sdk) -> None:
    failing_request(s, user="alice@example.com")
    [item] = EventBuilder(Config(tag_attributes=["enduser.id"]), FakePseudonyms())(s.traces_batch())
    assert item.event["user"] == {"id": "user-pseudonym-of-17"}
    assert item.event["tags"] == {"enduser.id": "user-pseudonym-of-17"}
    assert "alice@example.com" not in repr(item.event)


@pytest.mark.parametrize("upstream", ["[user:3f9a0c1d2e4b5a69]", "[REDACTED:email]"])
def test_a_user_already_pseudonymised_upstream_is_kept(s: Sdk, upstream: str) -> None:
    failing_request(s, user=upstream)
    [item] = EventBuilder(Config(), FakePseudonyms())(s.traces_batch())
    assert item.event["user"] == {"id": upstream}


def test_an_exception_span_event_becomes_an_error_event(s: Sdk) -> None:
    failing_request(s)
    [item] = _build(s.traces_batch())
    event = item.event
    server = next(sp for sp in s.spans.get_finished_spans() if sp.name == "POST /chat")
    assert event["transaction"] == "POST /chat"
    assert event["contexts"]["trace"] == {
        "trace_id": f"{server.context.trace_id:032x}",
        "span_id": f"{server.context.span_id:016x}",
        "op": "http.server",
        "status": "internal_error",
    }
    [exc] = event["exception"]["values"]
    assert (exc["type"], exc["value"]) == ("ValueError", "model backend returned garbage")
    assert exc["mechanism"] == {"type": "otel.span_event", "handled": False}  # escaped=True
    assert event["request"] == {"method": "POST", "url": "http://api.example.com/chat"}
    assert event["contexts"]["otel"]["attributes"]["http.route"] == "/chat"
    assert "exception.stacktrace" not in event["contexts"]["otel"]["attributes"]


def test_span_events_can_be_switched_off(s: Sdk) -> None:
    failing_request(s)
    assert _build(s.traces_batch(), exception_span_events=False) == []


@pytest.mark.parametrize(
    ("min_severity", "expected"),
    [("error", ["error", "critical"]), ("warning", ["warning", "error", "critical"]), ("fatal", ["critical"])],
)
def test_only_records_at_or_above_min_severity_become_events(s: Sdk, min_severity: str, expected: list[str]) -> None:
    for level in ("debug", "info", "warning", "error", "critical"):
        getattr(s.logger, level)("a %s line", level)
    items = _build(s.logs_batch(), min_severity=min_severity)
    assert [it.event["logentry"]["formatted"] for it in items] == [f"a {lvl} line" for lvl in expected]
    assert {it.event["level"] for it in items} <= {"warning", "error", "fatal"}


def test_a_record_without_severity_number_is_judged_by_its_text() -> None:
    batch = Batch.empty(Signal.LOGS)
    records = batch.resources.add().scope_logs.add().log_records
    for text in ("ERROR", "info", "Critical"):
        record = records.add(severity_text=text)
        record.body.string_value = text
    items = _build(batch)
    assert [(it.event["logentry"]["formatted"], it.event["level"]) for it in items] == [
        ("ERROR", "error"),
        ("Critical", "fatal"),
    ]
    assert "contexts" in items[0].event
    assert "trace" not in items[0].event["contexts"]


def test_root_spans_become_transactions_with_their_children_when_asked(s: Sdk) -> None:
    failing_request(s)
    items = _build(s.traces_batch(), transactions=True)
    [transaction] = [it for it in items if it.item_type == "transaction"]
    event = transaction.event
    assert event["type"] == "transaction"
    assert event["transaction"] == "POST /chat"
    assert event["transaction_info"] == {"source": "route"}
    assert event["start_timestamp"] < event["timestamp"]
    assert event["contexts"]["trace"]["op"] == "http.server"
    [child] = event["spans"]
    assert (child["description"], child["op"], child["status"]) == ("SELECT chat", "db", "ok")
    assert child["parent_span_id"] == event["contexts"]["trace"]["span_id"]
    assert transaction.category == "transaction"
    child_batch = subset(s.traces_batch(), transaction.sources)  # what a retry of the transaction carries
    assert child_batch.item_count() == 2
    [again] = [it for it in _build(child_batch, transactions=True) if it.item_type == "transaction"]
    assert again.event == transaction.event
    assert _build(s.traces_batch()) == [it for it in items if it.item_type == "event"]


def test_event_ids_are_stable_so_a_resent_event_is_deduplicated(s: Sdk) -> None:
    failing_request(s)
    failing_request(s)
    first = [it.event_id for it in _build(s.logs_batch())] + [it.event_id for it in _build(s.traces_batch())]
    again = [it.event_id for it in _build(s.logs_batch())] + [it.event_id for it in _build(s.traces_batch())]
    assert first == again
    assert len(set(first)) == 4
    assert all(len(eid) == 32 and int(eid, 16) >= 0 for eid in first)


def test_huge_messages_and_attributes_are_clipped(s: Sdk) -> None:
    s.logger.error("x" * 100_000, extra={"payload": "y" * 100_000})
    [item] = _build(s.logs_batch())
    assert len(item.event["logentry"]["formatted"]) == MAX_STRING
    assert item.event["logentry"]["formatted"].endswith("…")
    assert len(item.event["contexts"]["otel"]["attributes"]["payload"]) == MAX_STRING


def test_metrics_batches_yield_nothing() -> None:
    assert _build(Batch.empty(Signal.METRICS)) == []


def test_subset_keeps_only_the_chosen_records_with_their_resource_and_scope(s: Sdk) -> None:
    s.logger.error("one")
    s.logger.info("two")
    s.logger.error("three")
    batch = s.logs_batch()
    [_, third] = _build(batch)
    part = subset(batch, {third.source})
    assert part.item_count() == 1
    [resource_logs] = part.resources
    assert resource_logs.resource == batch.resources[0].resource
    assert resource_logs.scope_logs[0].scope.name == "chat.api"
    assert resource_logs.scope_logs[0].log_records[0].body.string_value == "three"
    assert [it.event_id for it in _build(part)] == [third.event_id]
    assert subset(batch, set()).is_empty()
