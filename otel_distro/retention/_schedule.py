"""``otel-distro retention schedule``: run the job every night at a local time (default 03:00)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

__all__ = ["next_run", "schedule"]

_log = structlog.get_logger("otel_distro.retention")


def next_run(now: datetime, at: str) -> datetime:
    """The first moment strictly after `now` (aware) whose wall-clock time is `at` (``HH:MM``): in `now`'s time
    zone when it is a named zone (`zoneinfo.ZoneInfo`), else in the process's local zone (``TZ``)."""
    hour, minute = (int(p) for p in at.split(":"))
    named = now.tzinfo if isinstance(now.tzinfo, ZoneInfo) else None
    for days in range(3):
        wall = datetime.combine(now.date() + timedelta(days=days), datetime.min.time()).replace(
            hour=hour, minute=minute)
        candidate = wall.replace(tzinfo=named) if named is not None else wall.astimezone()
        if candidate > now:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def schedule(job: Callable[[], object], at: str, *, clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
             sleep: Callable[[float], None] = time.sleep, runs: int | None = None) -> None:
    """Sleep until the next `at`, run `job`, forever (or `runs` times). A failing job is logged, never fatal."""
    done = 0
    while runs is None or done < runs:
        now = clock()
        when = next_run(now, at)
        _log.info("retention_next_run", at=when.isoformat())
        while (remaining := (when - clock()).total_seconds()) > 0:
            sleep(min(remaining, 300.0))  # wake up now and then: a suspended machine's clock jumps
        try:
            job()
        except Exception as exc:
            _log.error("retention_run_failed", error=str(exc) or type(exc).__name__)
        done += 1
