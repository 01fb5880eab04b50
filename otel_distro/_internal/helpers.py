"""The logging helpers of the public API; the request middleware logs through them too.

Every helper logs one event with a stable snake_case name and documented fields, plus whatever keyword
fields the caller adds. Trace, span and request ids are added by the log chain, not here.
"""

from __future__ import annotations

from typing import Any

import structlog

__all__ = ["get_logger", "log_error", "log_event", "log_request", "log_response"]


def get_logger(name: str | None = None, **initial_values: Any) -> Any:
    """A structlog logger whose lines carry ``logger=name`` and ``initial_values`` as bound context."""
    logger = structlog.get_logger(name) if name else structlog.get_logger()
    return logger.bind(**initial_values) if initial_values else logger


def _logger(logger: Any) -> Any:
    return logger if logger is not None else structlog.get_logger("otel_distro.requests")


def log_request(method: str, path: str, *, level: str = "info", logger: Any = None, **fields: Any) -> None:
    """``request_started`` with ``method`` and ``path`` (the middleware logs its own at debug unless
    ``OTEL_DISTRO_LOG_REQUEST_START`` is on)."""
    getattr(_logger(logger), level)("request_started", method=method, path=path, **fields)


def log_response(
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    *,
    route: str | None = None,
    logger: Any = None,
    **fields: Any,
) -> None:
    """``request_finished`` with ``method``, ``path``, ``route``, ``status`` and ``duration_ms``.

    Level: info below 400, warning for 4xx, error for 5xx.
    """
    level = "info" if status < 400 else "warning" if status < 500 else "error"
    getattr(_logger(logger), level)(
        "request_finished", method=method, path=path, route=route, status=status, duration_ms=duration_ms, **fields
    )


def log_error(exc: BaseException, message: str = "error", *, logger: Any = None, **fields: Any) -> None:
    """``message`` (default ``error``) at error with ``error_type``, ``error_message`` and the exception
    rendered as structured data (type, message, frames) under ``exception``."""
    _logger(logger).error(
        message,
        error_type=type(exc).__name__,
        error_message=str(exc),
        exc_info=(type(exc), exc, exc.__traceback__),
        **fields,
    )


def log_event(name: str, *, level: str = "info", logger: Any = None, **fields: Any) -> None:
    """A business or domain event ``name`` (snake_case) at ``level`` with ``fields``, e.g.
    ``log_event("user_logged_in", user_id=42)``."""
    getattr(_logger(logger) if logger is not None else structlog.get_logger("app.events"), level)(name, **fields)
