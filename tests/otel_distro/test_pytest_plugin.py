"""The `otel` fixture, as app teams use it: spans, metrics, logs and their correlation, in memory."""

from __future__ import annotations

import logging

import structlog
from opentelemetry import trace
from starlette.testclient import TestClient

from otel_distro.testing import OtelCapture

pytest_plugins: list[str] = []


def test_login(client: TestClient, otel: OtelCapture) -> None:
    response = client.post("/auth/login", json={"username": "ada", "password": "demo-password"})

    assert response.status_code == 200
    span = otel.span(attributes={"http.route": "/auth/login"})
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 200
    logs = otel.assert_correlated(span, "login_succeeded", "request_finished")
    assert all(line["request_id"] == response.headers["x-request-id"] for line in logs)


def test_no_asgi_send_receive_spans_by_default(client: TestClient, otel: OtelCapture) -> None:
    client.get("/items/1")

    names = [span.name for span in otel.spans()]
    assert "GET /items/{item_id}" in names
    assert not [name for name in names if name.endswith(("http send", "http receive"))]


def test_sql_spans_and_db_duration_metric(client: TestClient, otel: OtelCapture) -> None:
    client.get("/items/2")

    server = otel.span("GET /items/{item_id}")
    sql = [s for s in otel.spans() if "db.statement" in (s.attributes or {})]
    assert sql and all(s.context and server.context and s.context.trace_id == server.context.trace_id for s in sql)
    assert otel.metric_total("db.client.operation.duration", {"db.operation.name": "SELECT"}) >= 1


def test_request_metrics_by_route_method_and_status_class(client: TestClient, otel: OtelCapture) -> None:
    client.get("/items/1")
    client.get("/items/999")
    TestClient(client.app, raise_server_exceptions=False).get("/fail")

    assert otel.metric_total("http.server.request.count", {"http.route": "/items/{item_id}"}) == 2
    assert otel.metric_total("http.server.request.count", {"http.response.status_class": "4xx"}) == 1
    assert otel.metric_total("http.server.error.count", {"http.route": "/fail"}) == 1
    durations = otel.metric_points("http.server.request.duration")
    assert durations and durations[0].unit == "s"


def test_failing_route_logs_exception_with_ids(client: TestClient, otel: OtelCapture) -> None:
    failing = TestClient(client.app, raise_server_exceptions=False)
    response = failing.get("/fail", headers={"X-Request-ID": "req-42"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-42"
    [event] = [e for e in otel.logs if e["message"] == "request_failed"]
    assert event["request_id"] == "req-42"
    assert event["exception"][-1]["exc_type"] == "RuntimeError"
    assert event["exception"][-1]["frames"], "frames rendered as data"
    span = otel.span("GET /fail")
    assert event["trace_id"] == otel.trace_id(span)
    assert not span.status.is_ok


def test_deterministic_ids(otel: OtelCapture) -> None:
    otel.deterministic_ids()
    tracer = trace.get_tracer("t")
    with tracer.start_as_current_span("a"):
        structlog.get_logger("t").info("inside")
    with tracer.start_as_current_span("b"):
        pass

    a, b = otel.spans()
    assert (a.context.trace_id, a.context.span_id) == (1, 1)  # type: ignore[union-attr]
    assert (b.context.trace_id, b.context.span_id) == (2, 2)  # type: ignore[union-attr]
    assert otel.logs[0]["trace_id"] == "0" * 31 + "1"


def test_stdlib_logging_is_captured_with_trace_context(otel: OtelCapture) -> None:
    with trace.get_tracer("t").start_as_current_span("work") as span:
        logging.getLogger("legacy.module").warning("disk %s%% full", 91, extra={"volume": "/data"})

    [event] = [e for e in otel.logs if e["logger"] == "legacy.module"]
    assert event["message"] == "disk 91% full"
    assert event["volume"] == "/data"
    assert event["level"] == "warning"
    assert event["span_id"] == format(span.get_span_context().span_id, "016x")
    [record] = [r for r in otel.log_records() if r.log_record.body == "disk 91% full"]
    assert record.log_record.trace_id == span.get_span_context().trace_id
    assert record.log_record.severity_text == "WARNING"


def test_each_test_starts_empty_first(otel: OtelCapture) -> None:
    with trace.get_tracer("t").start_as_current_span("left-behind"):
        pass
    assert len(otel.spans()) == 1


def test_each_test_starts_empty_second(otel: OtelCapture) -> None:
    assert otel.spans() == []
    assert otel.logs == []


def test_span_helper_lists_what_was_captured_when_nothing_matches(otel: OtelCapture) -> None:
    with trace.get_tracer("t").start_as_current_span("present"):
        pass
    try:
        otel.span("absent")
    except AssertionError as exc:
        assert "present" in str(exc)
    else:
        raise AssertionError("otel.span did not fail")
