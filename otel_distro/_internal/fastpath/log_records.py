"""Log records queued straight to the batch processors' queues, as one plain object each.

The SDK's path for a record is ``Logger.emit`` -> a ``LogRecord`` with a ``BoundedAttributes`` copy -> each processor
-> the batch processor's ``on_emit``, which copies it again into a ``ReadableLogRecord``. Where the distro set up
the whole chain itself — its own OTLP exporters, which read plain fields, and nothing between the log chain and the
batch processors but the scrubber the chain already ran — the chain hands `DirectRecord` s to the batch processors'
inner queue (the SDK's private ``_batch_processor``) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry._logs import SeverityNumber

from otel_distro._internal import fastpath

__all__ = ["DirectRecord", "direct_queues"]


def direct_queues(
    batch_processors: Sequence[Any], *, exporters_read_plain_fields: bool, nothing_between: bool
) -> list[Any]:
    """The queues of ``batch_processors`` to hand records to directly, or none (then ``Logger.emit`` is used).

    ``exporters_read_plain_fields``: every exporter behind them is the distro's own; ``nothing_between``: no other
    log record processor would run before them (or the log chain already did its work).
    """
    if not fastpath.active() or not batch_processors or not exporters_read_plain_fields or not nothing_between:
        return []
    queues = [getattr(p, "_batch_processor", None) for p in batch_processors]
    return queues if all(callable(getattr(q, "emit", None)) for q in queues) else []


class DirectRecord:
    """What a batch processor queues and an OTLP exporter encodes, in one object: a ``ReadableLogRecord``'s
    shape (``log_record``, ``resource``, ``instrumentation_scope``, ``dropped_attributes``) whose
    ``log_record`` is itself, with the fields of an SDK ``LogRecord`` the exporters read."""

    __slots__ = (
        "attributes",
        "body",
        "instrumentation_scope",
        "resource",
        "severity_number",
        "severity_text",
        "span_id",
        "timestamp",
        "trace_flags",
        "trace_id",
    )

    dropped_attributes = 0
    event_name = None

    def __init__(  # noqa: PLR0917 - one slot each, positional for speed on every log line
        self,
        timestamp: int,
        severity_number: SeverityNumber,
        severity_text: str,
        body: str,
        attributes: dict[str, Any],
        trace_id: int,
        span_id: int,
        trace_flags: int,
        resource: Any,
        scope: Any,
    ) -> None:
        self.timestamp = timestamp
        self.severity_number = severity_number
        self.severity_text = severity_text
        self.body = body
        self.attributes = attributes
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.resource = resource
        self.instrumentation_scope = scope

    @property
    def log_record(self) -> DirectRecord:
        return self

    @property
    def observed_timestamp(self) -> int:
        return self.timestamp
