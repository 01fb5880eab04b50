"""Fixtures for analytics: a PostgreSQL schema of the test's own on the shared server, settings for one test."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from otel_distro._internal import state
from otel_distro.analytics import shutdown
from otel_distro.settings import Settings

PG_HOST, PG_PORT = "127.0.0.1", 5432


def pg_url(schema: str, port: int = PG_PORT) -> str:
    return (f"postgresql+psycopg://postgres@{PG_HOST}:{port}/test"
            f"?options=-csearch_path%3D{schema}&connect_timeout=2")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema on the shared PostgreSQL (database ``test``), dropped after the test."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"analytics_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test", autocommit=True)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at {PG_HOST}:{PG_PORT} is required for this test: {error}")
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield schema
        finally:
            shutdown(timeout=2)
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def pg_rows(schema: str, sql: str = "SELECT * FROM analytics_events ORDER BY occurred_at, id") -> list[dict[str, Any]]:
    import psycopg  # noqa: PLC0415
    from psycopg.rows import dict_row  # noqa: PLC0415

    with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test", row_factory=dict_row) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        return list(conn.execute(sql).fetchall())


@pytest.fixture
def use_settings() -> Iterator[Callable[..., Settings]]:
    """``use_settings(analytics_database_url=...)``: these settings (on top of the current ones) for the test;
    the process's analytics is closed before and after so that it starts from them."""
    previous = state.settings() if state.is_loaded() else None

    def use(**changes: Any) -> Settings:
        shutdown(timeout=2)
        settings = dataclasses.replace(state.settings(), **changes)
        state.set_settings(settings)
        return settings

    yield use
    shutdown(timeout=2)
    state.set_settings(previous)
