"""Property: every log line is one JSON object with the fixed keys, whatever the message and the context.

Whatever the app logs — any text, any bound or passed context values (nested, big numbers, odd objects), through
structlog or stdlib ``logging``, inside a span and a request or not — the chain (exporting each record over OTel
too) prints exactly one line per call,
a JSON object starting with ``timestamp`` (RFC 3339 UTC), ``level``, ``logger``, ``message``, with ``trace_id`` /
``span_id`` / ``request_id`` where they apply, and every context key.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from otel_distro._internal import logs
from otel_distro._internal.context import REQUEST_ID

FIXED = ("timestamp", "level", "logger", "message")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
RESERVED = {*FIXED, "trace_id", "span_id", "request_id", "event", "exc_info", "stack_info", "exception", "_record",
            "_from_structlog"}


class Opaque:
    """A value no encoder knows: rendered with str()."""

    def __str__(self) -> str:
        return "opaque"


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(max_size=20),
    st.builds(Opaque),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
    ),
    max_leaves=10,
)
keys = st.from_regex(r"[a-z_][a-z0-9_.]{0,15}", fullmatch=True).filter(lambda key: key not in RESERVED)
contexts = st.dictionaries(keys, values, max_size=6)
_RECORD_ATTRIBUTES = {*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "asctime"}


@pytest.fixture(scope="module")
def stream() -> Iterator[io.BytesIO]:
    out = io.BytesIO()
    config = structlog.get_config()
    root_level = logging.getLogger().level
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(InMemoryLogRecordExporter()))  # type: ignore[no-untyped-call]
    pipeline = logs.build_pipeline(log_format="json", stream=out, emitter=logs.OtelLogEmitter(provider))
    logs.install(pipeline, level="debug")
    yield out
    logs.uninstall()
    structlog.configure(**config)
    logging.getLogger().setLevel(root_level)


def _printed(out: io.BytesIO) -> list[dict[str, Any]]:
    lines = out.getvalue().split(b"\n")
    out.seek(0)
    out.truncate()
    assert lines[-1] == b"", "every line ends with a newline"
    parsed = [json.loads(line) for line in lines[:-1]]
    assert all(isinstance(line, dict) for line in parsed)
    return parsed


def _check_fixed(line: dict[str, Any], *, logger: str, level: str) -> None:
    assert list(line)[:4] == list(FIXED), line
    assert TIMESTAMP.fullmatch(line["timestamp"])
    assert (line["level"], line["logger"]) == (level, logger)
    assert isinstance(line["message"], str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    message=st.text(),
    bound=contexts,
    passed=contexts,
    level=st.sampled_from(["debug", "info", "warning", "error", "critical"]),
    in_span=st.booleans(),
    request_id=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True)),
)
def test_structlog_lines(
    stream: io.BytesIO, message: str, bound: dict[str, Any], passed: dict[str, Any], level: str, in_span: bool,
    request_id: str | None,
) -> None:
    logger = structlog.get_logger("prop.app").bind(**bound)
    token = REQUEST_ID.set(request_id)
    tracer = TracerProvider().get_tracer("prop")
    try:
        if in_span:
            with tracer.start_as_current_span("s") as span:
                getattr(logger, level)(message, **passed)
            context = span.get_span_context()
        else:
            getattr(logger, level)(message, **passed)
    finally:
        REQUEST_ID.reset(token)

    [line] = _printed(stream)
    _check_fixed(line, logger="prop.app", level=level)
    assert line["message"] == message
    assert set(line) >= set(bound) | set(passed)
    if in_span:
        assert (line["trace_id"], line["span_id"]) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
    else:
        assert "trace_id" not in line and "span_id" not in line
    assert line.get("request_id") == request_id


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    message=st.text(),
    extra=contexts,
    level=st.sampled_from([logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]),
    with_exception=st.booleans(),
)
def test_stdlib_lines(
    stream: io.BytesIO, message: str, extra: dict[str, Any], level: int, with_exception: bool
) -> None:
    logger = logging.getLogger("prop.stdlib")
    # What ``extra=`` can carry: not the record's own attributes (stdlib refuses them); ``_private`` keys are left out
    extra = {key: value for key, value in extra.items() if key not in _RECORD_ATTRIBUTES and not key.startswith("_")}
    if with_exception:
        try:
            raise ValueError(message)
        except ValueError:
            logger.log(level, message, extra=extra, exc_info=True)
    else:
        logger.log(level, message, extra=extra)

    [line] = _printed(stream)
    _check_fixed(line, logger="prop.stdlib", level=logging.getLevelName(level).lower())
    assert line["message"] == message
    assert set(line) >= set(extra)
    if with_exception:
        assert line["exception"][-1]["exc_type"] == "ValueError"
