"""The OTel bridge: each finished event becomes an OTel log record (body, severity, attributes, trace context)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
from opentelemetry._logs import Logger as OtelLogger
from opentelemetry._logs import LoggerProvider, SeverityNumber
from structlog.typing import EventDict, WrappedLogger

from otel_distro._internal.context import current_span_context
from otel_distro._internal.fastpath.log_records import DirectRecord
from otel_distro._internal.logs.processors import OTEL_EXCEPTION_KEY
from otel_distro._internal.scrub import PRE_SCRUBBED

__all__ = ["SDK_LOGGER_PREFIX", "OtelLogEmitter"]

_SEVERITY: dict[str, SeverityNumber] = {
    "debug": SeverityNumber.DEBUG,
    "info": SeverityNumber.INFO,
    "warning": SeverityNumber.WARN,
    "error": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}

#: Severity number and text by level name (the levels the chain writes).
_LEVEL_FIELDS: dict[str, tuple[SeverityNumber, str]] = {
    level: (number, level.upper()) for level, number in _SEVERITY.items()
}
#: Attribute value types passed as they are (exact types: a str subclass is converted like any other object).
_PLAIN_TYPES = frozenset({str, bool, int, float})

# Keys of the printed line that are carried by the OTel log record itself rather than as attributes.
_RECORD_KEYS = frozenset({"timestamp", "level", "message", "trace_id", "span_id", "exception", "exc_info"})

# The SDK's and exporters' own loggers: printed, never exported (an export failure must not feed itself).
SDK_LOGGER_PREFIX = "opentelemetry"


def _attribute_value(value: Any) -> Any:
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return repr(value)


# The SDK's default limit of attributes per log record; larger events take the SDK path, which enforces it.
_DIRECT_MAX_ATTRIBUTES = 128


class OtelLogEmitter:
    """A processor that emits each event as an OTel log record (body, severity, attributes, trace context).

    The event dict passes through unchanged. OTel loggers are cached per ``logger`` name, which becomes the
    instrumentation scope, as the SDK's own logging handler does.

    ``direct``: the queues of the batch processors at the end of the provider's chain (the distro's own
    set-up, where nothing else sits in between but the scrubber this chain already ran; each has ``emit``).
    Records are then queued as plain objects, skipping the SDK's per-record ``LogRecord`` / bounded-attribute
    copies; their exporters read the same fields. Without it, records go through ``Logger.emit`` and every
    processor of the provider.
    """

    def __init__(
        self, provider: LoggerProvider, *, pre_scrubbed: bool = False, direct: Sequence[Any] = ()
    ) -> None:
        self._provider = provider
        self._loggers: dict[str, OtelLogger] = {}
        self._pre_scrubbed = pre_scrubbed
        self._direct = tuple(direct)
        self._scopes: dict[str, Any] = {}

    def _emit_direct(self, name: str, level: str, body: str, attributes: dict[str, Any], now: int) -> None:
        scope = self._scopes.get(name)
        if scope is None:
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope  # noqa: PLC0415

            scope = self._scopes[name] = InstrumentationScope(name)
        severity = _LEVEL_FIELDS.get(level)
        if severity is None:
            severity = (_SEVERITY.get(level, SeverityNumber.INFO), level.upper())
        ctx = current_span_context()
        valid = ctx.is_valid
        record = DirectRecord(
            now,
            severity[0],
            severity[1],
            body,
            attributes,
            ctx.trace_id if valid else 0,
            ctx.span_id if valid else 0,
            ctx.trace_flags if valid else 0,
            self._resource(),
            scope,
        )
        for queue in self._direct:
            queue.emit(record)

    def _resource(self) -> Any:
        return getattr(self._provider, "resource", None)

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        otel_exception = event_dict.pop(OTEL_EXCEPTION_KEY, None)
        name = event_dict.get("logger", "app")
        if type(name) is not str:
            name = str(name)
        if name.startswith(SDK_LOGGER_PREFIX):
            return event_dict
        level = event_dict.get("level", "info")
        attributes: dict[str, Any] = {}
        for key, value in event_dict.items():
            if key not in _RECORD_KEYS:
                attributes[key] = value if type(value) in _PLAIN_TYPES else _attribute_value(value)
        if isinstance(otel_exception, dict):
            attributes["exception.type"] = str(otel_exception.get("type", ""))
            attributes["exception.message"] = str(otel_exception.get("message", ""))
            attributes["exception.stacktrace"] = str(otel_exception.get("stacktrace", ""))
        now = time.time_ns()
        message = event_dict.get("message", "")
        body = message if type(message) is str else str(message)
        if self._direct and len(attributes) <= _DIRECT_MAX_ATTRIBUTES:
            self._emit_direct(name, level, body, attributes, now)
            return event_dict
        otel_logger = self._loggers.get(name)
        if otel_logger is None:
            otel_logger = self._loggers[name] = self._provider.get_logger(name)
        if self._pre_scrubbed:
            PRE_SCRUBBED.active = True
        try:
            otel_logger.emit(
                timestamp=now,
                observed_timestamp=now,
                severity_number=_SEVERITY.get(level, SeverityNumber.INFO),
                severity_text=level.upper(),
                body=body,
                attributes=attributes,
            )
        finally:
            PRE_SCRUBBED.active = False
        return event_dict


