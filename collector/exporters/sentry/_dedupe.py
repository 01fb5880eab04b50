"""One failure, one Sentry event.

The most common pattern — `span.record_exception(e)` and then `logger.exception(...)`, which many
instrumentations do for the app — reaches the collector twice: as an `exception` span event on the traces
pipeline and as an ERROR log record on the logs pipeline. sentry-sdk's own dedupe integration gives its users one
event per exception; this module does the same for the exporter.

Two events are one failure when they share a *fingerprint*: the trace id, the span id, and the exception's type
and message. They are merged into one event that keeps the log's message, logger and attributes, the richer of
the two stack traces, and the span's trace context and request. The merged event's id is derived from the
fingerprint, so a retried or replayed send is deduplicated by Sentry too.

Across batches (and across the two signals, whose batches arrive separately), the `Deduper` shared by the
exporter's per-signal instances gives an event that may have a counterpart a short `window` to meet it before it
is sent, and remembers what was sent for `memory` seconds (at most `max_entries` fingerprints), so that a
counterpart arriving later is dropped and counted rather than sent as a second event. Only events with a trace
and span id wait, and only when the exporter serves both signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from collector.exporters.sentry._events import SentryItem, event_id
from collector.pdata import Signal

__all__ = ["Deduper", "Fingerprint", "Pending", "fingerprint", "merge_events", "merge_items", "shared_deduper"]

Fingerprint = tuple[str, str, str, str]
"""trace id, span id, exception type, exception message."""


def fingerprint(item: SentryItem) -> Fingerprint | None:
    """The failure an error event reports, or None when it cannot be matched (no exception or no span)."""
    if item.item_type != "event":
        return None
    event = item.event
    values = (event.get("exception") or {}).get("values")
    trace = (event.get("contexts") or {}).get("trace")
    if not values or not trace or not trace.get("trace_id") or not trace.get("span_id"):
        return None
    last = values[-1]
    return (str(trace["trace_id"]), str(trace["span_id"]), str(last.get("type") or ""), str(last.get("value") or ""))


def _frames(event: dict[str, Any]) -> int:
    values = (event.get("exception") or {}).get("values") or ()
    return sum(len((value.get("stacktrace") or {}).get("frames") or ()) for value in values)


def merge_events(first: dict[str, Any], second: dict[str, Any], fp: Fingerprint) -> dict[str, Any]:
    """One event for one failure: the log's message, logger and attributes win, the span's trace context and
    request complete them, and the exception with more frames is kept (on a tie, the log's)."""
    log, other = (second, first) if "logentry" in second and "logentry" not in first else (first, second)
    merged = copy.deepcopy(log)
    for key in ("request", "transaction", "user", "release", "environment", "server_name"):
        if key not in merged and key in other:
            merged[key] = copy.deepcopy(other[key])
    if _frames(other) > _frames(log):
        merged["exception"] = copy.deepcopy(other["exception"])
    tags = {**(other.get("tags") or {}), **(merged.get("tags") or {})}
    if tags:
        merged["tags"] = tags
    contexts = merged.setdefault("contexts", {})
    other_contexts = other.get("contexts") or {}
    trace = {**(contexts.get("trace") or {}), **(other_contexts.get("trace") or {})}
    contexts["trace"] = trace
    other_otel = other_contexts.get("otel") or {}
    otel = contexts.setdefault("otel", {})
    otel["attributes"] = {**(other_otel.get("attributes") or {}), **(otel.get("attributes") or {})}
    for key, value in other_otel.items():
        otel.setdefault(key, copy.deepcopy(value))
    merged["timestamp"] = min(float(first.get("timestamp") or 0.0), float(second.get("timestamp") or 0.0)) or (
        merged.get("timestamp")
    )
    merged["event_id"] = event_id("failure", *fp)
    return merged


def merge_items(items: Iterable[SentryItem]) -> tuple[list[SentryItem], int]:
    """Items of one batch with the events of one failure merged (sources kept, so a retry still covers every
    record); returns the items and how many events were merged away."""
    out: list[SentryItem] = []
    by_fp: dict[Fingerprint, int] = {}
    merged_away = 0
    for item in items:
        fp = fingerprint(item)
        if fp is None:
            out.append(item)
            continue
        at = by_fp.get(fp)
        if at is None:
            by_fp[fp] = len(out)
            out.append(SentryItem({**item.event, "event_id": event_id("failure", *fp)}, item.item_type,
                                  item.source, item.also))
            continue
        kept = out[at]
        out[at] = SentryItem(merge_events(kept.event, item.event, fp), kept.item_type, kept.source,
                             (*kept.also, *item.sources))
        merged_away += 1
    return out, merged_away


@dataclass(slots=True)
class Pending:
    """An event waiting for its counterpart, owned by the export call that saw it first."""

    fp: Fingerprint
    event: dict[str, Any]
    deadline: float
    met: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Deduper:
    """Shared by an exporter's per-signal instances (see `shared_deduper`)."""

    def __init__(self, *, window: float, memory: float, max_entries: int) -> None:
        self.window = window
        self.memory = memory
        self.max_entries = max_entries
        self.signals: set[Signal] = set()
        self._pending: dict[Fingerprint, Pending] = {}
        self._sent: OrderedDict[Fingerprint, float] = OrderedDict()  # fingerprint -> forget after (monotonic)

    @property
    def waits(self) -> bool:
        """Whether a counterpart can come from the other signal at all."""
        return self.window > 0 and {Signal.LOGS, Signal.TRACES} <= self.signals

    def was_sent(self, fp: Fingerprint) -> bool:
        now = time.monotonic()
        while self._sent:
            oldest, expires = next(iter(self._sent.items()))
            if expires > now:
                break
            del self._sent[oldest]
        return fp in self._sent

    def mark_sent(self, fp: Fingerprint) -> None:
        self._sent[fp] = time.monotonic() + self.memory
        self._sent.move_to_end(fp)
        while len(self._sent) > self.max_entries:
            self._sent.popitem(last=False)

    def pending(self, fp: Fingerprint) -> Pending | None:
        return self._pending.get(fp)

    def hold(self, fp: Fingerprint, event: dict[str, Any]) -> Pending:
        entry = Pending(fp, event, time.monotonic() + self.window)
        self._pending[fp] = entry
        return entry

    def join(self, entry: Pending, event: dict[str, Any]) -> None:
        """Merge a counterpart into a held event; the owner sends the result."""
        entry.event = merge_events(entry.event, event, entry.fp)
        entry.met.set()

    def release(self, entry: Pending, *, sent: bool) -> None:
        """The owner is done with a held event: sent (remembered) or to be retried (forgotten)."""
        if self._pending.get(entry.fp) is entry:
            del self._pending[entry.fp]
        if sent:
            self.mark_sent(entry.fp)
        if not entry.outcome.done():
            entry.outcome.set_result(sent)

    async def wait(self, entries: Iterable[Pending]) -> None:
        """Until every held event met its counterpart or its window passed."""
        for entry in entries:
            remaining = entry.deadline - time.monotonic()
            if remaining > 0 and not entry.met.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(entry.met.wait(), remaining)


_shared: weakref.WeakKeyDictionary[Any, dict[str, Deduper]] = weakref.WeakKeyDictionary()


def shared_deduper(host: Any, component: str, *, window: float, memory: float, max_entries: int) -> Deduper:
    """The one `Deduper` of exporter `component` in the running service `host` (one per instance when the host
    cannot be weakly referenced)."""
    try:
        per_host = _shared.setdefault(host, {})
    except TypeError:
        return Deduper(window=window, memory=memory, max_entries=max_entries)
    if component not in per_host:
        per_host[component] = Deduper(window=window, memory=memory, max_entries=max_entries)
    return per_host[component]
