"""Product analytics: ``track_event`` on the server, ``POST /analytics/events`` for the browser, one table.

::

    from otel_distro.analytics import track_event

    track_event("chat_message_sent", {"message_length": 42}, user_id=user.id)

`track_event` never waits for the database, in sync or async code: the event (with the current request's
trace id and request id) goes into a bounded buffer that a thread writes, anonymized with the scrubbing engine
(``user_id`` -> the keyed pseudonym the logs use; personal data in properties redacted), to the table
``analytics_events`` of ``OTEL_DISTRO_ANALYTICS_DATABASE_URL`` (SQLite ``./otel-distro-analytics.db`` by default).
The buffer is written at 100 events, every 5 minutes, on `flush`, at app shutdown and before SIGTERM ends the
process; when the database is away it keeps the events and retries with backoff; when it is full, new events are
dropped and counted (``app.analytics.dropped``). The documented events are listed in `EVENT_SCHEMAS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_distro._internal import guard
from otel_distro.analytics._event import AnalyticsEvent
from otel_distro.analytics._schemas import EVENT_SCHEMAS
from otel_distro.analytics._store import DEFAULT_DATABASE_URL
from otel_distro.analytics._tracker import Analytics, current, shutdown

__all__ = [
    "DEFAULT_DATABASE_URL",
    "EVENT_SCHEMAS",
    "Analytics",
    "AnalyticsEvent",
    "flush",
    "shutdown",
    "track_event",
]


def track_event(
    name: str,
    properties: Mapping[str, Any] | None = None,
    user_id: str | int | None = None,
    *,
    session_id: str | None = None,
) -> bool:
    """Record the event ``name`` (snake_case) now. Returns at once; True when it was buffered, False when it
    was not (analytics off, an invalid name, or a full buffer — counted, never raised)."""
    try:
        analytics = current()
        if analytics is None:
            return False
        return analytics.track(name, properties, user_id, session_id=session_id)
    except Exception as exc:
        guard.internal_error("track_event", exc)
        return False


def flush(timeout: float | None = 30.0) -> bool:
    """Write every event tracked so far; blocks up to ``timeout`` seconds (from async code:
    ``await asyncio.to_thread(flush)``). False when the database did not take them: they stay buffered and are
    retried."""
    try:
        analytics = current()
        return True if analytics is None else analytics.flush(timeout)
    except Exception as exc:
        guard.internal_error("analytics_flush", exc)
        return False
