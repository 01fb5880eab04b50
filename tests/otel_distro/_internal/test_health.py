"""Health checks against the real PostgreSQL and Redis of this machine, and what a failure looks like."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck as Suppress
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from otel_distro import add_health_check, check_database, check_http, check_redis, run_health_checks
from otel_distro._internal import health, state
from otel_distro.testing import OtelCapture
from tests.support import free_port

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def postgres() -> Iterator[str]:
    if not _listening(5432):
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    yield POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    if not _listening(6379):
        pytest.skip("no Redis on 127.0.0.1:6379")
    return REDIS_URL


def _settings(**changes: object) -> None:
    state.set_settings(dataclasses.replace(state.settings(), **changes))  # type: ignore[arg-type]


def test_redis_ping(redis_url: str) -> None:
    asyncio.run(check_redis(redis_url))


def test_redis_on_a_closed_port_raises() -> None:
    with pytest.raises(OSError):
        asyncio.run(check_redis(f"redis://127.0.0.1:{free_port()}/0", timeout=1))


def test_postgres_select_1(postgres: str) -> None:
    engine = create_engine(postgres)
    try:
        check_database(engine)
    finally:
        engine.dispose()


def test_http_check_up_and_down() -> None:
    from aiohttp import web  # noqa: PLC0415

    async def scenario() -> tuple[str | None, str | None]:
        async def up(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def down(_: web.Request) -> web.Response:
            return web.Response(status=503)

        app = web.Application()
        app.router.add_get("/up", up)
        app.router.add_get("/down", down)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            await check_http(f"http://127.0.0.1:{port}/up")
            try:
                await check_http(f"http://user:pw@127.0.0.1:{port}/down")
            except ConnectionError as exc:
                return None, str(exc)
            return None, None
        finally:
            await runner.cleanup()

    _, error = asyncio.run(scenario())
    assert error is not None and "HTTP 503" in error
    assert "pw" not in error, "credentials in a configured URL never reach the report"


def test_an_engine_is_checked_from_its_creation_without_a_first_connect(otel: OtelCapture, postgres: str) -> None:
    """Issue 14: in a fresh process the database was missing from the checks until the app had connected."""
    health.track_sqlalchemy_engines()
    engine = create_engine(postgres)
    try:
        report = asyncio.run(run_health_checks())
    finally:
        engine.dispose()
    assert report["checks"]["database:postgresql:test"]["status"] == "ok"


def test_health_check_queries_make_no_spans(otel: OtelCapture, postgres: str) -> None:
    """Issue 14: the database check's SELECT 1 produced root traces although health paths are untraced."""
    otel.instrument_sqlalchemy()
    health.track_sqlalchemy_engines()
    engine = create_engine(postgres)
    try:
        with engine.connect() as connection:  # the app's own query: traced
            connection.execute(text("SELECT 2"))
        assert otel.spans(), "the SQLAlchemy instrumentation is on"
        otel.clear()
        report = asyncio.run(run_health_checks())
    finally:
        engine.dispose()
    assert report["checks"]["database:postgresql:test"]["status"] == "ok"
    assert otel.spans() == []


def test_report_names_every_dependency_and_fails_on_a_required_one(tmp_path: Path) -> None:
    health.track_sqlalchemy_engines()
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    _settings(health_redis_url=f"redis://127.0.0.1:{free_port()}/0")
    try:
        report = asyncio.run(run_health_checks())
    finally:
        engine.dispose()
    assert report["status"] == "fail"
    assert report["checks"]["redis"]["status"] == "fail"
    assert "ConnectionRefusedError" in report["checks"]["redis"]["error"]
    assert report["checks"][f"database:sqlite:{tmp_path / 'h.db'}"]["status"] == "ok"


def test_an_optional_check_is_reported_without_failing_the_app() -> None:
    def broken() -> None:
        raise ConnectionError("search is down")

    add_health_check("search", broken, required=False)
    report = asyncio.run(run_health_checks())
    assert report["status"] == "ok"
    assert report["checks"]["search"] == {
        "status": "fail",
        "required": False,
        "duration_ms": report["checks"]["search"]["duration_ms"],
        "error": "ConnectionError: search is down",
    }


def test_optional_by_setting() -> None:
    add_health_check("payments", lambda: (_ for _ in ()).throw(OSError("no route")))
    _settings(health_optional=("payments",))
    assert asyncio.run(run_health_checks())["status"] == "ok"


def test_an_error_is_one_line_without_a_stack_trace() -> None:
    def broken() -> None:
        raise RuntimeError("first line\n  File 'app.py', line 3\n[SQL: SELECT secret]")

    add_health_check("multi", broken)
    error = asyncio.run(run_health_checks())["checks"]["multi"]["error"]
    assert error == "RuntimeError: first line"


def test_a_hung_sync_check_times_out_and_holds_at_most_one_thread() -> None:
    release = threading.Event()
    calls = []

    def hung() -> None:
        calls.append(1)
        release.wait(10)

    add_health_check("hung", hung)
    add_health_check("fine", lambda: None)

    async def three_runs() -> list[dict[str, object]]:
        return [await run_health_checks(timeout=0.2) for _ in range(3)]

    try:
        reports = asyncio.run(three_runs())
    finally:
        release.set()
    assert [r["checks"]["hung"]["status"] for r in reports] == ["fail"] * 3  # type: ignore[index]
    assert all("TimeoutError" in r["checks"]["hung"]["error"] for r in reports)  # type: ignore[index]
    assert [r["checks"]["fine"]["status"] for r in reports] == ["ok"] * 3  # type: ignore[index]
    assert len(calls) == 1, "a check still running in its thread is not started again"


def test_a_sync_check_that_outlived_its_loop_runs_again_on_the_next_one() -> None:
    # an app served twice in one process (tests, a restarted server): the first loop closed with the check's
    # thread still running; once that thread returns, the next loop runs the check again
    release, returned = threading.Event(), threading.Event()
    calls = []

    def slow() -> None:
        calls.append(1)
        if len(calls) == 1:
            release.wait(10)
            returned.set()

    add_health_check("slow", slow)
    try:
        first = asyncio.run(run_health_checks(timeout=0.2))
    finally:
        release.set()
    assert returned.wait(10)
    second = asyncio.run(run_health_checks(timeout=5))
    assert first["checks"]["slow"]["status"] == "fail"
    assert second["checks"]["slow"]["status"] == "ok", second
    assert len(calls) == 2


def test_checks_run_concurrently() -> None:
    """Five checks that each wait until all five are running: run one after the other, they would time out."""
    running: list[int] = []
    all_running = asyncio.Event()

    async def rendezvous() -> None:
        running.append(1)
        if len(running) == 5:
            all_running.set()
        await all_running.wait()

    for n in range(5):
        add_health_check(f"together{n}", rendezvous)
    report = asyncio.run(run_health_checks(timeout=5))
    assert [check["status"] for check in report["checks"].values()] == ["ok"] * 5


def test_bad_registrations_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        add_health_check(" ", lambda: None)
    with pytest.raises(TypeError, match="callable"):
        add_health_check("x", "not a function")  # type: ignore[arg-type]


# -- idempotence: running a health check twice gives the same answer -----------------------------------------

_outcomes = st.lists(
    st.tuples(
        st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
        st.booleans(),  # healthy
        st.booleans(),  # async
        st.booleans(),  # required
        st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != ""),
    ),
    max_size=6,
    unique_by=lambda t: t[0],
)


def _answer(report: dict[str, object]) -> dict[str, object]:
    """A report without its timings: what a caller decides on."""
    checks = report["checks"]
    assert isinstance(checks, dict)
    return {
        "status": report["status"],
        "checks": {name: {k: v for k, v in c.items() if k != "duration_ms"} for name, c in checks.items()},
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[Suppress.function_scoped_fixture])
@given(outcomes=_outcomes)
def test_running_the_checks_twice_gives_the_same_answer(outcomes: list[tuple[str, bool, bool, bool, str]]) -> None:
    health._checks.clear()
    for name, healthy, is_async, required, message in outcomes:
        if is_async:

            async def check(healthy: bool = healthy, message: str = message) -> None:
                if not healthy:
                    raise ConnectionError(message)

            add_health_check(name, check, required=required)
        else:

            def sync_check(healthy: bool = healthy, message: str = message) -> None:
                if not healthy:
                    raise ConnectionError(message)

            add_health_check(name, sync_check, required=required)

    first, second = asyncio.run(run_health_checks()), asyncio.run(run_health_checks())
    assert _answer(first) == _answer(second)
    expected_ok = all(healthy for _, healthy, _, required, _ in outcomes if required)
    assert first["status"] == ("ok" if expected_ok else "fail")
    health._checks.clear()


@pytest.mark.parametrize("down", [False, True])
def test_real_dependencies_answer_the_same_twice(postgres: str, redis_url: str, down: bool) -> None:
    health.track_sqlalchemy_engines()
    schema_db = f"health_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port() if down else 5432}/test"
    engine = create_engine(url, connect_args={"options": f"-c application_name={schema_db}"})
    _settings(health_redis_url=f"redis://127.0.0.1:{free_port()}/0" if down else redis_url)
    try:
        first, second = asyncio.run(run_health_checks()), asyncio.run(run_health_checks())
    finally:
        engine.dispose()
    assert _answer(first) == _answer(second)
    assert first["status"] == ("fail" if down else "ok")


def test_http_services_from_the_settings_are_checked_by_name() -> None:
    from aiohttp import web  # noqa: PLC0415

    async def scenario() -> dict[str, object]:
        async def ok(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/health", ok)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        _settings(
            health_http_checks=(
                ("payments", f"http://127.0.0.1:{port}/health"),
                ("search", f"http://127.0.0.1:{free_port()}/"),
            ),
            health_optional=("search",),
        )
        try:
            return await run_health_checks()
        finally:
            await runner.cleanup()

    report = asyncio.run(scenario())
    checks = report["checks"]
    assert isinstance(checks, dict)
    assert checks["payments"]["status"] == "ok"
    assert checks["search"]["status"] == "fail" and checks["search"]["required"] is False
    assert "ClientConnectorError" in checks["search"]["error"]
    assert report["status"] == "ok"


def test_an_asyncio_engine_is_checked_on_the_loop(otel: OtelCapture, postgres: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415

    health.track_sqlalchemy_engines()

    async def scenario() -> dict[str, object]:
        engine = create_async_engine(postgres.replace("+psycopg", "+psycopg_async"))
        try:
            up = await run_health_checks()
        finally:
            await engine.dispose()
        return up

    report = asyncio.run(scenario())
    checks = report["checks"]
    assert isinstance(checks, dict)
    assert checks["database:postgresql:test"]["status"] == "ok", checks
    assert otel.spans() == []


def test_one_check_per_database_url_with_stable_names(tmp_path: Path) -> None:
    health.track_sqlalchemy_engines()
    first = create_engine(f"sqlite:///{tmp_path / 'a' / 'app.db'}")
    same = create_engine(f"sqlite:///{tmp_path / 'a' / 'app.db'}", pool_size=2)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    other = create_engine(f"sqlite:///{tmp_path / 'b' / 'app.db'}")
    ignored = create_engine(f"sqlite:///{tmp_path / 'b' / 'ignored.db'}")
    health.ignore_engine(ignored)
    try:
        names = [sorted(asyncio.run(run_health_checks())["checks"]) for _ in range(3)]
    finally:
        for engine in (first, same, other, ignored):
            engine.dispose()
    assert names[0] == names[1] == names[2]
    assert names[0] == [f"database:sqlite:{tmp_path / 'a' / 'app.db'}", f"database:sqlite:{tmp_path / 'b' / 'app.db'}"]
