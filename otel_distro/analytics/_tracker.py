"""The process's analytics service: validation of server-side events, the buffer, the store, the metrics.

One `Analytics` per process, made on first use from the settings (`current`), closed at app shutdown (the
distro wraps the app's lifespan), at interpreter exit, and before a SIGTERM ends the process.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry import metrics

from otel_distro._internal import guard, state
from otel_distro.analytics._anonymize import Anonymizer
from otel_distro.analytics._buffer import BufferHooks, EventBuffer
from otel_distro.analytics._event import EVENT_NAME, AnalyticsEvent, jsonable_properties, request_correlation
from otel_distro.analytics._store import DEFAULT_DATABASE_URL, EventStore, UnstorableEvent, is_retryable

__all__ = ["Analytics", "current", "shutdown"]

_log = logging.getLogger("otel_distro.analytics")
_NAMES_MAX = 200  # distinct event names kept as a metric attribute; the rest count as "_other"


class _Metrics:
    def __init__(self) -> None:
        meter = metrics.get_meter("otel_distro.analytics")
        self._events = meter.create_counter("app.analytics.events", unit="{event}",
                                            description="Analytics events by name and outcome "
                                                        "(accepted, rejected, stored, dropped)")
        self._dropped = meter.create_counter("app.analytics.dropped", unit="{event}",
                                             description="Analytics events dropped, by reason "
                                                         "(buffer_full, invalid, shutdown)")
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def _name(self, name: str) -> str:
        if name in self._names or name == "_invalid":
            return name
        with self._lock:
            if len(self._names) < _NAMES_MAX and EVENT_NAME.fullmatch(name):
                self._names.add(name)
                return name
        return "_other"

    def count(self, events: Sequence[AnalyticsEvent] | Sequence[str], outcome: str) -> None:
        by_name: dict[str, int] = {}
        for event in events:
            name = self._name(event if isinstance(event, str) else event.name)
            by_name[name] = by_name.get(name, 0) + 1
        for name, n in by_name.items():
            self._events.add(n, {"name": name, "outcome": outcome})

    def dropped(self, events: Sequence[AnalyticsEvent], reason: str) -> None:
        self._dropped.add(len(events), {"reason": reason})
        self.count(events, "dropped")


_shared_metrics: _Metrics | None = None


def _metrics() -> _Metrics:
    """The process's instruments, made once (every `Analytics` of the process counts into the same ones)."""
    global _shared_metrics  # noqa: PLW0603
    if _shared_metrics is None:
        _shared_metrics = _Metrics()
    return _shared_metrics


class Analytics:
    """Tracks events into a bounded buffer that a thread writes, anonymized, to ``database_url``.

    Args:
        database_url: a SQLAlchemy URL; the table ``analytics_events`` is created on first write.
        scrub_key: the HMAC key of the pseudonyms (``OTEL_DISTRO_SCRUB_KEY``); None = a per-install key.
        key_file: where the per-install key is kept (default in the user's data directory).
    """

    def __init__(
        self,
        database_url: str = DEFAULT_DATABASE_URL,
        *,
        scrub_key: bytes | None = None,
        batch_size: int = 100,
        flush_interval: float = 300.0,
        capacity: int = 10_000,
        max_backoff: float = 60.0,
        key_file: Path | None = None,
    ) -> None:
        self.store = EventStore(database_url)
        self._anonymizer = Anonymizer(scrub_key, key_file=key_file)
        self._metrics = _metrics()
        self.buffer = EventBuffer(
            self._write,
            retryable=is_retryable,
            batch_size=batch_size,
            flush_interval=flush_interval,
            capacity=capacity,
            max_backoff=max_backoff,
            hooks=BufferHooks(stored=lambda events: self._metrics.count(events, "stored"),
                              dropped=self._metrics.dropped),
        )

    def _write(self, events: Sequence[AnalyticsEvent]) -> None:
        rows = []
        for event in events:
            try:
                rows.append(self._anonymizer.row(event))
            except Exception as error:  # never store what could not be anonymized; never block the others
                raise UnstorableEvent(type(error).__name__) from error
        self.store.insert(rows)

    def pseudonym(self, user_id: str) -> str:
        """The pseudonym ``user_id`` is stored under (what the logs show for it when a scrub key is set)."""
        return self._anonymizer.pseudonym(user_id)

    def track(
        self,
        name: str,
        properties: Mapping[str, Any] | None = None,
        user_id: str | int | None = None,
        *,
        session_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> bool:
        """A server-side event, with the current request's trace id and request id. False when it was not
        taken (a name that is not snake_case, or a full buffer: both counted, neither raised)."""
        if not isinstance(name, str) or not EVENT_NAME.fullmatch(name):
            self._metrics.count(["_invalid"], "rejected")
            _log.warning("analytics_event_rejected", extra={"reason": "name must be snake_case, 1-64 characters"})
            return False
        trace_id, request_id = request_correlation()
        now = datetime.now(UTC)
        event = AnalyticsEvent(
            name=name,
            properties=jsonable_properties(properties) if properties else {},
            user_id=None if user_id is None else str(user_id),
            id=str(uuid.uuid4()),
            occurred_at=now if occurred_at is None else occurred_at,
            received_at=now,
            trace_id=trace_id,
            request_id=request_id,
            session_id=session_id,
        )
        return self.add([event])

    def add(self, events: Sequence[AnalyticsEvent]) -> bool:
        """Buffer validated events, all or none; counted as accepted, or as dropped (``buffer_full``)."""
        if not self.buffer.add_all(events):
            return False
        self._metrics.count(events, "accepted")
        return True

    def count_rejected(self, names: Sequence[str]) -> None:
        self._metrics.count(names, "rejected")

    def flush(self, timeout: float | None = 30.0) -> bool:
        return self.buffer.flush(timeout)

    def close(self, timeout: float = 10.0) -> int:
        lost = self.buffer.close(timeout)
        self.store.dispose()
        return lost


_current: Analytics | None = None
# Reentrant: the SIGTERM handler runs `shutdown` on the main thread, maybe while that thread is in `current`.
_lock = threading.RLock()
_atexit_registered = False


def current() -> Analytics | None:
    """The process's `Analytics`, made from the settings on first use; None when analytics is off
    (``OTEL_DISTRO_ANALYTICS=false``, or the distro's master switch ``OTEL_DISTRO_ENABLED=false``)."""
    global _current, _atexit_registered  # noqa: PLW0603
    found = _current
    if found is not None:
        return found
    settings = state.settings()
    if not (settings.analytics and settings.enabled):
        return None
    with _lock:
        if _current is None:
            _current = Analytics(
                settings.analytics_database_url or DEFAULT_DATABASE_URL,
                scrub_key=settings.scrub_key.encode() if settings.scrub_key else None,
                batch_size=settings.analytics_batch_size,
                flush_interval=settings.analytics_flush_interval,
                capacity=settings.analytics_buffer_size,
            )
            if not _atexit_registered:
                atexit.register(shutdown)
                _register_sigterm_hook()
                _atexit_registered = True
        return _current


def shutdown(timeout: float = 10.0) -> int:
    """Write what is buffered (within ``timeout``) and close; the next `track_event` starts afresh from the
    settings. Returns how many events were lost. Safe to call any number of times."""
    global _current
    with _lock:
        found, _current = _current, None
    if found is None:
        return 0
    try:
        return found.close(timeout)
    except Exception as exc:
        guard.internal_error("analytics_shutdown", exc)
        return 0


def _register_sigterm_hook() -> None:
    """Have the distro's SIGTERM handler (installed when the distro configured this process and nothing else
    handles SIGTERM) write the buffer before the process ends."""
    from otel_distro._internal import setup  # noqa: PLC0415

    setup.add_shutdown_hook(shutdown)
