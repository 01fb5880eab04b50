"""A history service on a free port, over SQLite or a PostgreSQL database of its own (created and dropped)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from otel_distro.alerts import HistoryService

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'history.db'}"
        return
    psycopg = pytest.importorskip("psycopg")
    name = f"alerts_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


class RunningHistory:
    def __init__(self, service: HistoryService, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self.loop = loop
        self.url = f"http://127.0.0.1:{service.port}"

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


def run_history(**kwargs: Any) -> Iterator[RunningHistory]:
    """Run a `HistoryService` on its own event loop thread for a ``with`` block."""
    service = HistoryService(port=0, **kwargs)
    loop = asyncio.new_event_loop()
    started: Future[None] = Future()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            await service.start()
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        try:
            await stop.wait()
        finally:
            await service.shutdown()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    started.result(30)
    try:
        yield RunningHistory(service, loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
