"""Health checks against the real PostgreSQL and Redis of this machine (and what a failure looks like)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from otel_distro import check_database, check_redis, run_health_checks
from otel_distro._internal import health
from tests.support import free_port

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def forget_engines() -> Iterator[None]:
    """Engines these tests connect are not checked by later detailed-health reports."""
    yield
    health._engines.clear()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_redis_ping() -> None:
    if not _listening(6379):
        pytest.skip("no Redis on 127.0.0.1:6379")
    asyncio.run(check_redis("redis://127.0.0.1:6379/0"))


def test_redis_down_raises() -> None:
    with pytest.raises(OSError):
        asyncio.run(check_redis(f"redis://127.0.0.1:{free_port()}/0", timeout=1))


def test_postgres_select_1() -> None:
    if not _listening(5432):
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    engine = create_engine(POSTGRES_URL)
    try:
        check_database(engine)
    finally:
        health._engines.discard(engine)
        engine.dispose()


def test_report_covers_redis_and_connected_engines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    health._engines.clear()
    health.track_sqlalchemy_engines()
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    with engine.connect():
        pass
    report = asyncio.run(run_health_checks(f"redis://127.0.0.1:{free_port()}/0"))
    engine.dispose()

    assert report["status"] == "fail"
    assert report["checks"]["redis"]["status"] == "fail"
    databases = [check for name, check in report["checks"].items() if name.startswith("database:sqlite")]
    assert databases and all(check["status"] == "ok" for check in databases)
