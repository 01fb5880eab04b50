"""Libraries' stdlib `logging` (aiohttp, grpc, asyncio) as the collector's own JSON lines.

Without this, a client that sends a malformed request or drops its connection makes aiohttp print a
multi-line traceback on stderr ("Error handling request", `BadHttpMessage`, `ConnectionResetError`): 21,000
hostile requests left 707 of them in one test, unparseable for a log pipeline and a disk filler. Here:

- a *client fault* (the peer sent something malformed, or went away) is one structured WARNING line,
  ``client_fault`` with its kind and message, at most one per kind every `RATE_WINDOW` seconds, the next line
  saying how many were suppressed meanwhile;
- every other record becomes one JSON line with its level, logger and message, its traceback (if any) as a
  string field, never spread over several lines.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import threading
import time
from typing import Any

import structlog

__all__ = ["RATE_WINDOW", "StdlibBridge", "install", "is_client_fault"]

RATE_WINDOW = 10.0
"""Seconds between two ``client_fault`` lines of one kind."""

_CLIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionResetError, BrokenPipeError, ConnectionAbortedError, asyncio.IncompleteReadError, ssl.SSLError,
)


def _http_errors() -> tuple[type[BaseException], ...]:
    try:
        from aiohttp.http_exceptions import HttpProcessingError  # noqa: PLC0415 - the HTTP receiver's parser
    except ImportError:  # pragma: no cover - aiohttp is a dependency
        return ()
    return (HttpProcessingError,)


_CLIENT_FAULTS = _CLIENT_ERRORS + _http_errors()


def is_client_fault(exc: BaseException | None) -> bool:
    """Whether `exc` says the peer misbehaved (malformed request, dropped connection), not the collector."""
    return isinstance(exc, _CLIENT_FAULTS)


class StdlibBridge(logging.Handler):
    """A logging handler writing each record through structlog, client faults rate-limited."""

    def __init__(self, *, window: float = RATE_WINDOW, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._log = structlog.get_logger("collector")
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None and is_client_fault(exc):
                self._client_fault(record, exc)
                return
            fields: dict[str, Any] = {"logger": record.name}
            if record.exc_info and record.exc_info[0] is not None:
                fields["exc_info"] = record.exc_info
            level = record.levelname.lower()
            method = getattr(self._log, level if level in {"debug", "info", "warning", "error", "critical"}
                             else "info")
            method(_first_line(record.getMessage()), **fields)
        except Exception:  # logging must never take the collector down
            self.handleError(record)

    def _client_fault(self, record: logging.LogRecord, exc: BaseException) -> None:
        kind = type(exc).__name__
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self._window:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._last[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        self._log.warning(
            "client_fault", kind=kind, error=_describe(exc), context=_first_line(record.getMessage()),
            logger=record.name, suppressed=suppressed,
        )


def _describe(exc: BaseException) -> str:
    """What went wrong, in one line and without echoing the client's bytes (they may hold credentials)."""
    message = getattr(exc, "message", None)
    code = getattr(exc, "code", None)
    if isinstance(message, str):  # aiohttp's HttpProcessingError: "<reason>:\n\n  b'<the bad line>'\n   ^"
        # some put the bytes on the first line ("... when reading: b'Bearer ...'"): cut at the first quote
        reason = re.split(r"\s*(?<!\w)b?['\"]", _first_line(message), maxsplit=1)[0]
        return " ".join(part for part in (str(code or ""), reason) if part)
    return _first_line(str(exc)) or type(exc).__name__


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line[:500]


def install(level: int = logging.INFO) -> StdlibBridge:
    """Route the root logger (and so every library logger that propagates) through a `StdlibBridge`."""
    bridge = StdlibBridge()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StdlibBridge):
            root.removeHandler(handler)
    root.addHandler(bridge)
    root.setLevel(level)
    return bridge
