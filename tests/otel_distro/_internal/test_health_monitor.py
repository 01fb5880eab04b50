"""The background health monitor against the real PostgreSQL and Redis, reached through a TCP relay the test
closes and opens again: checks pass, fail on the first run after the dependency's port closed, and recover."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from otel_distro import add_health_check
from otel_distro._internal import health, health_monitor, state
from otel_distro._internal.health_monitor import HealthMonitor
from otel_distro.settings import Settings
from otel_distro.testing import OtelCapture
from tests.support import free_port


class TcpRelay:
    """Forwards a local port to a target port; `close` closes the port and cuts every connection through it
    (clients then see a closed port), `open` listens on the same port again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes the blocked accept(), so the port really closes
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def relays() -> Iterator[tuple[TcpRelay, TcpRelay]]:
    if not (_listening(5432) and _listening(6379)):
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379")
    postgres, redis = TcpRelay(5432), TcpRelay(6379)
    postgres.open()
    redis.open()
    yield postgres, redis
    postgres.close()
    redis.close()


def _settings(**changes: object) -> Settings:
    settings = dataclasses.replace(state.settings(), **changes)  # type: ignore[arg-type]
    state.set_settings(settings)
    return settings


async def _until(monitor: HealthMonitor, condition: Callable[[], bool], runs: int = 50) -> int:
    """Wait until ``condition`` holds after a run of ``monitor``; how many runs that took."""
    start = monitor.runs
    while not condition():
        if monitor.runs - start > runs:
            raise AssertionError(f"still not the case after {runs} runs: {monitor.detailed()['checks']}")
        await asyncio.sleep(0.02)
    return monitor.runs - start


def _statuses(monitor: HealthMonitor) -> dict[str, str]:
    return {name: check.status for name, check in monitor.states.items()}


def test_checks_pass_fail_within_one_interval_and_recover(
    otel: OtelCapture, relays: tuple[TcpRelay, TcpRelay]
) -> None:
    postgres, redis = relays
    settings = _settings(
        health_interval=0.2, health_timeout=2.0, health_redis_url=f"redis://127.0.0.1:{redis.port}/0"
    )
    health.track_sqlalchemy_engines()
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/test", pool_pre_ping=False)
    database = "database:postgresql:test"

    async def scenario() -> None:
        monitor = health_monitor.monitor()
        assert monitor.settings is settings
        await monitor.acquire()  # returns once the first run is done
        try:
            assert _statuses(monitor) == {database: "ok", "redis": "ok"}
            expected = b'{"status":"ok","checks":{"database:postgresql:test":"ok","redis":"ok"}}'
            assert monitor.health_response() == (200, expected)

            postgres.close()
            redis.close()
            runs = await _until(monitor, lambda: _statuses(monitor) == {database: "fail", "redis": "fail"})
            # The run under way when the ports closed may still have passed; the next one fails.
            assert runs <= 2
            assert monitor.health_response()[0] == 503
            detailed = monitor.detailed()["checks"]
            assert "Connection refused" in detailed["redis"]["last_error"] or "ConnectionRefused" in detailed[
                "redis"
            ]["last_error"]
            assert detailed[database]["last_error"].startswith("OperationalError")
            assert detailed[database]["last_success"] is not None

            postgres.open()
            redis.open()
            runs = await _until(monitor, lambda: _statuses(monitor) == {database: "ok", "redis": "ok"})
            assert runs <= 2
            assert monitor.health_response()[0] == 200
        finally:
            await monitor.release()
        assert monitor._task is None

    try:
        asyncio.run(scenario())
    finally:
        engine.dispose()

    # One health_check event per run: INFO for the runs that changed something, DEBUG for the steady ones.
    events = [e for e in otel.logs if e.get("message") == "health_check"]
    changes = [e for e in events if e["level"] == "info"]
    changed = [name for e in changes for name in e["changed"]]
    assert changed.count(database) == changed.count("redis") == 3  # known (up), down, up again
    assert changes[0]["status"] == "ok" and changes[-1]["status"] == "ok"
    assert "fail" in {e["status"] for e in changes}
    assert all(e["level"] == "debug" and e["changed"] == [] for e in events if e not in changes)
    assert all(set(e["checks"]) == {database, "redis"} for e in events)
    assert otel.spans() == [], "no spans from the checks"

    status = {
        (p.attributes["check"], p.value) for p in otel.metric_points("app.health.check.status")
    }
    assert (database, 1) in status and ("redis", 1) in status
    durations = otel.metric_points("app.health.check.duration", {"check": "redis"})
    assert durations and durations[0].unit == "s"
    assert sum(p.count or 0 for p in durations) == len(events)


def test_one_hung_check_never_holds_up_the_others(otel: OtelCapture) -> None:
    _settings(health_interval=0.2, health_timeout=0.3)
    gate = asyncio.Event()

    async def hung() -> None:
        await gate.wait()

    add_health_check("hung", hung)
    add_health_check("fine", lambda: None)

    async def scenario() -> dict[str, str]:
        monitor = health_monitor.monitor()
        await monitor.acquire()
        try:
            return _statuses(monitor)
        finally:
            await monitor.release()

    assert asyncio.run(scenario()) == {"hung": "fail", "fine": "ok"}


def test_the_monitor_runs_with_the_app_lifespan(otel: OtelCapture) -> None:
    _settings(health_interval=0.1)
    calls: list[int] = []

    def counted() -> None:
        calls.append(1)

    add_health_check("counted", counted)
    app = otel.instrument(FastAPI())
    with TestClient(app) as client:
        assert calls, "the first run is done before the app takes requests"
        assert client.get("/health").json() == {"status": "ok", "checks": {"counted": "ok"}}
        before = len(calls)
        monitor = health_monitor.monitor()
        runs = monitor.runs

        async def two_more() -> None:
            while monitor.runs < runs + 2:
                await asyncio.sleep(0.02)

        client.portal.call(two_more)  # type: ignore[union-attr]
        assert len(calls) > before
    assert monitor._task is None, "stopped at shutdown"
    stopped_at = len(calls)
    threading.Event().wait(0.3)
    assert len(calls) == stopped_at


def test_health_checks_log_nothing_at_info_while_nothing_changes(otel: OtelCapture) -> None:
    _settings(health_interval=0.05)
    add_health_check("steady", lambda: None)

    async def scenario(until: Callable[[HealthMonitor], Awaitable[None]]) -> None:
        monitor = health_monitor.monitor()
        await monitor.acquire()
        try:
            await until(monitor)
        finally:
            await monitor.release()

    async def five_runs(monitor: HealthMonitor) -> None:
        while monitor.runs < 5:
            await asyncio.sleep(0.02)

    asyncio.run(scenario(five_runs))
    levels = [e["level"] for e in otel.logs if e.get("message") == "health_check"]
    assert levels[0] == "info" and set(levels[1:]) == {"debug"} and len(levels) >= 5


def test_without_a_lifespan_the_first_request_starts_the_monitor(otel: OtelCapture) -> None:
    import httpx  # noqa: PLC0415

    _settings(health_interval=0.5)

    async def fine() -> None:
        await asyncio.sleep(0.2)  # the first run cannot be done while the first request is answered

    add_health_check("fine", fine)
    app = otel.instrument(FastAPI())

    async def scenario() -> tuple[Any, Any]:
        transport = httpx.ASGITransport(app=app)  # runs no lifespan
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            first = await client.get("/health")
            monitor = health_monitor.monitor()
            await _until(monitor, lambda: monitor.runs >= 1)
            later = await client.get("/health")
            await monitor.stop()
        return first, later

    first, later = asyncio.run(scenario())
    assert (first.status_code, first.json()["status"]) == (503, "starting")
    assert (later.status_code, later.json()) == (200, {"status": "ok", "checks": {"fine": "ok"}})


def test_a_hung_disk_read_holds_at_most_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # the data volume on a dead NFS server: each run's read would keep one more of the loop's default executor
    # threads (which the app's DNS lookups and to_thread calls share) until none were left
    release = threading.Event()
    reads = []

    def hung(path: str) -> dict[str, Any]:
        reads.append(path)
        release.wait(10)
        return {}

    monkeypatch.setattr(health_monitor, "system_info", hung)
    monitor = HealthMonitor(_settings(health_interval=0.2, health_timeout=0.05))

    async def runs() -> None:
        for _ in range(4):
            await monitor.run_once()

    try:
        asyncio.run(runs())
    finally:
        release.set()
    assert monitor.runs == 4
    assert len(reads) == 1
