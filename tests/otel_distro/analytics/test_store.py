"""Events land in PostgreSQL (and the embedded SQLite) anonymized, in one table made on first use, once per id."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, exc, text

from otel_distro.analytics import Analytics, AnalyticsEvent
from otel_distro.analytics._store import UnstorableEvent, is_retryable
from otel_distro.scrubbing import StructlogScrubber, default_scrubber
from otel_distro.testing import OtelCapture
from tests.otel_distro.analytics.conftest import pg_rows, pg_url

KEY = b"k" * 32


def test_events_land_in_postgresql_anonymized_with_the_pseudonym_the_logs_use(pg_schema: str, tmp_path: Path) -> None:
    analytics = Analytics(pg_url(pg_schema), scrub_key=KEY, key_file=tmp_path / "key")
    try:
        assert analytics.track("login", {"success": True, "method": "password",
                                         "note": "mail jane.doe@example.org or call +90 532 123 45 67",
                                         "password": "hunter2-secret"}, user_id="jane.doe")
        assert analytics.track("chat_message_sent", {"message_length": 12}, user_id=42)
        assert analytics.flush(10)
    finally:
        analytics.close()

    login, chat = pg_rows(pg_schema)
    # The pseudonym is the log chain's: a log line with username=jane.doe shows the same token.
    logged = StructlogScrubber(default_scrubber(key=KEY))(None, "info", {"event": "x", "username": "jane.doe"})
    assert login["user_pseudonym"] == logged["username"] == analytics.pseudonym("jane.doe")
    assert login["user_pseudonym"].startswith("[user:")
    assert chat["user_pseudonym"] == analytics.pseudonym("42")
    assert login["properties"]["success"] is True and login["properties"]["method"] == "password"
    assert login["properties"]["password"] != "hunter2-secret"
    stored = repr(login)
    for raw in ("jane.doe", "example.org", "532 123", "hunter2"):
        assert raw not in stored
    assert login["source"] == "server" and login["name"] == "login"
    assert login["occurred_at"].tzinfo is not None and login["received_at"].tzinfo is not None
    [column] = pg_rows(pg_schema, "SELECT data_type FROM information_schema.columns WHERE "
                                  "table_schema = current_schema() AND table_name = 'analytics_events' "
                                  "AND column_name = 'properties'")
    assert column["data_type"] == "jsonb"


def test_an_event_id_is_stored_once_however_often_it_is_written(pg_schema: str, tmp_path: Path) -> None:
    analytics = Analytics(pg_url(pg_schema), key_file=tmp_path / "key")
    try:
        event = AnalyticsEvent(name="image_generated", properties={"prompt_length": 3})
        assert analytics.add([event])
        assert analytics.flush(10)
        assert analytics.add([event, AnalyticsEvent(name="image_generated", properties={"prompt_length": 4})])
        assert analytics.flush(10)
    finally:
        analytics.close()
    rows = pg_rows(pg_schema)
    assert sorted(r["properties"]["prompt_length"] for r in rows) == [3, 4]
    assert [r["id"] for r in rows].count(event.id) == 1


def test_without_a_scrub_key_the_raw_id_is_still_never_stored(pg_schema: str, tmp_path: Path) -> None:
    key_file = tmp_path / "install.key"
    analytics = Analytics(pg_url(pg_schema), key_file=key_file)
    try:
        analytics.track("login", {"success": False}, user_id="alice@example.com")
        assert analytics.flush(10)
    finally:
        analytics.close()
    [row] = pg_rows(pg_schema)
    assert "alice" not in row["user_pseudonym"] and row["user_pseudonym"].startswith("[user:")
    assert key_file.stat().st_mode & 0o077 == 0  # the per-install key is private to its owner
    # the same install gives the same pseudonym after a restart
    assert Analytics(pg_url(pg_schema), key_file=key_file).pseudonym("alice@example.com") == row["user_pseudonym"]


def test_sqlite_is_the_embedded_default_and_the_table_is_made_on_first_use(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    analytics = Analytics(url, key_file=tmp_path / "key")
    try:
        analytics.track("custom_thing", {"n": 1, "tags": ["a", "b"]})
        assert analytics.flush(10)
    finally:
        analytics.close()
    with create_engine(url).connect() as connection:
        rows = connection.execute(text("SELECT name, properties, source FROM analytics_events")).all()
    assert [(r.name, r.source) for r in rows] == [("custom_thing", "server")]
    assert '"tags"' in rows[0].properties


def test_a_row_the_database_refuses_is_dropped_alone(pg_schema: str, tmp_path: Path, otel: OtelCapture) -> None:
    analytics = Analytics(pg_url(pg_schema), key_file=tmp_path / "key")
    try:
        good = [AnalyticsEvent(name="login", properties={"success": True}) for _ in range(3)]
        too_long = AnalyticsEvent(name="n" * 100)  # past String(64): PostgreSQL refuses it (a DataError)
        assert analytics.add([good[0], too_long, *good[1:]])
        assert analytics.flush(10)
    finally:
        analytics.close()
    assert sorted(r["id"] for r in pg_rows(pg_schema)) == sorted(e.id for e in good)
    assert otel.metric_total("app.analytics.dropped", {"reason": "invalid"}) == 1


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (exc.OperationalError("INSERT", None, ConnectionRefusedError()), True),  # the database is away
        (exc.InterfaceError("INSERT", None, OSError()), True),
        (exc.ProgrammingError("INSERT", None, Exception("relation does not exist")), True),  # table dropped: made again
        (exc.ArgumentError("Could not parse SQLAlchemy URL"), True),  # misconfigured: keep the events, say so
        (ConnectionResetError(), True),
        (exc.DataError("INSERT", None, Exception("value too long")), False),  # the rows are at fault
        (exc.IntegrityError("INSERT", None, Exception("null value")), False),
        (exc.StatementError("cannot build", "INSERT", None, TypeError()), False),
        (UnstorableEvent("KeyError"), False),
    ],
)
def test_which_failures_are_retried_and_which_drop_the_rows_at_fault(error: BaseException, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_the_analytics_database_is_not_a_health_check_of_the_app(tmp_path: Path) -> None:
    import asyncio  # noqa: PLC0415

    from otel_distro._internal import health  # noqa: PLC0415

    health.track_sqlalchemy_engines()
    analytics = Analytics(f"sqlite:///{tmp_path / 'analytics.db'}", key_file=tmp_path / "key")
    try:
        analytics.track("login", {"success": True})
        assert analytics.flush(10)
        checks = asyncio.run(health.run_health_checks())["checks"]
    finally:
        analytics.close()
    assert not [name for name in checks if "analytics.db" in name]


def test_a_forked_child_never_writes_on_the_connections_it_inherited(pg_schema: str) -> None:
    # gunicorn --preload: a master that wrote events forks workers; a pooled socket used by two processes
    # interleaves their statements.
    import os  # noqa: PLC0415
    import select  # noqa: PLC0415

    from otel_distro.analytics._store import EventStore  # noqa: PLC0415

    store = EventStore(pg_url(pg_schema))
    backend_pid = "SELECT pg_backend_pid()"
    with store.engine.connect() as connection:  # back in the pool afterwards
        parent = connection.execute(text(backend_pid)).scalar()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            with store.engine.connect() as connection:
                os.write(write, str(connection.execute(text(backend_pid)).scalar()).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        assert select.select([read], [], [], 30)[0], "the child did not answer"
        answer = os.read(read, 64)
    finally:
        os.close(read)
        os.waitpid(child, 0)
    with store.engine.connect() as connection:  # the parent's own connection still works
        assert connection.execute(text(backend_pid)).scalar() == parent
    store.dispose()
    assert answer and int(answer) != parent
