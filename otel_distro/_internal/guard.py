"""The distro never breaks the host app: an internal failure is logged once per place and swallowed.

Under pytest (or with ``OTEL_DISTRO_RAISE_INTERNAL_ERRORS=true``) the failure is re-raised instead, so the
distro's own tests and app teams' CI see it.
"""

from __future__ import annotations

import logging
import sys
import threading

from otel_distro._internal import state

__all__ = ["internal_error", "should_raise"]

_logger = logging.getLogger("otel_distro")
_reported: set[str] = set()
_lock = threading.Lock()


def should_raise() -> bool:
    mode = state.settings().raise_internal_errors
    return mode == "true" or (mode == "auto" and "pytest" in sys.modules)


def internal_error(where: str, exc: BaseException) -> None:
    """Report a failure of the distro itself at ``where`` (a stable snake_case place name).

    Re-raises when `should_raise`; otherwise logs `otel_distro_internal_error` the first time ``where``
    fails and stays silent after that.
    """
    if should_raise():
        raise exc
    with _lock:
        if where in _reported:
            return
        _reported.add(where)
    try:
        _logger.error(
            "otel_distro_internal_error",
            extra={"where": where, "error_type": type(exc).__name__},
            exc_info=(type(exc), exc, exc.__traceback__),
        )
    except Exception:  # the logging pipeline itself failed: last resort, one line on stderr
        sys.stderr.write(f"otel_distro_internal_error where={where} error={type(exc).__name__}\n")
