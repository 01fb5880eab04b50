"""A database that goes away loses nothing: events wait in the buffer and land, once each, when it is back."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine, text

from otel_distro.analytics import Analytics
from otel_distro.testing import OtelCapture
from tests.otel_distro.analytics.conftest import PG_PORT, pg_rows, pg_url
from tests.servers.tcp_proxy import TcpProxy


def test_a_flush_to_a_closed_port_keeps_the_events_and_they_land_after_recovery(pg_schema: str,
                                                                                  tmp_path: Path) -> None:
    with TcpProxy(PG_PORT) as proxy:
        analytics = Analytics(pg_url(pg_schema, proxy.port), key_file=tmp_path / "key", max_backoff=0.2)
        try:
            analytics.track("login", {"success": True}, user_id="u1")
            assert analytics.flush(10)  # the table exists, the connection pool is warm

            proxy.stop()  # the database is away: the pooled connection is cut, new ones are refused
            for i in range(5):
                analytics.track("chat_message_sent", {"message_length": i}, user_id="u1")
            assert analytics.flush(10) is False
            assert len(analytics.buffer) == 5
            assert analytics.buffer.last_error is not None

            proxy.start()  # back, on the same port
            deadline = time.monotonic() + 20
            while len(analytics.buffer) and time.monotonic() < deadline:  # retried on its own, with backoff
                time.sleep(0.05)
            assert analytics.flush(10)
        finally:
            analytics.close()
    rows = pg_rows(pg_schema)
    assert [r["name"] for r in rows].count("chat_message_sent") == 5
    assert sorted(r["properties"]["message_length"] for r in rows if r["name"] == "chat_message_sent") == [0, 1, 2,
                                                                                                           3, 4]
    assert len({r["id"] for r in rows}) == len(rows) == 6


def test_a_database_that_is_down_from_the_start_gets_the_events_once_it_answers(pg_schema: str,
                                                                                tmp_path: Path) -> None:
    proxy = TcpProxy(PG_PORT).start()
    port = proxy.port
    proxy.stop()
    analytics = Analytics(pg_url(pg_schema, port), key_file=tmp_path / "key", max_backoff=0.2)
    try:
        analytics.track("image_generated", {"prompt_length": 7})
        assert analytics.flush(5) is False
        with TcpProxy(PG_PORT, port=port):
            assert analytics.flush(10)
            assert [r["name"] for r in pg_rows(pg_schema)] == ["image_generated"]
    finally:
        analytics.close()


def test_writing_analytics_makes_no_spans(pg_schema: str, tmp_path: Path, otel: OtelCapture) -> None:
    otel.instrument_sqlalchemy()
    analytics = Analytics(pg_url(pg_schema), key_file=tmp_path / "key")
    try:
        analytics.track("login", {"success": True})
        assert analytics.flush(10)
    finally:
        analytics.close()
    assert otel.spans() == []
    assert len(pg_rows(pg_schema)) == 1
    # the control: the same kind of engine, used by the app, is traced
    engine = create_engine(pg_url(pg_schema))
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    assert otel.spans()


def test_when_the_buffer_is_full_the_newest_event_is_dropped_and_counted(tmp_path: Path, otel: OtelCapture) -> None:
    proxy = TcpProxy(PG_PORT).start()
    port = proxy.port
    proxy.stop()  # nothing listens: every write fails, the buffer fills
    analytics = Analytics(pg_url("public", port), key_file=tmp_path / "key", capacity=100, batch_size=1000)
    try:
        for n in range(100):
            assert analytics.track("chat_message_sent", {"message_length": n})
        assert analytics.track("chat_message_sent", {"message_length": 100}) is False
        assert len(analytics.buffer) == 100
    finally:
        assert analytics.close(timeout=0.5) == 100  # never reached the database: counted as lost at shutdown
    assert otel.metric_total("app.analytics.dropped", {"reason": "buffer_full"}) == 1
    assert otel.metric_total("app.analytics.dropped", {"reason": "shutdown"}) == 100
    assert otel.metric_total("app.analytics.events", {"name": "chat_message_sent", "outcome": "accepted"}) == 100
    assert any(log.get("message") == "analytics_events_lost" or log.get("event") == "analytics_events_lost"
               for log in otel.logs)
