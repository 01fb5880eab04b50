"""Source-side adapters: structlog, the OpenTelemetry SDK span and log processors, Sentry's before_send."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import structlog
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags

from otel_distro._internal import fastpath
from otel_distro._internal.fastpath import ended_span
from otel_distro.scrubbing import (
    COUNT_KEY,
    KINDS_KEY,
    Scrubber,
    ScrubbingLogRecordProcessor,
    ScrubbingSpanProcessor,
    StructlogScrubber,
    sentry_before_send,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


# --- structlog -------------------------------------------------------------------------------------------------


def test_structlog_processor_scrubs_message_and_bound_values() -> None:
    proc = StructlogScrubber()
    event = proc(None, "info", {
        "event": "login from jane@example.com",
        "password": "hunter2",
        "request_id": "a@b.com-is-not-touched",
        "trace_id": TRACE_ID,
        "level": "info",
        "timestamp": "2024-11-25T17:39:55Z",
        "ctx": {"phone": "+90 532 123 45 67"},
    })
    assert event == {
        "event": "login from [REDACTED:email]",
        "password": "[REDACTED:secret]",
        "request_id": "a@b.com-is-not-touched",
        "trace_id": TRACE_ID,
        "level": "info",
        "timestamp": "2024-11-25T17:39:55Z",
        "ctx": {"phone": "[REDACTED:phone]"},
        COUNT_KEY: 3,
        KINDS_KEY: ["email", "phone", "secret"],
    }


def test_structlog_processor_adds_nothing_to_clean_events() -> None:
    event = {"event": "GET /health 200", "duration_ms": 1.5}
    assert StructlogScrubber()(None, "info", dict(event)) == event


def test_structlog_summary_counts_hold_when_clean_fields_are_cached() -> None:
    proc = StructlogScrubber(Scrubber())
    for i in range(3):  # the clean fields are remembered after the first event
        event = proc(None, "info", {"event": "request_finished", "method": "GET", "status": 200,
                                    "duration_ms": 0.5 + i, "password": "hunter2", "request_id": f"r{i}"})
        assert event == {"event": "request_finished", "method": "GET", "status": 200, "duration_ms": 0.5 + i,
                         "password": "[REDACTED:secret]", "request_id": f"r{i}", COUNT_KEY: 1, KINDS_KEY: ["secret"]}
        clean = {"event": "request_finished", "method": "GET", "status": 200, "duration_ms": 0.5 + i}
        assert proc(None, "info", dict(clean)) == clean


def test_structlog_json_output_is_clean(capsys: Any) -> None:
    logger = structlog.wrap_logger(
        structlog.PrintLogger(),
        processors=[StructlogScrubber(summary=False), structlog.processors.JSONRenderer()],
    )
    logger.info("card 4111 1111 1111 1111 declined", user="ayse@firma.com.tr")
    line = json.loads(capsys.readouterr().out)
    assert line == {"event": "card [REDACTED:credit_card] declined", "user": "[REDACTED:email]"}


# --- OpenTelemetry SDK -----------------------------------------------------------------------------------------


def _tracer() -> tuple[Any, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(ScrubbingSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def test_span_processor_cleans_what_exporters_see() -> None:
    tracer, exporter = _tracer()
    with tracer.start_as_current_span("lookup jane@example.com") as span:
        span.set_attribute("enduser.email", "jane@example.com")
        span.set_attribute("db.password", "hunter2")
        span.set_attribute("http.route", "/users/{id}")
        span.set_attribute("tags", ("ok", "ip 203.0.113.7"))
        span.add_event("exception", {"exception.message": "bad card 4111111111111111"})
        span.set_status(Status(StatusCode.ERROR, "failed for +90 532 123 45 67"))
    (out,) = exporter.get_finished_spans()
    assert out.name == "lookup [REDACTED:email]"
    assert out.attributes is not None
    assert dict(out.attributes) == {
        "enduser.email": "[REDACTED:email]",
        "db.password": "[REDACTED:secret]",
        "http.route": "/users/{id}",
        "tags": ("ok", "ip [REDACTED:ipv4]"),
        COUNT_KEY: 6,
        KINDS_KEY: ("credit_card", "email", "ipv4", "phone", "secret"),
    }
    assert out.events[0].attributes == {"exception.message": "bad card [REDACTED:credit_card]"}
    assert out.status.description == "failed for [REDACTED:phone]"


def test_bytes_attributes_are_scrubbed_as_the_text_they_hold() -> None:
    tracer, exporter = _tracer()
    with tracer.start_as_current_span("upload") as span:
        span.set_attribute("payload", b"mail ada@example.com")
        span.set_attribute("blob", b"\x89PNG\x00")
    (out,) = exporter.get_finished_spans()
    assert out.attributes is not None
    assert out.attributes["payload"] == b"mail [REDACTED:email]"
    assert out.attributes["blob"] == b"\x89PNG\x00"


def test_bytes_attributes_are_scrubbed_on_every_span_not_only_the_first() -> None:
    # The first span classifies the key; the ones after must still read the bytes (strings are re-read too).
    tracer, exporter = _tracer()
    for name in ("ada", "bob", "eve"):
        with tracer.start_as_current_span("upload") as span:
            span.set_attribute("upload.payload", f"mail {name}@example.com".encode())
    assert [out.attributes["upload.payload"] for out in exporter.get_finished_spans() if out.attributes] == [
        b"mail [REDACTED:email]"] * 3


def test_correlation_ids_are_left_alone_on_spans_and_log_records_as_in_log_lines() -> None:
    """``request_id`` is in the default rules' ``never`` keys, with the trace context."""
    tracer, exporter = _tracer()
    with tracer.start_as_current_span("GET /items") as span:
        span.set_attribute("request_id", "a@b.com-is-not-touched")
        span.set_attribute("user.email", "jane@example.com")
    (out,) = exporter.get_finished_spans()
    assert out.attributes is not None
    assert out.attributes["request_id"] == "a@b.com-is-not-touched"
    assert out.attributes["user.email"] == "[REDACTED:email]"

    logs_exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(ScrubbingLogRecordProcessor())
    provider.add_log_record_processor(SimpleLogRecordProcessor(logs_exporter))
    provider.get_logger("t").emit(body="done", attributes={"request_id": "a@b.com-is-not-touched"})
    (record,) = logs_exporter.get_finished_logs()
    assert record.log_record.attributes is not None
    assert record.log_record.attributes["request_id"] == "a@b.com-is-not-touched"


def test_span_processor_leaves_clean_spans_untouched() -> None:
    tracer, exporter = _tracer()
    with tracer.start_as_current_span("GET /health") as span:
        span.set_attribute("http.status_code", 200)
    (out,) = exporter.get_finished_spans()
    assert out.name == "GET /health"
    assert dict(out.attributes or {}) == {"http.status_code": 200}


def test_span_summary_counts_hold_when_clean_fields_are_cached() -> None:
    tracer, exporter = _tracer()
    for _ in range(3):  # the route, the status code and the span name are remembered after the first span
        with tracer.start_as_current_span("GET /users/{id}") as span:
            span.set_attribute("http.route", "/users/{id}")
            span.set_attribute("http.response.status_code", 200)
            span.set_attribute("db.password", 200)
        with tracer.start_as_current_span("GET /users/{id}") as span:
            span.set_attribute("http.route", "/users/{id}")
            span.set_attribute("http.response.status_code", 200)
            span.add_event("GET /users/{id}", {"http.route": "/users/{id}", "note": "mail jane@example.com"})
        with tracer.start_as_current_span("GET /users/{id}") as span:
            span.set_attribute("http.route", "/users/{id}")
            span.set_status(Status(StatusCode.ERROR, "no user jane@example.com"))
    spans = exporter.get_finished_spans()
    assert len(spans) == 9
    for secret, event, status in zip(spans[0::3], spans[1::3], spans[2::3], strict=True):
        assert dict(secret.attributes or {}) == {"http.route": "/users/{id}", "http.response.status_code": 200,
                                                 "db.password": "[REDACTED:secret]", COUNT_KEY: 1,
                                                 KINDS_KEY: ("secret",)}
        assert dict(event.attributes or {}) == {"http.route": "/users/{id}", "http.response.status_code": 200,
                                                COUNT_KEY: 1, KINDS_KEY: ("email",)}
        assert event.events[0].attributes == {"http.route": "/users/{id}", "note": "mail [REDACTED:email]"}
        assert dict(status.attributes or {}) == {"http.route": "/users/{id}", COUNT_KEY: 1, KINDS_KEY: ("email",)}
        assert status.status.description == "no user [REDACTED:email]"


@pytest.fixture(params=["fast", "plain"])
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The distro's fast path on (the scrubber changes the ended span in place) or off (it hands on a copy)."""
    on = request.param == "fast"
    monkeypatch.setattr(fastpath, "status", lambda: fastpath.Status(on, "" if on else "switched_off"))
    return str(request.param)


class Spy(SpanProcessor):
    """Keeps every ended span it is handed."""

    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


def _exported(span: ReadableSpan) -> dict[str, Any]:
    """What an exporter reads of a span (its ids aside)."""
    return {
        "name": span.name,
        "kind": span.kind,
        "attributes": dict(span.attributes or {}),
        "events": [(e.name, dict(e.attributes or {}), e.timestamp) for e in span.events],
        "links": [(link.context, dict(link.attributes or {})) for link in span.links],
        "status": (span.status.status_code, span.status.description),
        "times": (span.start_time is not None, span.end_time is not None),
        "resource": dict(span.resource.attributes),
        "scope": span.instrumentation_scope,
        "parent": span.parent,
        "dropped": (span.dropped_attributes, span.dropped_events, span.dropped_links),
    }


LINKED = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, TraceFlags(1))


def _dirty_span(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("test", "1.0")
    with tracer.start_as_current_span("parent"), tracer.start_as_current_span(
        "lookup jane@example.com", links=[Link(LINKED, {"peer": "ip 203.0.113.7"}), Link(LINKED, {"ok": 1})]
    ) as span:
        span.set_attributes({"enduser.email": "jane@example.com", "http.route": "/users/{id}", "n": 3})
        span.add_event("exception", {"exception.message": "bad card 4111111111111111"})
        span.add_event("clean", {"k": "v"})
        span.set_status(Status(StatusCode.ERROR, "failed for +90 532 123 45 67"))


def test_both_paths_hand_the_exporters_the_same_scrubbed_span(fast_path: str) -> None:
    """The distro wires the scrubber through `ScrubbingHooks.span_chain`: first on the provider on the fast path,
    in front of the export processors off it; either way they get the same span."""
    exported, later = Spy(), Spy()
    provider = TracerProvider()
    if fast_path == "fast":
        provider.add_span_processor(ScrubbingSpanProcessor())
        provider.add_span_processor(exported)
    else:
        provider.add_span_processor(ScrubbingSpanProcessor(then=[exported]))
    provider.add_span_processor(later)  # a processor the app adds itself
    _dirty_span(provider)

    child, parent = exported.ended
    assert _exported(child) == {
        "name": "lookup [REDACTED:email]",
        "kind": child.kind,
        "attributes": {"enduser.email": "[REDACTED:email]", "http.route": "/users/{id}", "n": 3, COUNT_KEY: 5,
                       KINDS_KEY: ("credit_card", "email", "ipv4", "phone")},
        "events": [("exception", {"exception.message": "bad card [REDACTED:credit_card]"},
                    child.events[0].timestamp), ("clean", {"k": "v"}, child.events[1].timestamp)],
        "links": [(LINKED, {"peer": "ip [REDACTED:ipv4]"}), (LINKED, {"ok": 1})],
        "status": (StatusCode.ERROR, "failed for [REDACTED:phone]"),
        "times": (True, True),
        "resource": dict(provider.resource.attributes),
        "scope": child.instrumentation_scope,
        "parent": parent.context,
        "dropped": (0, 0, 0),
    }
    assert child.context == later.ended[0].context and child.instrumentation_scope is not None
    assert _exported(parent)["name"] == "parent"
    if fast_path == "fast":  # changed in place: every processor after the scrubber sees it scrubbed
        assert later.ended[0] is child
    else:  # a copy through the public constructor: the SDK's own span is left as it was
        assert later.ended[0] is not child
        assert later.ended[0].name == "lookup jane@example.com"


def test_alone_on_a_span_it_cannot_change_it_says_so_once(
    fast_path: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Registered alone (no ``then``), changing the span in place is its only way: on an SDK whose span has not the
    fields it writes, the exporters get the span unscrubbed, and that must not pass in silence."""
    monkeypatch.setattr(ended_span, "_has_private_fields", lambda span: False)
    exported = Spy()
    provider = TracerProvider()
    provider.add_span_processor(ScrubbingSpanProcessor())
    provider.add_span_processor(exported)
    with caplog.at_level(logging.ERROR, logger="otel_distro.scrubbing"):
        _dirty_span(provider)
        _dirty_span(provider)
    assert [r.getMessage() for r in caplog.records] == ["scrubbing_span_failed"]
    assert "in place" in caplog.text


def test_the_front_withholds_a_span_it_failed_to_scrub(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Off the fast path the scrubber hands the processors it fronts a copy; when it cannot (here: an SDK whose
    `ReadableSpan` takes other arguments), they get nothing rather than the span as it was, and it says so once."""
    monkeypatch.setattr(fastpath, "status", lambda: fastpath.Status(False, "unsupported_version"))

    def new_constructor(**_: Any) -> ReadableSpan:
        raise TypeError("ReadableSpan.__init__() got an unexpected keyword argument 'parent'")

    monkeypatch.setattr(ended_span, "ReadableSpan", new_constructor)
    exported = Spy()
    provider = TracerProvider()
    provider.add_span_processor(ScrubbingSpanProcessor(then=[exported]))
    with caplog.at_level(logging.ERROR, logger="otel_distro.scrubbing"):
        _dirty_span(provider)
        _dirty_span(provider)
    assert [span.name for span in exported.ended] == ["parent", "parent"]  # clean: handed on as they were
    assert [r.getMessage() for r in caplog.records] == ["scrubbing_span_failed"]


def test_a_clean_span_is_handed_on_as_it_is(fast_path: str) -> None:
    exported = Spy()
    provider = TracerProvider()
    provider.add_span_processor(ScrubbingSpanProcessor(then=[exported]))
    with provider.get_tracer("t").start_as_current_span("GET /health") as span:
        span.set_attribute("http.status_code", 200)
    (out,) = exported.ended
    assert out.name == "GET /health"
    assert dict(out.attributes or {}) == {"http.status_code": 200}


def test_the_front_passes_start_flush_and_shutdown_on(fast_path: str) -> None:
    calls: list[str] = []

    class Recorder(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            calls.append("start")

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            calls.append("flush")
            return True

        def shutdown(self) -> None:
            calls.append("shutdown")

    provider = TracerProvider()
    provider.add_span_processor(ScrubbingSpanProcessor(then=[Recorder()]))
    with provider.get_tracer("t").start_as_current_span("x"):
        pass
    assert provider.force_flush()
    provider.shutdown()
    assert calls == ["start", "flush", "shutdown"]


def test_log_processor_cleans_body_and_attributes(fast_path: str) -> None:
    """In place on the fast path; through the record's public ``attributes`` (a new mapping) off it."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(ScrubbingLogRecordProcessor())
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("test")
    logger.emit(body="user ayse@firma.com.tr signed in", attributes={"client.address": "203.0.113.7", "n": 1})
    logger.emit(body={"msg": "ok", "token": "abc123"})
    first, second = (r.log_record for r in exporter.get_finished_logs())
    assert first.body == "user [REDACTED:email] signed in"
    assert dict(first.attributes or {}) == {
        "client.address": "[REDACTED:ipv4]", "n": 1, COUNT_KEY: 2, KINDS_KEY: ("email", "ipv4"),
    }
    assert second.body == {"msg": "ok", "token": "[REDACTED:secret]"}


def test_log_processor_counts_hold_when_the_body_is_known_clean(fast_path: str) -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(ScrubbingLogRecordProcessor(Scrubber()))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("test")
    for _ in range(3):
        logger.emit(body="request finished", attributes={"http.route": "/a", "client.address": "203.0.113.7"})
        logger.emit(body="request finished", attributes={"http.route": "/a"})
    records = [r.log_record for r in exporter.get_finished_logs()]
    for dirty, clean in zip(records[0::2], records[1::2], strict=True):
        assert dirty.body == clean.body == "request finished"
        assert dict(dirty.attributes or {}) == {"http.route": "/a", "client.address": "[REDACTED:ipv4]",
                                                COUNT_KEY: 1, KINDS_KEY: ("ipv4",)}
        assert dict(clean.attributes or {}) == {"http.route": "/a"}


def test_processors_never_break_the_host_app() -> None:
    class Broken(Scrubber):
        def scrub_text(self, text: str, counts: Any = None) -> str:
            raise RuntimeError("boom")

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(ScrubbingSpanProcessor(Broken()))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("checkout for order 17"):  # long enough to be scanned
        pass
    assert len(exporter.get_finished_spans()) == 1


# --- Sentry ----------------------------------------------------------------------------------------------------


def test_sentry_before_send_scrubs_the_event() -> None:
    before_send = sentry_before_send(Scrubber(hmac_key=b"s" * 32))
    event = {
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
        "level": "error",
        "message": "payment failed for jane@example.com",
        "user": {"id": "42", "email": "jane@example.com", "ip_address": "203.0.113.7"},
        "request": {"headers": {"Authorization": "Bearer abcdefgh12345678", "Accept": "*/*"},
                    "cookies": {"sessionid": "s3cr3t"}},
        "contexts": {"trace": {"trace_id": TRACE_ID, "span_id": "00f067aa0ba902b7"}},
        "exception": {"values": [{"type": "ValueError", "value": "card 4111 1111 1111 1111",
                                  "stacktrace": {"frames": [{"function": "charge", "vars": {"password": "pw"}}]}}]},
    }
    out = before_send(event, {})
    assert out is not None
    assert out["event_id"] == event["event_id"]
    assert out["message"].startswith("payment failed for [email:")
    assert out["user"]["id"].startswith("[user:")
    assert out["user"]["email"].startswith("[email:") and out["user"]["ip_address"].startswith("[ipv4:")
    assert out["request"]["headers"] == {"Authorization": "[REDACTED:secret]", "Accept": "*/*"}
    assert out["request"]["cookies"] == {"sessionid": "[REDACTED:secret]"}
    assert out["contexts"]["trace"] == {"trace_id": TRACE_ID, "span_id": "00f067aa0ba902b7"}
    value = out["exception"]["values"][0]
    assert value["value"] == "card [credit_card:" + value["value"].split(":", 1)[1]
    assert value["stacktrace"]["frames"][0]["vars"] == {"password": "[REDACTED:secret]"}
    assert "jane@example.com" not in json.dumps(out)


def test_sentry_transactions_have_their_span_descriptions_scrubbed() -> None:
    event = {"type": "transaction", "transaction": "GET /users/{id}",
             "spans": [{"span_id": "00f067aa0ba902b7", "op": "db",
                        "description": "SELECT * FROM users WHERE email = 'jane@example.com'"}]}
    out = sentry_before_send(Scrubber())(event, {})
    assert out is not None
    assert out["spans"] == [{"span_id": "00f067aa0ba902b7", "op": "db",
                             "description": "SELECT * FROM users WHERE email = '[REDACTED:email]'"}]


def test_sentry_before_send_drops_rather_than_leaks() -> None:
    class Broken(Scrubber):
        def scrub_value(self, value: Any, key: str | None = None, counts: Any = None) -> Any:
            raise RuntimeError("boom")

    assert sentry_before_send(Broken())({"message": "a@b.com"}, {}) is None
