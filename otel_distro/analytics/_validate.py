"""Validation of a browser batch for ``POST /analytics/events``: whole-batch errors, then one result per event.

A batch is ``{"events": [...]}`` with 1 to `MAX_EVENTS` events. Each event: ``name`` (snake_case), optional
``id`` (a UUID: retries with the same id are stored once), ``properties`` (an object, see `check_properties`),
``timestamp`` (RFC 3339 with an offset, at most `MAX_FUTURE` ahead and `MAX_AGE` old; default: when it arrived),
``session_id`` (1-128 of ``[A-Za-z0-9._:-]``), ``user_id`` (a string, pseudonymized before storage). Errors
name the field: ``events[3].properties.message_length: expected an integer >= 0, got -1``.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from otel_distro.analytics._event import EVENT_NAME, SESSION_ID, AnalyticsEvent
from otel_distro.analytics._schemas import check_known_properties

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_EVENTS",
    "BatchError",
    "EventResult",
    "check_properties",
    "parse_batch",
]

MAX_EVENTS = 100
MAX_BODY_BYTES = 64 * 1024
MAX_PROPERTIES = 50
MAX_PROPERTIES_BYTES = 8 * 1024
MAX_STRING = 1024
MAX_DEPTH = 3
MAX_USER_ID = 256
MAX_FUTURE = timedelta(minutes=5)
MAX_AGE = timedelta(days=7)

_FIELDS = frozenset({"id", "name", "properties", "timestamp", "session_id", "user_id"})
_PROPERTY_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
_MAX_SAFE_INT = 2**53


class BatchError(Exception):
    """The whole batch is refused: ``status`` (400, 413, 422) and a message naming what is wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class EventResult:
    index: int
    event: AnalyticsEvent | None = None
    error: str | None = None


def parse_batch(body: bytes, *, received_at: datetime, trace_id: str | None = None,
                request_id: str | None = None) -> list[EventResult]:
    """The events of ``body``, each valid (an `AnalyticsEvent` from the browser) or with its error.

    Raises `BatchError` for what refuses the whole batch: too large (413), not JSON (400), not the documented
    shape or more than `MAX_EVENTS` events (422 / 413)."""
    if len(body) > MAX_BODY_BYTES:
        raise BatchError(413, f"body: {len(body)} bytes; at most {MAX_BODY_BYTES} bytes per batch")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BatchError(400, f"body: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise BatchError(422, 'body: expected a JSON object {"events": [...]}')
    unknown = sorted(set(data) - {"events"})
    if unknown:
        raise BatchError(422, f"{unknown[0]}: unknown field (a batch has only 'events')")
    if "events" not in data:
        raise BatchError(422, "events: required (a list of 1 to 100 events)")
    events = data["events"]
    if not isinstance(events, list):
        raise BatchError(422, "events: expected a list of events")
    if not events:
        raise BatchError(422, "events: empty; send 1 to 100 events")
    if len(events) > MAX_EVENTS:
        raise BatchError(413, f"events: {len(events)} events in one batch; at most {MAX_EVENTS}")
    results = []
    for index, raw in enumerate(events):
        where = f"events[{index}]"
        try:
            event = _event(raw, where, received_at, trace_id, request_id)
        except _Invalid as invalid:
            results.append(EventResult(index, error=str(invalid)))
        else:
            results.append(EventResult(index, event=event))
    return results


class _Invalid(ValueError):
    pass


def _event(raw: Any, where: str, received_at: datetime, trace_id: str | None,
           request_id: str | None) -> AnalyticsEvent:
    if not isinstance(raw, dict):
        raise _Invalid(f"{where}: expected an object")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _Invalid(f"{where}.{unknown[0]}: unknown field (allowed: {', '.join(sorted(_FIELDS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not EVENT_NAME.fullmatch(name):
        raise _Invalid(f"{where}.name: {'required' if name is None else 'expected'} a snake_case name "
                       "(a-z, 0-9, _; starting with a letter; at most 64 characters)")
    event_id = _event_id(raw.get("id"), where)
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    problem = check_properties(properties)
    if problem is None:
        problem = check_known_properties(name, properties)
    if problem is not None:
        raise _Invalid(f"{where}.properties{'.' if not problem.startswith(':') else ''}{problem}")
    occurred_at = _timestamp(raw.get("timestamp"), where, received_at)
    session_id = raw.get("session_id")
    if session_id is not None and (not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id)):
        raise _Invalid(f"{where}.session_id: expected 1-128 of letters, digits and . _ : -")
    user_id = raw.get("user_id")
    if user_id is not None and (not isinstance(user_id, str | int) or isinstance(user_id, bool)
                                or not str(user_id) or len(str(user_id)) > MAX_USER_ID):
        raise _Invalid(f"{where}.user_id: expected a string of 1 to {MAX_USER_ID} characters")
    return AnalyticsEvent(
        name=name,
        properties=properties,
        user_id=None if user_id is None else str(user_id),
        id=event_id,
        occurred_at=occurred_at,
        received_at=received_at,
        trace_id=trace_id,
        request_id=request_id,
        session_id=session_id,
        source="browser",
    )


def _event_id(value: Any, where: str) -> str:
    if value is None:
        return str(uuid.uuid4())
    if isinstance(value, str) and len(value) <= 64:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise _Invalid(f"{where}.id: expected a UUID (the client's id of the event, kept across retries)")


def _timestamp(value: Any, where: str, received_at: datetime) -> datetime:
    if value is None:
        return received_at
    if not isinstance(value, str) or len(value) > 40:
        raise _Invalid(f"{where}.timestamp: expected an RFC 3339 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(f"{where}.timestamp: not an RFC 3339 date-time (e.g. 2026-12-06T18:39:18.123Z)") from None
    if parsed.tzinfo is None or len(value) <= 10:  # a date alone, or a local time: when was that?
        raise _Invalid(f"{where}.timestamp: needs a date, a time and an offset or Z (RFC 3339)")
    if parsed - received_at > MAX_FUTURE:
        raise _Invalid(f"{where}.timestamp: more than 5 minutes in the future (check the client's clock)")
    if received_at - parsed > MAX_AGE:
        raise _Invalid(f"{where}.timestamp: older than 7 days")
    return parsed


def check_properties(properties: Any) -> str | None:
    """What breaks the generic rules for properties (a message starting with the key path, or with ``:`` for
    the object itself), or None: an object of at most `MAX_PROPERTIES` keys (letters, digits, ``_ . -``),
    JSON values nested at most `MAX_DEPTH` deep, strings of at most `MAX_STRING` characters, integers within
    +-2^53, at most `MAX_PROPERTIES_BYTES` serialized."""
    if not isinstance(properties, dict):
        return ": expected an object"
    if len(properties) > MAX_PROPERTIES:
        return f": {len(properties)} properties; at most {MAX_PROPERTIES}"
    for key, value in properties.items():
        if not _PROPERTY_KEY.fullmatch(key):
            return f"{key[:64]}: property names are 1-64 of letters, digits, _ . - (starting with a letter or _)"
        problem = _check_value(value, 1)
        if problem is not None:
            return f"{key}{problem}"
    if len(orjson.dumps(properties)) > MAX_PROPERTIES_BYTES:
        return f": more than {MAX_PROPERTIES_BYTES} bytes as JSON"
    return None


def _check_value(value: Any, depth: int) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) <= _MAX_SAFE_INT else ": integer out of range (at most 2^53)"
    if isinstance(value, float):
        return None if math.isfinite(value) else ": not a finite number"
    if isinstance(value, str):
        return None if len(value) <= MAX_STRING else f": string longer than {MAX_STRING} characters"
    if depth >= MAX_DEPTH:
        return f": nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, list):
        if len(value) > MAX_PROPERTIES:
            return f": more than {MAX_PROPERTIES} items"
        for i, item in enumerate(value):
            problem = _check_value(item, depth + 1)
            if problem is not None:
                return f"[{i}]{problem}"
        return None
    if isinstance(value, dict):
        if len(value) > MAX_PROPERTIES:
            return f": more than {MAX_PROPERTIES} keys"
        for key, item in value.items():
            problem = _check_value(item, depth + 1)
            if problem is not None:
                return f".{key[:64]}{problem}"
        return None
    return ": not a JSON value"
