"""One analytics event as it is tracked, before anonymization: what `track_event` and the browser route buffer."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from otel_distro._internal.context import REQUEST_ID, current_span_context

__all__ = [
    "EVENT_NAME",
    "SESSION_ID",
    "AnalyticsEvent",
    "Source",
    "jsonable",
    "jsonable_properties",
    "request_correlation",
]

Source = Literal["server", "browser"]

#: Event names: snake_case, starting with a letter, at most 64 characters.
EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
#: Session ids: 1-128 of letters, digits and ``. _ : -``, starting with a letter or digit.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")

_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class AnalyticsEvent:
    """An event waiting in the buffer. It still holds the raw ``user_id`` and properties: they are anonymized
    on the flush thread, just before the insert, and never stored as they are."""

    name: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    trace_id: str | None = None
    request_id: str | None = None
    session_id: str | None = None
    source: Source = "server"


def request_correlation() -> tuple[str | None, str | None]:
    """The current trace id (32 hex) and request id, each None outside a span / a request."""
    span = current_span_context()
    trace_id = format(span.trace_id, "032x") if span.is_valid else None
    return trace_id, REQUEST_ID.get()


_PLAIN = (bool, int, type(None))


def jsonable_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """`jsonable` for a properties mapping, with the common case — flat, string keys, plain values — in one pass."""
    for key, value in properties.items():
        if type(key) is not str or not (
            isinstance(value, _PLAIN)
            or (type(value) is str and "\x00" not in value)
            or (type(value) is float and math.isfinite(value))
        ):
            converted: dict[str, Any] = jsonable(properties)
            return converted
    return dict(properties)


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON the database takes: mappings with string keys, lists, finite numbers, strings without
    NUL (PostgreSQL refuses ``\\u0000`` in JSONB), booleans, None; anything else becomes its ``str``."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if depth >= _MAX_DEPTH:
        return jsonable(str(value), depth)
    if isinstance(value, Mapping):
        return {jsonable(str(k), depth): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return jsonable(str(value), depth)
