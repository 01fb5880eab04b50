"""The stdlib bridge: `logging` records (uvicorn's own included) through the same chain as structlog's events."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Protocol

from structlog.typing import EventDict

from otel_distro._internal.logs.otel_bridge import SDK_LOGGER_PREFIX
from otel_distro._internal.logs.processors import utc_timestamp

__all__ = ["Chain", "StdlibBridgeHandler", "mark_logged"]


class Chain(Protocol):
    """What the bridge hands records to (`pipeline.LogPipeline`)."""

    def run(self, method_name: str, event_dict: EventDict) -> None: ...

# Attributes every stdlib LogRecord has; anything else came in through ``extra=`` and is bound context.
# (``color_message`` is uvicorn's ANSI-coloured duplicate of the message.)
_STDLIB_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


_SDK_REPEAT_INTERVAL_S = 60.0


_LOGGED_MARK = "__otel_distro_logged__"


def mark_logged(exc: BaseException) -> None:
    """The request middleware logged ``exc`` (``request_failed``, with trace and request ids): a server's own later
    record of the same exception (uvicorn's "Exception in ASGI application", outside any span) is a duplicate
    without context, and the bridge drops it — otherwise every failure would reach Sentry twice, once unlinked."""
    with contextlib.suppress(AttributeError, TypeError):  # a type without __dict__: both lines are kept
        setattr(exc, _LOGGED_MARK, True)


def _already_logged(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if isinstance(record.exc_info, tuple) else None
    return exc is not None and getattr(exc, _LOGGED_MARK, False) is True


class StdlibBridgeHandler(logging.Handler):
    """Root handler that sends stdlib records through the same chain, with their ``extra=`` as context."""

    def __init__(self, pipeline: Chain, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.pipeline = pipeline
        self._sdk_last: dict[tuple[str, int], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """The SDK's own warnings repeat on every export while a collector is down: one per minute is enough."""
        if record.name.startswith(SDK_LOGGER_PREFIX) and record.levelno < logging.CRITICAL:
            key = (record.name, record.levelno)
            now = time.monotonic()
            last = self._sdk_last.get(key)
            if last is not None and now - last < _SDK_REPEAT_INTERVAL_S:
                return False
            self._sdk_last[key] = now
        if record.exc_info and _already_logged(record):
            return False
        return bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event_dict: EventDict = {
                "message": record.getMessage(),
                "logger": record.name,
                "level": record.levelname.lower(),
                "timestamp": utc_timestamp(record.created),
            }
            for key, value in record.__dict__.items():
                if key not in _STDLIB_ATTRS and not key.startswith("_"):
                    event_dict[key] = value
            if record.exc_info:
                event_dict["exc_info"] = record.exc_info
            self.pipeline.run(record.levelname.lower(), event_dict)
        except Exception:
            self.handleError(record)


