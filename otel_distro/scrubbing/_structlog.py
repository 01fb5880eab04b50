"""A structlog processor that scrubs every event before it is rendered (stdout JSON included)."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from otel_distro.scrubbing._engine import CORRELATION_KEYS, Scrubber, default_scrubber
from otel_distro.scrubbing._summary import summary

__all__ = ["StructlogScrubber"]

_KEEP = (*CORRELATION_KEYS, "timestamp", "level", "logger", "logger_name", "_record", "_from_structlog")


class StructlogScrubber:
    """Scrubs the event dict: the message, every bound value (keys considered), nested dicts and lists.

    Trace context, the request id, the timestamp, the level and the logger name are left alone. When something
    was redacted and `summary` is on, the event gets ``redaction.count`` and ``redaction.kinds``.
    Place it after the processors that add data — after ``format_exc_info`` / ``dict_tracebacks``, so that
    exception messages are text by then — and before the renderer."""

    def __init__(self, scrubber: Scrubber | None = None, *, keep_keys: Iterable[str] = (),
                 summary: bool = True) -> None:
        self._scrubber = scrubber or default_scrubber()
        self._keep = frozenset((*_KEEP, *keep_keys))
        self._summary = summary

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        changes, counts = self._scrubber.scrub_fields(event_dict, skip=self._keep)
        if changes:
            event_dict.update(changes)
        if counts and self._summary:
            event_dict.update(summary(counts))
        return event_dict
