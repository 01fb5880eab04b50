"""The log chain: one JSON object per line with fixed keys, ids inside spans and requests, OTel records."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from otel_distro._internal import guard, logs, state
from otel_distro._internal.context import REQUEST_ID
from otel_distro._internal.logs import pipeline
from otel_distro.settings import Settings


@pytest.fixture
def exported() -> InMemoryLogRecordExporter:
    return InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]


@pytest.fixture
def out(exported: InMemoryLogRecordExporter) -> Iterator[io.BytesIO]:
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exported))
    stream = io.BytesIO()
    config = structlog.get_config()
    root_level = logging.getLogger().level
    pipeline = logs.build_pipeline(log_format="json", stream=stream, emitter=logs.OtelLogEmitter(provider))
    logs.install(pipeline, level="info")
    yield stream
    logs.uninstall()
    structlog.configure(**config)
    logging.getLogger().setLevel(root_level)


def lines(stream: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_line_has_the_fixed_keys_first_then_the_bound_context(out: io.BytesIO) -> None:
    structlog.get_logger("billing").bind(order_id=7).info("charged", amount_cents=1250)

    [line] = lines(out)
    assert list(line)[:4] == ["timestamp", "level", "logger", "message"]
    assert line["level"] == "info" and line["logger"] == "billing" and line["message"] == "charged"
    assert line["order_id"] == 7 and line["amount_cents"] == 1250
    assert line["timestamp"].endswith("Z") and "T" in line["timestamp"]
    assert "trace_id" not in line and "request_id" not in line


def test_stdlib_line_comes_out_the_same_with_its_extra_fields(out: io.BytesIO) -> None:
    logging.getLogger("legacy.payments").warning("retrying %s", "charge", extra={"attempt": 2})

    [line] = lines(out)
    assert line["logger"] == "legacy.payments"
    assert line["level"] == "warning"
    assert line["message"] == "retrying charge"
    assert line["attempt"] == 2


def test_lines_inside_a_span_and_a_request_carry_their_ids(out: io.BytesIO) -> None:
    tracer = TracerProvider().get_tracer("t")
    token = REQUEST_ID.set("req-1")
    try:
        with tracer.start_as_current_span("work") as span:
            structlog.get_logger().info("inside")
            logging.getLogger("x").info("stdlib inside")
    finally:
        REQUEST_ID.reset(token)

    context = span.get_span_context()
    for line in lines(out):
        assert line["trace_id"] == format(context.trace_id, "032x")
        assert line["span_id"] == format(context.span_id, "016x")
        assert line["request_id"] == "req-1"


def test_exceptions_are_structured_data(out: io.BytesIO) -> None:
    try:
        {}["missing"]
    except KeyError:
        structlog.get_logger().exception("lookup_failed")
        logging.getLogger("x").exception("stdlib lookup failed")

    for line in lines(out):
        assert line["level"] == "error"
        [error] = line["exception"]
        assert error["exc_type"] == "KeyError"
        assert error["exc_value"] == "'missing'"
        assert error["frames"][-1]["name"] == "test_exceptions_are_structured_data"


def test_stack_info_and_exc_info_are_rendered_and_plain_lines_pass_unchanged(out: io.BytesIO) -> None:
    structlog.get_logger().info("where_am_i", stack_info=True)
    try:
        raise ValueError("bad")
    except ValueError as exc:
        structlog.get_logger().error("failed", exc_info=exc)
    structlog.get_logger().info("plain", exception="a field named exception, not an error")

    where, failed, plain = lines(out)
    assert "test_stack_info_and_exc_info" in where["stack"] and "stack_info" not in where
    assert failed["exception"][0]["exc_type"] == "ValueError" and "exc_info" not in failed
    assert plain["exception"] == "a field named exception, not an error"


def test_console_lines_render_exceptions_too() -> None:
    stream = io.StringIO()
    pipeline = logs.build_pipeline(log_format="console", stream=stream)
    try:
        raise ValueError("console boom")
    except ValueError:
        pipeline.run("error", {"event": "failed", "exc_info": True})
    assert "ValueError" in stream.getvalue() and "console boom" in stream.getvalue()


def test_exported_exceptions_carry_the_python_traceback_text(
    out: io.BytesIO, exported: InMemoryLogRecordExporter
) -> None:
    try:
        {}["missing"]
    except KeyError:
        structlog.get_logger().exception("lookup_failed")
        logging.getLogger("x").exception("stdlib lookup failed")

    records = [r.log_record for r in exported.get_finished_logs()]
    assert len(records) == 2
    for record in records:
        attributes = dict(record.attributes or {})
        assert attributes["exception.type"] == "KeyError"
        assert attributes["exception.message"] == "'missing'"
        stacktrace = attributes["exception.stacktrace"]
        assert stacktrace.startswith("Traceback (most recent call last):\n")
        assert "in test_exported_exceptions_carry_the_python_traceback_text" in stacktrace
        assert stacktrace.rstrip().endswith("KeyError: 'missing'")
    for line in lines(out):
        assert "_otel_exception" not in line and line["exception"][0]["exc_type"] == "KeyError"


def test_the_same_records_are_exported_with_severity_attributes_and_trace_context(
    out: io.BytesIO, exported: InMemoryLogRecordExporter
) -> None:
    with TracerProvider().get_tracer("t").start_as_current_span("work") as span:
        structlog.get_logger("shop").warning("low_stock", sku="A-1", left=3)

    [record] = [r.log_record for r in exported.get_finished_logs()]
    assert record.body == "low_stock"
    assert record.severity_text == "WARNING"
    assert record.trace_id == span.get_span_context().trace_id
    assert record.attributes is not None
    assert record.attributes["sku"] == "A-1" and record.attributes["left"] == 3


def test_the_sdks_own_logs_are_printed_but_never_exported(out: io.BytesIO, exported: InMemoryLogRecordExporter) -> None:
    logging.getLogger("opentelemetry.exporter.otlp").warning("export failed")

    assert [line["message"] for line in lines(out)] == ["export failed"]
    assert exported.get_finished_logs() == ()


def test_repeated_sdk_warnings_print_once_a_minute(out: io.BytesIO) -> None:
    for _ in range(5):
        logging.getLogger("opentelemetry.exporter.otlp").warning("export failed")
        logging.getLogger("app").warning("app warning")

    messages = [line["message"] for line in lines(out)]
    assert messages.count("export failed") == 1
    assert messages.count("app warning") == 5


def test_level_filtering(out: io.BytesIO) -> None:
    structlog.get_logger().debug("hidden")
    logging.getLogger("x").debug("hidden too")
    structlog.get_logger().info("shown")

    assert [line["message"] for line in lines(out)] == ["shown"]


def test_console_format_is_human_readable() -> None:
    stream = io.StringIO()
    pipeline = logs.build_pipeline(log_format="console", stream=stream)
    pipeline.run("info", {"event": "user_logged_in", "user_id": 42})

    text = stream.getvalue()
    assert "user_logged_in" in text and "user_id" in text
    assert not text.startswith("{")


def test_uvicorn_loggers_are_routed_to_the_root_handler(out: io.BytesIO) -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.StreamHandler(io.StringIO()))
    uvicorn_error.propagate = False
    pipeline._adopt_server_loggers(access_log=False)

    uvicorn_error.info("Application startup complete.")
    logging.getLogger("uvicorn.access").info("GET / 200")

    assert [line["logger"] for line in lines(out)] == ["uvicorn.error"]


def test_gunicorns_own_log_keeps_its_handler_when_uvicorn_error_shares_it(out: io.BytesIO) -> None:
    """gunicorn's UvicornWorker gives ``uvicorn.error`` the handler list of gunicorn's error log itself."""
    gunicorn_error = logging.getLogger("test.gunicorn.error")
    gunicorn_output = io.StringIO()
    gunicorn_error.addHandler(logging.StreamHandler(gunicorn_output))
    gunicorn_error.propagate = False
    gunicorn_error.setLevel(logging.INFO)
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.handlers = gunicorn_error.handlers  # as UvicornWorker.__init__ does
    try:
        pipeline._adopt_server_loggers(access_log=False)

        gunicorn_error.info("Booting worker with pid: 42")
        uvicorn_error.info("Application startup complete.")
    finally:
        gunicorn_error.handlers = []

    assert gunicorn_output.getvalue() == "Booting worker with pid: 42\n"
    assert [line["message"] for line in lines(out)] == ["Application startup complete."]


def test_a_failing_exporter_never_breaks_the_apps_logging_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("exporter bug")

    previous = state.settings() if state.is_loaded() else None
    state.set_settings(Settings(raise_internal_errors="false"))
    monkeypatch.setattr(guard, "_reported", set())
    stream = io.BytesIO()
    pipeline = logs.build_pipeline(log_format="json", stream=stream, emitter=broken)
    try:
        pipeline.run("info", {"event": "still_printed"})
        pipeline.run("info", {"event": "again"})
    finally:
        state.set_settings(previous)

    assert [line["message"] for line in lines(stream)] == ["still_printed", "again"]
    assert guard._reported == {"log_export"}


def test_records_queued_directly_encode_as_the_sdks_own() -> None:
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs  # noqa: PLC0415
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: PLC0415
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415

    from otel_distro._internal.fastpath import otlp_encode  # noqa: PLC0415

    def emitted(direct: bool) -> Any:
        exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
        provider = LoggerProvider(resource=Resource({"service.name": "s"}))
        batch = BatchLogRecordProcessor(exporter)
        provider.add_log_record_processor(batch)
        queues = [batch._batch_processor] if direct else []
        emitter = logs.OtelLogEmitter(provider, direct=queues)
        with TracerProvider().get_tracer("t").start_as_current_span("work"):
            event = {"message": "low_stock", "level": "warning", "logger": "shop", "sku": "A-1", "left": 3}
            emitter(None, "warning", event)
        provider.force_flush()
        [record] = exporter.get_finished_logs()
        return record

    sdk, direct = emitted(False), emitted(True)
    assert type(direct).__name__ == "DirectRecord"
    ours = ExportLogsServiceRequest.FromString(otlp_encode.encode_logs([direct]))
    theirs = encode_logs([sdk])
    for message in (ours, theirs):
        record = message.resource_logs[0].scope_logs[0].log_records[0]
        record.ClearField("time_unix_nano")
        record.ClearField("observed_time_unix_nano")
        record.ClearField("trace_id")
        record.ClearField("span_id")
    assert ours == theirs
