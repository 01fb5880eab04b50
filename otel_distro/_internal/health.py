"""Health checks: liveness (``/health``) and a detailed report with database and Redis checks.

Databases are the SQLAlchemy engines the app has connected through (tracked with a weak set, no app code);
Redis is ``OTEL_DISTRO_HEALTH_REDIS_URL``. Apps can add their own checks with `add_health_check`.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.concurrency import run_in_threadpool

__all__ = [
    "HealthCheck",
    "add_health_check",
    "check_database",
    "check_redis",
    "run_health_checks",
    "track_sqlalchemy_engines",
]

HealthCheck = Callable[[], Awaitable[None] | None]
"""A check returns normally when healthy and raises when not; it may be sync (run in a thread) or async."""

_checks: dict[str, HealthCheck] = {}
_engines: weakref.WeakSet[Any] = weakref.WeakSet()
_tracking = False
_TIMEOUT_S = 2.0


def add_health_check(name: str, check: HealthCheck) -> None:
    """Register ``check`` under ``name`` in the detailed report (replacing one of the same name)."""
    _checks[name] = check


def check_database(engine: Any) -> None:
    """``SELECT 1`` on a SQLAlchemy engine; raises when the database does not answer."""
    from sqlalchemy import text  # noqa: PLC0415

    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def check_redis(url: str, timeout: float = _TIMEOUT_S) -> None:
    """``PING`` over a plain socket (no client library needed); ``AUTH`` when the URL has a password."""
    parts = urlsplit(url)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 6379), timeout
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


def track_sqlalchemy_engines() -> None:
    """Remember every engine that opens a connection, for the detailed health report (idempotent)."""
    global _tracking  # noqa: PLW0603
    if _tracking:
        return
    try:
        from sqlalchemy import event  # noqa: PLC0415
        from sqlalchemy.engine import Engine  # noqa: PLC0415
    except ImportError:
        return
    event.listen(Engine, "engine_connect", _remember_engine)
    _tracking = True


def _remember_engine(connection: Any, *_: Any) -> None:
    _engines.add(connection.engine)


async def _run(check: HealthCheck) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        if inspect.iscoroutinefunction(check):
            await asyncio.wait_for(check(), _TIMEOUT_S)
        else:
            result = await asyncio.wait_for(run_in_threadpool(check), _TIMEOUT_S)
            if inspect.isawaitable(result):
                await asyncio.wait_for(result, _TIMEOUT_S)
        outcome: dict[str, Any] = {"status": "ok"}
    except Exception as exc:
        outcome = {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:300]}
    outcome["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return outcome


async def run_health_checks(redis_url: str | None = None) -> dict[str, Any]:
    """``{"status": "ok" | "fail", "checks": {name: {"status", "duration_ms", ["error"]}}}``."""
    checks: dict[str, HealthCheck] = {}
    for engine in list(_engines):
        checks[f"database:{engine.dialect.name}:{engine.url.database or ''}"] = _bind_engine(engine)
    if redis_url:
        checks["redis"] = _bind_redis(redis_url)
    checks.update(_checks)
    names = list(checks)
    results = await asyncio.gather(*(_run(checks[name]) for name in names))
    report = dict(zip(names, results, strict=True))
    status = "ok" if all(r["status"] == "ok" for r in results) else "fail"
    return {"status": status, "checks": report}


def _bind_engine(engine: Any) -> HealthCheck:
    def check() -> None:
        check_database(engine)

    return check


def _bind_redis(url: str) -> HealthCheck:
    async def check() -> None:
        await check_redis(url)

    return check
