"""Scrubbed spans and log records handed on: changed in place where the SDK allows it, else copied.

The scrubbing span processor (`otel_distro.scrubbing`) runs once a span has ended, on the `ReadableSpan` the SDK
hands every processor in turn; the public API has no way to change that object. On the fast path its private fields
are set, so every processor registered after the scrubber (the export ones, and any the app adds later) sees the
scrubbed span. Otherwise a new `ReadableSpan` is built with its public constructor and the scrubber hands it on
itself, to the processors it was given (``then``): the same names, attributes, events, links and status reach the
exporters either way (the dropped counts are zero on both paths once a span was scrubbed).

Reads are shortcuts on the fast path only: an ended span's attributes read as the plain dict inside the SDK's
`BoundedAttributes` (iterating the wrapper takes its lock and a lookup per key), and an empty private list of events
or links skips the public property's copy under a lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status

from otel_distro._internal import fastpath

__all__ = ["frozen", "parts", "plain", "replace"]


def parts(span: ReadableSpan) -> tuple[Any, Sequence[Event], Sequence[Link]]:
    """An ended span's attributes, events and links, as cheaply as this path can read them (one check for all)."""
    if not fastpath.active():
        return span.attributes, span.events, span.links
    raw = getattr(span, "_attributes", None)
    attributes = getattr(raw, "_dict", raw) if raw is not None else span.attributes
    if not isinstance(attributes, dict):
        attributes = span.attributes
    events = getattr(span, "_events", None)
    links = getattr(span, "_links", None)
    return (
        attributes,
        () if events is not None and not events else span.events,
        () if links is not None and not links else span.links,
    )


def plain(mapping: Any) -> Any:
    """The dict inside an SDK `BoundedAttributes` on the fast path (an event's, a log record's), else ``mapping``."""
    if type(mapping) is dict or not fastpath.active():
        return mapping
    inner = getattr(mapping, "_dict", None)
    return inner if isinstance(inner, dict) else mapping


def frozen(mapping: object) -> bool:
    """Whether a log record's attributes cannot be changed in place: always on the plain path (the record gets a new
    mapping, through the public attribute); on the fast path only when the SDK's `BoundedAttributes` is immutable."""
    if not fastpath.active() or not isinstance(mapping, dict | Mapping):
        return True
    return bool(getattr(mapping, "_immutable", not isinstance(mapping, dict)))


def replace(
    span: ReadableSpan,
    *,
    name: str,
    attributes: Mapping[str, Any],
    events: Sequence[Event] | None,
    links: Sequence[Link] | None,
    status: Status | None,
    in_place: bool = False,
) -> ReadableSpan:
    """``span`` with the given parts (``None``: unchanged): itself, changed, on the fast path (or when ``in_place``,
    for a scrubber registered without processors to hand on to, whose only way is the span itself); else a copy.

    Raises `TypeError` when ``in_place`` is asked of a span without the fields it writes (an SDK release that renamed
    them): a copy would reach no one, and the processors after the scrubber would export the span as it was."""
    writable = _has_private_fields(span)
    if in_place and not writable:
        raise TypeError(
            f"cannot scrub a {type(span).__qualname__} in place (it has not the SDK span's private fields); "
            "give ScrubbingSpanProcessor the processors to hand the scrubbed span to (then=...)"
        )
    if (in_place or fastpath.active()) and writable:
        if name != span.name:
            span._name = name
        span._attributes = dict(attributes)
        if events is not None:
            span._events = tuple(events)
        if links is not None:
            span._links = tuple(links)
        if status is not None:
            span._status = status
        return span
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=dict(attributes),
        events=tuple(events) if events is not None else span.events,
        links=tuple(links) if links is not None else span.links,
        kind=span.kind,
        status=status if status is not None else span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _has_private_fields(span: ReadableSpan) -> bool:
    return all(hasattr(span, field) for field in ("_name", "_attributes", "_events", "_links", "_status"))
