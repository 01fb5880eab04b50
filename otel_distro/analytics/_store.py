"""Storage: the ``analytics_events`` table through SQLAlchemy, created on first use, written in batches.

Inserts are idempotent on the event id (insert-or-ignore on the primary key), so a batch retried after a lost
answer, or a browser resending a batch, is stored once. The store's own statements run with instrumentation
suppressed: writing analytics makes no spans and no ``db.client.operation.duration`` points.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import JSON, Column, DateTime, Index, MetaData, String, Table, create_engine, exc, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url

__all__ = ["DEFAULT_DATABASE_URL", "EventStore", "UnstorableEvent", "is_retryable", "table"]

#: The embedded default: a SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///otel-distro-analytics.db"

_metadata = MetaData()

table = Table(
    "analytics_events",
    _metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("user_pseudonym", String(64)),
    Column("properties", JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("trace_id", String(32)),
    Column("request_id", String(128)),
    Column("session_id", String(128)),
    Column("source", String(16), nullable=False),
    Index("ix_analytics_events_occurred_at", "occurred_at"),
    Index("ix_analytics_events_name_occurred_at", "name", "occurred_at"),
)


def is_retryable(error: BaseException) -> bool:
    """Whether a failed write may pass later as it is: yes when the database is away, busy, lost the table or
    is misconfigured (nothing about the rows is wrong); no when the database refused the rows' data (integrity,
    data errors) or the rows could not be made into a statement — retrying those would block every later
    event, so the buffer writes them one by one and drops only the ones refused."""
    if isinstance(error, exc.DBAPIError):
        return error.connection_invalidated or not isinstance(error, exc.DataError | exc.IntegrityError)
    return not isinstance(error, exc.StatementError | UnstorableEvent)


class UnstorableEvent(ValueError):
    """One event cannot be made into a row (a failure of anonymization): it is dropped, the others are not."""


def _engine_url(url: str) -> str:
    """``postgresql://`` means psycopg2 to SQLAlchemy; use psycopg (3) when that is what is installed."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        try:
            import psycopg2  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: F401, PLC0415
        except ImportError:
            return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _leave_out_of_health_checks(engine: Engine) -> None:
    """The analytics database is not a dependency of the app: while it is away events wait in the buffer, and the
    app stays healthy (its own engines on the same database are still checked)."""
    try:
        from otel_distro._internal import health  # noqa: PLC0415
    except ImportError:  # the health module needs Starlette; without it there are no health checks either
        return
    health.ignore_engine(engine)


class EventStore:
    """Writes anonymized rows to ``analytics_events`` at ``url`` (a SQLAlchemy URL)."""

    def __init__(self, url: str = DEFAULT_DATABASE_URL, *, connect_timeout: float = 5.0) -> None:
        self.url = url
        self._connect_timeout = connect_timeout
        self._engine: Engine | None = None
        self._pid = os.getpid()
        self._table_ready = False
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is not None and self._pid != os.getpid():
                # A forked child: the pooled connections are the parent's (a socket used by two processes
                # interleaves their statements). A new pool for this process; the parent's stay open for it.
                self._engine.dispose(close=False)
            self._pid = os.getpid()
            if self._engine is None:
                url = _engine_url(self.url)
                connect_args: dict[str, Any] = {}
                backend = make_url(url).get_backend_name()
                if backend == "postgresql":
                    connect_args["connect_timeout"] = max(1, round(self._connect_timeout))
                elif backend == "sqlite":
                    connect_args["timeout"] = self._connect_timeout
                with suppress_instrumentation():
                    self._engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
                _leave_out_of_health_checks(self._engine)
            return self._engine

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` in one transaction; rows whose id is stored already are skipped. Raises what the
        database raised (nothing is written then)."""
        if not rows:
            return
        engine = self.engine
        with suppress_instrumentation():
            try:
                self._ensure_table(engine)
                with engine.begin() as connection:
                    connection.execute(self._insert_statement(engine), list(rows))
            except exc.ProgrammingError:
                self._table_ready = False  # dropped under us? create it again on the next try
                raise

    def _ensure_table(self, engine: Engine) -> None:
        if not self._table_ready:
            try:
                _metadata.create_all(engine, checkfirst=True)
            except (exc.IntegrityError, exc.ProgrammingError):
                # Another process created it between our check and our CREATE (PostgreSQL: a duplicate type).
                _metadata.create_all(engine, checkfirst=True)
            self._table_ready = True

    @staticmethod
    def _insert_statement(engine: Engine) -> Any:
        name = engine.dialect.name
        if name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=["id"])
        if name == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing(index_elements=["id"])
        return insert(table).prefix_with("IGNORE") if name in ("mysql", "mariadb") else insert(table)

    def dispose(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()
