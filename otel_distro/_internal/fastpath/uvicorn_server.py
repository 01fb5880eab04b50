"""Two hooks into uvicorn's server, which has no public ones for them; needed on every path (not a speed matter).

- `after_configure_logging`: uvicorn's ``Config.configure_logging`` applies uvicorn's own logging config (its
  handlers and formats on the ``uvicorn.*`` loggers) when the server is set up, after the distro installed its log
  chain: the distro's step runs again right after it, so every line uvicorn prints (the supervisor's "Started parent
  process" included) is one of the distro's.
- `after_shutdown`: the telemetry flushed when ``Server.shutdown`` has finished (alone, a ``--workers`` child, or
  gunicorn's UvicornWorker, which resets SIGTERM to the default before re-raising it: nothing else would run).

Both replace a method of uvicorn's classes, so they are used only while uvicorn is in `fastpath.LIBRARIES`'s range.
Outside it the distro does the same at the nearest public point, the app's ASGI lifespan (`app_starting`,
`lifespan_ended`, called by the distro's FastAPI wrapping): uvicorn's lines before the app starts ("Started server
process", "Waiting for application startup") keep uvicorn's format, and a supervisor's are never adopted; the flush
comes when the app's lifespan ends, just before uvicorn's own last lines. ``fast_path_disabled`` (part ``uvicorn``)
says so once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_distro._internal import fastpath, guard

__all__ = ["after_configure_logging", "after_shutdown", "app_starting", "lifespan_ended"]

_on_app_start: Callable[[], None] | None = None
_on_lifespan_end: Callable[[], None] | None = None


def _patchable() -> bool:
    return fastpath.library_status("uvicorn").active


def after_configure_logging(step: Callable[[], None]) -> None:
    """Run ``step`` whenever uvicorn has applied its logging config (each call replaces the previous ``step``)."""
    global _on_app_start  # noqa: PLW0603
    if not _patchable():
        _on_app_start = step
        return
    try:
        from uvicorn.config import Config  # noqa: PLC0415
    except ImportError:
        return
    original: Callable[[Config], None] = getattr(
        Config.configure_logging, "__otel_distro_original__", Config.configure_logging
    )

    def configure_logging(self: Config) -> None:
        original(self)
        _run("uvicorn_configure_logging", step)

    configure_logging.__otel_distro_original__ = original  # type: ignore[attr-defined]
    Config.configure_logging = configure_logging  # type: ignore[method-assign]


def after_shutdown(step: Callable[[], None]) -> None:
    """Run ``step`` when a uvicorn server has shut down (installed once; later calls replace nothing)."""
    global _on_lifespan_end  # noqa: PLW0603
    if not _patchable():
        _on_lifespan_end = step
        return
    try:
        from uvicorn.server import Server  # noqa: PLC0415
    except ImportError:
        return
    original = Server.shutdown
    if getattr(original, "__otel_distro__", False):
        return

    async def shutdown(self: Server, sockets: Any = None) -> None:
        try:
            await original(self, sockets=sockets)
        finally:
            _run("uvicorn_shutdown", step)

    shutdown.__otel_distro__ = True  # type: ignore[attr-defined]
    Server.shutdown = shutdown  # type: ignore[method-assign]


def _run(where: str, step: Callable[[], None]) -> None:
    """``step`` inside uvicorn's own method: a failure is the distro's (`guard`), never uvicorn's."""
    try:
        step()
    except Exception as exc:
        guard.internal_error(where, exc)


def app_starting() -> None:
    """The app's middleware stack is being built (its first ASGI call, after uvicorn configured logging): the
    fall-back point of `after_configure_logging`."""
    if _on_app_start is not None:
        _on_app_start()


def lifespan_ended() -> None:
    """The app's lifespan has ended (uvicorn is shutting down): the fall-back point of `after_shutdown`."""
    if _on_lifespan_end is not None:
        _on_lifespan_end()
