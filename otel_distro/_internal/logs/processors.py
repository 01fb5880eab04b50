"""The log chain's processors: the fixed keys, bound context, exceptions, and the JSON renderer.

Every line runs through::

    contextvars -> fixed keys (level, logger, timestamp, trace ids + request id, message) -> exception dict
    -> [scrubber] -> OTel log record (`otel_bridge`) -> renderer (JSON line or console)
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from otel_distro._internal import guard
from otel_distro._internal.context import REQUEST_ID, current_span_context
from otel_distro._internal.fastpath import structlog_context

__all__ = [
    "LEVELS",
    "OTEL_EXCEPTION_KEY",
    "Guarded",
    "add_standard_keys",
    "capture_exception",
    "contextvars_merger",
    "keep_exc_info_for_console",
    "render_json",
    "utc_timestamp",
    "when_exception",
]

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

_FIRST_KEYS = ("timestamp", "level", "logger", "message", "trace_id", "span_id", "request_id")


_second: tuple[int, str] = (-1, "")


def utc_timestamp(seconds: float) -> str:
    """RFC 3339 UTC with microseconds; the part up to the second is formatted once per second."""
    global _second  # noqa: PLW0603
    if seconds < 0:
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    whole = int(seconds)
    cached = _second
    if cached[0] != whole:
        cached = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{cached[1]}.{int((seconds - whole) * 1_000_000):06d}Z"



def add_standard_keys(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """The fixed keys in one step (one call instead of five on every line): ``level`` (lower case; ``exception`` logs
    at ``error``, ``warn`` at ``warning``), ``logger``, ``timestamp`` (RFC 3339 UTC; kept when a stdlib record set it),
    ``trace_id`` / ``span_id`` of the current span, ``request_id`` of the current request, and structlog's ``event``
    as ``message``."""
    if "level" not in event_dict:
        event_dict["level"] = (
            "error" if method_name == "exception" else "warning" if method_name == "warn" else method_name
        )
    if "logger" not in event_dict:
        event_dict["logger"] = getattr(logger, "name", None) or "app"
    if "timestamp" not in event_dict:
        event_dict["timestamp"] = utc_timestamp(time.time())
    ctx = current_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    request_id = REQUEST_ID.get()
    if request_id is not None and "request_id" not in event_dict:
        event_dict["request_id"] = request_id
    if "event" in event_dict:
        event = event_dict.pop("event")
        if "message" not in event_dict:
            event_dict["message"] = event
    return event_dict


def contextvars_merger() -> Processor:
    """structlog's `merge_contextvars`, or the room's equal that reads only structlog's own context variables (not a
    copy of the whole context on every line): `fastpath.structlog_context`."""
    return structlog_context.merger()


#: Where `capture_exception` leaves the exception, as OTel wants it, for `OtelLogEmitter` (never printed).
OTEL_EXCEPTION_KEY = "_otel_exception"


def _exc_info_tuple(exc_info: Any) -> tuple[type[BaseException], BaseException, Any] | None:
    if isinstance(exc_info, BaseException):
        return (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple):
        return exc_info if len(exc_info) == 3 and exc_info[1] is not None else None
    if exc_info:
        current = sys.exc_info()
        return current if current[1] is not None else None
    return None


def capture_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """For the OTel log record: the exception's type, message and Python traceback text.

    Per the OpenTelemetry conventions, ``exception.stacktrace`` is the language's own traceback text
    (`traceback.format_exception`); the printed line keeps structlog's structured ``exception`` instead. Runs
    before the exception renderer consumes ``exc_info``, and before the scrubber, which then scrubs the text.
    """
    exc_info = event_dict.get("exc_info")
    if exc_info:
        resolved = _exc_info_tuple(exc_info)
        if resolved is not None:
            exc_type, exc, tb = resolved
            event_dict[OTEL_EXCEPTION_KEY] = {
                "type": exc_type.__name__,
                "message": str(exc),
                "stacktrace": "".join(traceback.format_exception(exc_type, exc, tb)),
            }
            if exc_info is True:  # the renderer would look at sys.exc_info() again; keep what we saw
                event_dict["exc_info"] = resolved
    return event_dict


class Guarded:
    """Runs a processor that must not break the app's logging call: a failure is reported once (raised
    under pytest) and the event continues unchanged."""

    def __init__(self, processor: Processor, where: str) -> None:
        self._processor = processor
        self._where = where

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Any:
        try:
            return self._processor(logger, method_name, event_dict)
        except structlog.DropEvent:
            raise
        except Exception as exc:
            guard.internal_error(self._where, exc)
            return event_dict


def render_json(_: WrappedLogger, __: str, event_dict: EventDict) -> bytes:
    """One JSON object per line (bytes; the logger adds the newline), the fixed keys first.

    Unknown types are rendered with str(). What JSON cannot hold as it is (an integer beyond 64 bits, a mapping
    with keys that are not strings, a lone surrogate) is written as text instead of failing the app's call.
    """
    event_dict.pop(OTEL_EXCEPTION_KEY, None)  # only there when the OTel emitter failed
    ordered = {key: event_dict.pop(key) for key in _FIRST_KEYS if key in event_dict}
    ordered.update(event_dict)
    try:
        return orjson.dumps(ordered, default=str)
    except TypeError:  # orjson.JSONEncodeError: rare, so the conversion is paid only here
        return orjson.dumps(_jsonable(ordered), default=str)


_INT_RANGE = range(-(2**63), 2**64)


def _jsonable(value: Any) -> Any:
    """``value`` with what orjson refuses made into text (keys, big integers, surrogates), recursively."""
    if isinstance(value, dict):
        return {key if type(key) is str else str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value in _INT_RANGE else str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def when_exception(steps: Sequence[Processor]) -> Processor:
    """``steps`` (stack and exception rendering) run only on events that carry ``exc_info`` or ``stack_info``:
    most lines carry neither, and each step would only look and pass the event on."""
    chain = tuple(steps)

    def exception_processors(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Any:
        result: Any = event_dict
        if "exc_info" in event_dict or "stack_info" in event_dict:
            for step in chain:
                result = step(logger, method_name, result)
        return result

    return exception_processors


def keep_exc_info_for_console(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    if event_dict.get("exc_info") is True:
        event_dict["exc_info"] = sys.exc_info()
    return event_dict


