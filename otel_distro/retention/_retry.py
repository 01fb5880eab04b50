"""One retry loop for every operation of the job: exponential backoff, a permanent error stops at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from ._config import RetryConfig

__all__ = ["PermanentError", "RetriesExhausted", "retry"]

T = TypeVar("T")
_log = structlog.get_logger("otel_distro.retention")


class PermanentError(Exception):
    """Trying again cannot help (a 4xx, a failed snapshot): stop now."""


class RetriesExhausted(Exception):
    """Every attempt failed; the last error is the cause."""


def retry(operation: str, func: Callable[[], T], policy: RetryConfig, *,
          sleep: Callable[[float], None] = time.sleep, **fields: object) -> T:
    """`func()`, tried up to ``policy.attempts`` times with doubling backoff. `PermanentError` is raised at once;
    after the last attempt, `RetriesExhausted` from the last error. Each failed attempt is logged as
    ``retention_attempt_failed``."""
    delay = policy.initial_interval
    for attempt in range(1, policy.attempts + 1):
        try:
            return func()
        except PermanentError:
            raise
        except Exception as exc:
            _log.warning("retention_attempt_failed", operation=operation, attempt=attempt,
                         attempts=policy.attempts, error=str(exc) or type(exc).__name__, **fields)
            if attempt == policy.attempts:
                raise RetriesExhausted(f"{operation}: gave up after {attempt} attempts: {exc}") from exc
            sleep(delay)
            delay = min(delay * 2, policy.max_interval)
    raise AssertionError("unreachable")  # pragma: no cover
