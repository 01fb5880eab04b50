"""OpenTelemetry SDK processors that scrub spans and log records at the source.

Register them first: SDK processors run in registration order on the same objects, so the export processors
added after them only ever see scrubbed data. An ended span cannot be changed through the SDK's public API: give
`ScrubbingSpanProcessor` the processors it fronts (``then``) and it hands them the scrubbed span, a copy where the
distro's fast path is off (`otel_distro._internal.fastpath.ended_span`, which holds every SDK-internal access)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import Attributes

from otel_distro._internal.fastpath import ended_span
from otel_distro.scrubbing._engine import CORRELATION_KEYS, Scrubber, default_scrubber
from otel_distro.scrubbing._summary import KINDS_KEY, summary

__all__ = ["ScrubbingLogRecordProcessor", "ScrubbingSpanProcessor"]

_log = logging.getLogger(__name__)


def _summary(counts: Counter[str]) -> dict[str, Any]:
    """The record summary as OpenTelemetry attribute values (sequences are tuples)."""
    out: dict[str, Any] = summary(counts)
    if KINDS_KEY in out:
        out[KINDS_KEY] = tuple(out[KINDS_KEY])
    return out


def _scrub_attributes(scrubber: Scrubber, attributes: Attributes, counts: Counter[str] | None
                      ) -> tuple[dict[str, Any] | None, Counter[str] | None]:
    """A scrubbed copy (None when nothing changed), and the counts (see `Scrubber.scrub_fields`)."""
    if not attributes:
        return None, counts
    attributes = ended_span.plain(attributes)
    changes, counts = scrubber.scrub_fields(attributes, counts, skip=CORRELATION_KEYS)
    if changes is None:
        return None, counts
    for key, new in changes.items():
        if isinstance(new, list) and isinstance(attributes[key], tuple):
            changes[key] = tuple(new)
    return {**attributes, **changes}, counts


class ScrubbingSpanProcessor(SpanProcessor):
    """Scrubs an ended span's name, attributes, events, links and status description.

    With ``then`` (the processors registered after it, export ones included, given to it instead of the provider)
    it hands each the scrubbed span: the span itself, changed in place, on the distro's fast path; a copy built
    through the SDK's public constructor otherwise. Alone, registered first, it can only change the span in place.
    (It passes on ``on_start``, ``on_end``, ``force_flush`` and ``shutdown``; not the SDK's private ``_on_ending``.)
    A span it fails to scrub is not handed on (as the Sentry hook drops an event rather than send it unscrubbed);
    alone, it cannot hold a span back.
    """

    def __init__(self, scrubber: Scrubber | None = None, *, summary: bool = True,
                 then: Sequence[SpanProcessor] = ()) -> None:
        self._scrubber = scrubber or default_scrubber()
        self._summary = summary
        self._then = tuple(then)
        self._failed = False
        if self._then:  # on the instance: alone, its class's empty hook lets the fast path skip it per request
            self.on_start = self._start_then  # type: ignore[method-assign]

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def _start_then(self, span: Span, parent_context: Context | None = None) -> None:
        for processor in self._then:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            scrubbed = self._scrub(span)
        except Exception:
            if not self._failed:  # never break the host app; say it once
                self._failed = True
                _log.exception("scrubbing_span_failed", extra={"span_withheld": bool(self._then)})
            return  # in front of processors: they get nothing rather than the span unscrubbed
        for processor in self._then:
            processor.on_end(scrubbed)

    def _scrub(self, span: ReadableSpan) -> ReadableSpan:
        scrubber = self._scrubber
        name = span.name
        counts: Counter[str] | None = None
        if not scrubber.known_clean(name):
            counts = Counter()
            name = scrubber.scrub_text(name, counts)
        span_attributes, span_events, span_links = ended_span.parts(span)
        attributes, counts = _scrub_attributes(scrubber, span_attributes, counts)
        events = []
        events_changed = False
        for event in span_events:
            ev_name = event.name
            if not scrubber.known_clean(ev_name):
                counts = counts if counts is not None else Counter()
                ev_name = scrubber.scrub_text(ev_name, counts)
            ev_attrs, counts = _scrub_attributes(scrubber, event.attributes, counts)
            if ev_attrs is not None or ev_name != event.name:
                events_changed = True
                events.append(Event(ev_name, ev_attrs if ev_attrs is not None else event.attributes,
                                    event.timestamp))
            else:
                events.append(event)
        links = []
        links_changed = False
        for link in span_links:
            link_attrs, counts = _scrub_attributes(scrubber, link.attributes, counts)
            if link_attrs is not None:
                links_changed = True
                links.append(Link(link.context, link_attrs))
            else:
                links.append(link)
        status: Status | None = None
        description = span.status.description
        if description and not scrubber.known_clean(description):
            counts = counts if counts is not None else Counter()
            new_description = scrubber.scrub_text(description, counts)
            if new_description != description:
                status = Status(span.status.status_code, new_description)
        if not counts:
            return span
        merged: dict[str, Any] = dict(attributes if attributes is not None else (span.attributes or {}))
        if self._summary:
            merged.update(_summary(counts))
        return ended_span.replace(
            span,
            name=name,
            attributes=merged,
            events=events if events_changed else None,
            links=links if links_changed else None,
            status=status,
            in_place=not self._then,
        )

    def shutdown(self) -> None:
        for processor in self._then:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all([processor.force_flush(timeout_millis) for processor in self._then])


class ScrubbingLogRecordProcessor(LogRecordProcessor):
    """Scrubs a log record's body (string or structured) and attributes in place."""

    def __init__(self, scrubber: Scrubber | None = None, *, summary: bool = True) -> None:
        self._scrubber = scrubber or default_scrubber()
        self._summary = summary
        self._failed = False

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        try:
            self._scrub(log_record)
        except Exception:
            if not self._failed:
                self._failed = True
                _log.exception("scrubbing_log_record_failed")

    def _scrub(self, log_record: ReadWriteLogRecord) -> None:
        record, scrubber = log_record.log_record, self._scrubber
        counts: Counter[str] | None = None
        body = record.body
        if body is not None and not (isinstance(body, str) and scrubber.known_clean(body)):
            counts = Counter()
            record.body = scrubber.scrub_value(body, None, counts)
        attributes, counts = _scrub_attributes(scrubber, record.attributes, counts)
        if not counts:
            return
        target: Any = record.attributes
        updates: Mapping[str, Any] = {**(attributes or {}), **(_summary(counts) if self._summary else {})}
        if target is None or ended_span.frozen(target):
            record.attributes = {**(target or {}), **updates}
        else:
            for key, value in updates.items():
                target[key] = value

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
