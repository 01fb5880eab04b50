"""Health checks: what is checked (the app's databases, Redis, HTTP services, the app's own checks) and one run.

Databases are the app's SQLAlchemy engines, known from the moment they are created (SQLAlchemy calls its
dialects' ``engine_created`` hook for every engine; the distro listens there, and on first connect for engines
built some other way): no app code, and no wait for the app's first query. Redis is
``OTEL_DISTRO_HEALTH_REDIS_URL``, HTTP services are ``OTEL_DISTRO_HEALTH_HTTP_CHECKS``; apps add their own with
`add_health_check`. Each check runs with instrumentation suppressed: its queries and requests make no spans.

`run_checks` runs every check once, concurrently, each within its timeout; a check still running in its thread
after a timeout is not started again until it returns (a hung dependency holds at most one thread). The
background monitor (`health_monitor`) calls it every interval; `run_health_checks` runs it on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import inspect
import ssl
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from otel_distro._internal import state
from otel_distro.settings import Settings

__all__ = [
    "CheckResult",
    "CheckSpec",
    "HealthCheck",
    "add_health_check",
    "check_database",
    "check_database_async",
    "check_http",
    "check_redis",
    "collect_checks",
    "ignore_engine",
    "remove_health_check",
    "run_checks",
    "run_health_checks",
    "suppressed",
    "track_sqlalchemy_engines",
]

HealthCheck = Callable[[], Awaitable[None] | None]
"""A check returns normally when healthy and raises when not; it may be sync (run in a thread) or async."""

#: Longest error text kept for a check (its first line, without a stack trace).
ERROR_MAX_CHARS = 300


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One check to run: its name (the ``check`` attribute of the health metrics), the function, and whether
    its failure makes the app unhealthy (``/health`` 503) or is only reported."""

    name: str
    check: HealthCheck
    required: bool = True
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    required: bool
    ok: bool
    duration_s: float
    error: str | None = None


_checks: dict[str, CheckSpec] = {}
_engines: weakref.WeakSet[Any] = weakref.WeakSet()
_ignored: weakref.WeakSet[Any] = weakref.WeakSet()
_tracking = False
_TIMEOUT_S = 2.0


def add_health_check(name: str, check: HealthCheck, *, required: bool = True, timeout: float | None = None) -> None:
    """Run ``check`` under ``name`` with every health run (replacing one of the same name).

    ``required=False`` reports it without letting its failure turn ``/health`` to 503 (as
    ``OTEL_DISTRO_HEALTH_OPTIONAL`` does for any check); ``timeout`` (seconds) shortens the run's timeout.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"health check name must be a non-empty string, got {name!r}")
    if not callable(check):
        raise TypeError(f"health check {name!r} must be callable, got {type(check).__name__}")
    _checks[name.strip()] = CheckSpec(name.strip(), check, required, timeout)


def remove_health_check(name: str) -> None:
    """Forget the check registered as ``name`` (nothing happens when there is none)."""
    _checks.pop(name, None)


def ignore_engine(engine: Any) -> None:
    """Leave ``engine`` out of the database checks (e.g. an engine the distro itself uses)."""
    _ignored.add(getattr(engine, "sync_engine", engine))


# -- the checks ---------------------------------------------------------------------------------------------


def check_database(engine: Any) -> None:
    """``SELECT 1`` on a SQLAlchemy engine (through its pool); raises when the database does not answer."""
    from sqlalchemy import text  # noqa: PLC0415

    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def check_database_async(engine: Any) -> None:
    """``SELECT 1`` on an engine of an asyncio dialect (asyncpg, psycopg async, aiosqlite), on this loop."""
    from sqlalchemy import text  # noqa: PLC0415
    from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: PLC0415

    async_engine = engine if isinstance(engine, AsyncEngine) else AsyncEngine(engine)
    async with async_engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def check_redis(url: str, timeout: float = _TIMEOUT_S) -> None:
    """``PING`` over a plain socket (no client library needed); TLS for ``rediss://``; ``AUTH`` when the URL
    has a password."""
    parts = urlsplit(url)
    tls = ssl.create_default_context() if parts.scheme == "rediss" else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 6379, ssl=tls), timeout
    )
    try:
        if parts.password:
            user = unquote(parts.username) if parts.username else None
            words = ["AUTH", *([user] if user else []), unquote(parts.password)]
            writer.write(_resp(words))
            reply = await asyncio.wait_for(reader.readline(), timeout)
            if not reply.startswith(b"+OK"):
                raise ConnectionError("redis AUTH refused")
        writer.write(_resp(["PING"]))
        reply = await asyncio.wait_for(reader.readline(), timeout)
        if not reply.startswith(b"+PONG"):
            raise ConnectionError(f"unexpected redis reply {reply[:40]!r}")
    finally:
        writer.close()


def _resp(words: list[str]) -> bytes:
    out = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def check_http(url: str, timeout: float = _TIMEOUT_S) -> None:
    """``GET url`` (redirects not followed); a status below 400 is up, anything else raises."""
    import aiohttp  # noqa: PLC0415

    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        if response.status >= 400:
            raise ConnectionError(f"HTTP {response.status} from {_without_credentials(url)}")


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


# -- engines ------------------------------------------------------------------------------------------------


def track_sqlalchemy_engines() -> None:
    """Know every SQLAlchemy engine from its creation on, and the ones that exist already (idempotent)."""
    global _tracking  # noqa: PLW0603
    if _tracking:
        return
    imported_before = "sqlalchemy" in sys.modules
    try:
        from sqlalchemy import event  # noqa: PLC0415
        from sqlalchemy.engine import Engine  # noqa: PLC0415
        from sqlalchemy.engine.interfaces import Dialect  # noqa: PLC0415
    except ImportError:
        return
    original = Dialect.__dict__.get("engine_created")
    if isinstance(original, classmethod) and not getattr(original.__func__, "__otel_distro__", False):
        created = original.__func__

        def engine_created(cls: type[Any], engine: Any) -> None:
            _engines.add(engine)
            created(cls, engine)

        engine_created.__otel_distro__ = True  # type: ignore[attr-defined]
        Dialect.engine_created = classmethod(engine_created)  # type: ignore[assignment,method-assign]
    # Engines from dialects that override the hook without calling it, or made before it was in place:
    event.listen(Engine, "engine_connect", _remember_engine)
    if imported_before:  # once: engines the app built before the distro was set up (none if it just imported)
        for obj in gc.get_objects():
            if type(obj) is Engine:
                _engines.add(obj)
    _tracking = True


def _remember_engine(connection: Any, *_: Any) -> None:
    _engines.add(connection.engine)


def _database_checks() -> Iterator[CheckSpec]:
    seen: dict[str, str] = {}
    engines = [(engine.url.render_as_string(hide_password=True), engine) for engine in list(_engines)]
    for rendered, engine in sorted(engines, key=lambda pair: pair[0]):  # stable names, run after run
        if engine in _ignored:
            continue
        url = engine.url
        base = f"database:{engine.dialect.name}:{url.database or ''}"
        name, n = base, 1
        while name in seen and seen[name] != rendered:
            n += 1
            name = f"{base}:{n}"
        if name in seen:
            continue  # one check per database URL, however many engines point at it
        seen[name] = rendered
        yield CheckSpec(name, _bind_engine(engine))


def _bind_engine(engine: Any) -> HealthCheck:
    if getattr(engine.dialect, "is_async", False):

        async def check_async() -> None:
            await check_database_async(engine)

        return check_async

    def check() -> None:
        check_database(engine)

    return check


# -- one run ------------------------------------------------------------------------------------------------


def collect_checks(settings: Settings | None = None) -> list[CheckSpec]:
    """Every check to run now: databases, Redis, HTTP services, then the app's; optional ones marked."""
    settings = settings or state.settings()
    specs = list(_database_checks())
    if settings.health_redis_url:
        specs.append(CheckSpec("redis", _bind_redis(settings.health_redis_url, settings.health_timeout)))
    specs.extend(CheckSpec(name, _bind_http(url, settings.health_timeout)) for name, url in settings.health_http_checks)
    specs.extend(_checks.values())
    optional = set(settings.health_optional)
    by_name = {spec.name: spec for spec in specs}  # an app check replaces a built-in one of the same name
    return [
        CheckSpec(spec.name, spec.check, False, spec.timeout) if spec.name in optional else spec
        for spec in by_name.values()
    ]


def _bind_redis(url: str, timeout: float) -> HealthCheck:
    async def check() -> None:
        await check_redis(url, timeout)

    return check


def _bind_http(url: str, timeout: float) -> HealthCheck:
    async def check() -> None:
        await check_http(url, timeout)

    return check


#: Sync checks whose thread outlived their timeout, by name: not started again until the thread returns.
_busy: dict[str, asyncio.Future[Any]] = {}


@contextmanager
def suppressed() -> Iterator[None]:
    """No spans from what runs inside: database queries, HTTP requests (health checks are not app traffic)."""
    from opentelemetry.instrumentation.utils import (  # noqa: PLC0415
        suppress_http_instrumentation,
        suppress_instrumentation,
    )

    with suppress_instrumentation(), suppress_http_instrumentation():
        yield


async def run_check(spec: CheckSpec, timeout: float) -> CheckResult:
    """Run one check within ``timeout`` seconds (or its own, if shorter); never raises."""
    limit = min(timeout, spec.timeout) if spec.timeout else timeout
    started = time.perf_counter()
    try:
        with suppressed():
            await _call(spec, limit)
        ok, error = True, None
    except TimeoutError:
        ok, error = False, f"TimeoutError: no answer within {limit:g} s"
    except Exception as exc:
        ok, error = False, describe_error(exc)
    return CheckResult(spec.name, spec.required, ok, time.perf_counter() - started, error)


async def _call(spec: CheckSpec, limit: float) -> None:
    if inspect.iscoroutinefunction(spec.check):
        await asyncio.wait_for(spec.check(), limit)
        return
    busy = _busy.get(spec.name)
    if busy is not None and not busy.done() and not busy.get_loop().is_closed():  # a closed loop's never settles
        raise TimeoutError
    future = _in_daemon_thread(spec.check)
    _busy[spec.name] = future
    result = await asyncio.wait_for(asyncio.shield(future), limit)
    if inspect.isawaitable(result):
        await asyncio.wait_for(result, limit)


def _in_daemon_thread(function: Callable[[], Any]) -> asyncio.Future[Any]:
    """``function()`` in a daemon thread of its own, in this context (instrumentation suppressed): a check
    hung on a dead host never holds up the loop, the app's thread pool, or the process's exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    future.add_done_callback(_consume)
    context = contextvars.copy_context()

    def settle(result: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def target() -> None:
        result, error = None, None
        try:
            result = context.run(function)
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=target, name="otel-distro-health-check", daemon=True).start()
    return future


def _consume(future: asyncio.Future[Any]) -> None:
    """A thread that finished after its check timed out: its outcome is no longer awaited by anyone."""
    if not future.cancelled():
        future.exception()


def describe_error(exc: BaseException) -> str:
    """``Type: first line of the message``, at most `ERROR_MAX_CHARS`: no stack trace, no SQL, no extra lines."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text[:ERROR_MAX_CHARS]


async def run_checks(specs: list[CheckSpec], timeout: float) -> list[CheckResult]:
    """Every check of ``specs`` at once; one slow or failing check never holds up the others."""
    return list(await asyncio.gather(*(run_check(spec, timeout) for spec in specs)))


async def run_health_checks(redis_url: str | None = None, *, timeout: float | None = None) -> dict[str, Any]:
    """Run every check now (on demand, outside the monitor): ``{"status": "ok" | "fail", "checks": {name:
    {"status", "required", "duration_ms", ["error"]}}}``; ``status`` is ``fail`` when a required check fails."""
    settings = state.settings()
    if redis_url is not None:
        settings = _with_redis(settings, redis_url)
    results = await run_checks(collect_checks(settings), timeout or settings.health_timeout)
    checks: dict[str, Any] = {}
    for result in results:
        entry: dict[str, Any] = {
            "status": "ok" if result.ok else "fail",
            "required": result.required,
            "duration_ms": round(result.duration_s * 1000, 2),
        }
        if result.error is not None:
            entry["error"] = result.error
        checks[result.name] = entry
    healthy = all(result.ok for result in results if result.required)
    return {"status": "ok" if healthy else "fail", "checks": checks}


def _with_redis(settings: Settings, url: str) -> Settings:
    import dataclasses  # noqa: PLC0415

    return dataclasses.replace(settings, health_redis_url=url)
