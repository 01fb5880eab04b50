"""The background health monitor: every check every ``OTEL_DISTRO_HEALTH_INTERVAL``, the state ``/health`` reads.

One monitor per process (each uvicorn or gunicorn worker runs its own), on the app's event loop: started when
the app's lifespan starts (the first run completes before the server takes requests) or, without a lifespan, on
the first request; stopped when the lifespan shuts down. Each run:

- runs every check concurrently, each within ``OTEL_DISTRO_HEALTH_TIMEOUT`` (at most the interval), with
  instrumentation suppressed (no spans from the checks' queries);
- keeps per check: status, latency, last error (one line, no stack trace), last success and failure, since when;
- logs one ``health_check`` event: INFO when a check changed state (or on the first run), DEBUG otherwise;
- records ``app.health.check.duration`` (histogram, s) and reports ``app.health.check.status`` (gauge, 1 up /
  0 down), both with the attribute ``check``;
- reads the system figures for ``/health/detailed`` and evaluates the threshold alerts (see `alerts`).

``/health`` answers from the bytes the last run prepared: no check, no serialisation on the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from otel_distro._internal import guard, health, state
from otel_distro._internal.alerts import AlertmanagerPoster, ThresholdAlerts, rfc3339
from otel_distro._internal.request_stats import Window, request_stats
from otel_distro._internal.system_info import system_info
from otel_distro.settings import Settings

__all__ = ["CheckState", "HealthMonitor", "monitor", "reset_monitor"]

_logger = structlog.get_logger("otel_distro.health")

#: Buckets of ``app.health.check.duration`` (seconds): checks take milliseconds, timeouts seconds.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STARTING = orjson.dumps({"status": "starting", "checks": {}})


@dataclass(slots=True)
class CheckState:
    """What the monitor knows of one check. ``ok`` is None until it ran once."""

    name: str
    required: bool
    ok: bool | None = None
    duration_s: float = 0.0
    last_error: str | None = None
    last_success: float | None = None
    last_failure: float | None = None
    since: float | None = None

    @property
    def status(self) -> str:
        return "unknown" if self.ok is None else "ok" if self.ok else "fail"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "required": self.required,
            "latency_ms": round(self.duration_s * 1000, 3),
            "last_error": self.last_error,
            "last_success": rfc3339(self.last_success) if self.last_success is not None else None,
            "last_failure": rfc3339(self.last_failure) if self.last_failure is not None else None,
            "since": rfc3339(self.since) if self.since is not None else None,
        }


class _Instruments:
    """The health metrics of one meter provider; the status gauge reads the current monitor's states."""

    def __init__(self, provider: metrics.MeterProvider) -> None:
        meter = provider.get_meter("otel_distro.health")
        self.duration = meter.create_histogram(
            "app.health.check.duration",
            unit="s",
            description="Duration of each health check run.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        meter.create_observable_gauge(
            "app.health.check.status",
            callbacks=[self._observe],
            unit="1",
            description="Result of the latest run of each health check: 1 up, 0 down.",
        )

    @staticmethod
    def _observe(_: CallbackOptions) -> Iterable[Observation]:
        current = _monitor
        if current is None:
            return []
        return [
            Observation(1 if check.ok else 0, {"check": check.name})
            for check in list(current.states.values())
            if check.ok is not None
        ]


_instruments: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()


def _instruments_for(provider: metrics.MeterProvider) -> _Instruments:
    found = _instruments.get(provider)
    if found is None:
        found = _instruments[provider] = _Instruments(provider)
    return found


@functools.cache
def _distro_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("otel-distro")
    except PackageNotFoundError:
        return "unknown"


def _service() -> tuple[str, str | None]:
    """The service's name and version, as its telemetry carries them (the tracer provider's resource)."""
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    attributes = getattr(resource, "attributes", None) or {}
    name = attributes.get("service.name") or os.environ.get("OTEL_SERVICE_NAME") or "unknown_service"
    version = attributes.get("service.version") or state.settings().service_version
    return str(name), str(version) if version is not None else None


class HealthMonitor:
    """Runs the checks in the background and holds their latest state (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.interval = settings.health_interval
        self.timeout = min(settings.health_timeout, settings.health_interval)
        self.states: dict[str, CheckState] = {}
        self.system: dict[str, Any] = {}
        self.last_run: float | None = None
        self.runs = 0
        self.service, self.version = _service()
        poster = (
            AlertmanagerPoster(settings.alertmanager_url, self.service) if settings.alertmanager_url else None
        )
        self.alerts = ThresholdAlerts(settings, self.service, poster)
        self._window = Window(settings.alert_window)
        self._health_status = 503
        self._health_body = _STARTING
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._first_run: asyncio.Event | None = None
        self._system_reading: asyncio.Future[Any] | None = None
        self._users = 0
        self._started_at = _process_start()

    # -- what the routes read --------------------------------------------------------------------------------

    def health_response(self) -> tuple[int, bytes]:
        """``/health``: status code and JSON body, prepared by the last run."""
        return self._health_status, self._health_body

    def detailed(self) -> dict[str, Any]:
        """``/health/detailed``: every check's state, version, uptime, system figures, firing alerts."""
        now = time.time()
        return {
            "status": self._overall(),
            "service": {"name": self.service, "version": self.version, "environment": self.settings.environment},
            "version": self.version,
            "distro_version": _distro_version(),
            "uptime_s": round(now - self._started_at, 3),
            "started_at": rfc3339(self._started_at),
            "interval_s": self.interval,
            "last_run": rfc3339(self.last_run) if self.last_run is not None else None,
            "checks": {name: check.as_dict() for name, check in self.states.items()},
            "system": self.system,
            "alerts": [
                {"name": a.name, "severity": a.severity, "since": rfc3339(a.started_at), "summary": a.summary}
                for a in self.alerts.firing.values()
            ],
        }

    def _overall(self) -> str:
        if self.last_run is None:
            return "starting"
        return "ok" if all(c.ok for c in self.states.values() if c.required) else "fail"

    # -- one run -----------------------------------------------------------------------------------------------

    async def run_once(self) -> list[health.CheckResult]:
        """Run every check now, update the state, log, record metrics, evaluate the alerts."""
        started = time.perf_counter()
        specs = health.collect_checks(self.settings)
        reading = asyncio.ensure_future(self._read_system())
        results = await health.run_checks(specs, self.timeout)
        system = await reading
        now = time.time()
        changed = self._apply(results, now)
        if system is not None:
            self.system = system
        self.last_run = now
        self.runs += 1
        self._prepare_health_response()
        self._record(results)
        self._log(results, changed, round((time.perf_counter() - started) * 1000, 3))
        self.alerts.evaluate(self._window.observe(now, request_stats().totals()), now)
        return results

    async def _read_system(self) -> dict[str, Any] | None:
        # In a daemon thread of its own, not started again while the last one still runs: a hung data volume
        # holds one thread, never the loop's default executor (the app's DNS lookups) nor the process's exit.
        reading = self._system_reading
        if reading is None or reading.done() or reading.get_loop().is_closed():
            reading = health._in_daemon_thread(functools.partial(system_info, self.settings.health_disk_path))
            self._system_reading = reading
        try:
            result: dict[str, Any] = await asyncio.wait_for(asyncio.shield(reading), self.timeout)
        except Exception:
            return None
        return result

    def _apply(self, results: list[health.CheckResult], now: float) -> list[str]:
        changed: list[str] = []
        seen = set()
        for result in results:
            seen.add(result.name)
            check = self.states.get(result.name)
            if check is None:
                check = self.states[result.name] = CheckState(result.name, result.required)
            check.required = result.required
            if check.ok is not result.ok:
                changed.append(result.name)
                check.since = now
            check.ok = result.ok
            check.duration_s = result.duration_s
            if result.ok:
                check.last_success = now
            else:
                check.last_failure = now
                check.last_error = result.error
        for name in [name for name in self.states if name not in seen]:  # checks that went away
            del self.states[name]
            changed.append(name)
        return changed

    def _prepare_health_response(self) -> None:
        status = self._overall()
        body = {"status": status, "checks": {name: check.status for name, check in self.states.items()}}
        self._health_body = orjson.dumps(body)
        self._health_status = 200 if status == "ok" else 503

    def _record(self, results: list[health.CheckResult]) -> None:
        try:
            duration = _instruments_for(metrics.get_meter_provider()).duration
            for result in results:
                duration.record(result.duration_s, {"check": result.name})
        except Exception as exc:
            guard.internal_error("health_metrics", exc)

    def _log(self, results: list[health.CheckResult], changed: list[str], duration_ms: float) -> None:
        checks: dict[str, Any] = {}
        for result in results:
            entry: dict[str, Any] = {
                "status": "ok" if result.ok else "fail",
                "latency_ms": round(result.duration_s * 1000, 3),
            }
            if not result.required:
                entry["required"] = False
            if result.error is not None:
                entry["error"] = result.error
            checks[result.name] = entry
        log = _logger.info if changed or self.runs == 1 else _logger.debug
        log("health_check", status=self._overall(), checks=checks, changed=changed, duration_ms=duration_ms)

    # -- life cycle --------------------------------------------------------------------------------------------

    async def acquire(self) -> None:
        """An app's lifespan started: run (if not already) and return once the first run is done (or timed out)."""
        self._users += 1
        self._closed_loop = None
        self.ensure_running()
        first = self._first_run
        if first is not None and self._loop is asyncio.get_running_loop():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(first.wait(), self.timeout + 1.0)

    async def release(self) -> None:
        """An app's lifespan shut down: stop once no app uses the monitor any more."""
        self._users = max(0, self._users - 1)
        if self._users == 0:
            with contextlib.suppress(RuntimeError):
                self._closed_loop = weakref.ref(asyncio.get_running_loop())
            await self.stop()

    def ensure_running(self) -> None:
        """Start on the running loop unless already running there (cheap: called on every request)."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is not None and not task.done():
            current = self._loop
            if current is loop or (current is not None and current.is_running() and not current.is_closed()):
                return  # running here, or on another app's loop that is still alive (one monitor per process)
        closed = self._closed_loop
        if closed is not None and closed() is loop:
            return  # this loop's app shut down; do not come back for a straggling request
        self._loop = loop
        self._first_run = asyncio.Event()
        # A context of its own: not the request's (no trace, no request id), and instrumentation suppressed.
        self._task = loop.create_task(self._run_forever(self._first_run), context=contextvars.Context())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            if task.get_loop() is asyncio.get_running_loop():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            else:  # started on another loop (thread): cancel it there
                with contextlib.suppress(RuntimeError):
                    task.get_loop().call_soon_threadsafe(task.cancel)
        if self.alerts.poster is not None:
            await self.alerts.poster.close()

    async def _run_forever(self, first_run: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_run = loop.time()
        with health.suppressed():
            while True:
                try:
                    await self.run_once()
                except Exception as exc:
                    guard.internal_error("health_monitor_run", exc)
                finally:
                    first_run.set()
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # cancelled while an inner `wait_for` finished: Python 3.11 can swallow the CancelledError
                    # there, and this loop would then outlive the loop's shutdown (which waits for it for ever)
                    raise asyncio.CancelledError
                next_run = max(next_run + self.interval, loop.time())
                await asyncio.sleep(next_run - loop.time())


def _process_start() -> float:
    try:
        import psutil  # noqa: PLC0415

        return float(psutil.Process().create_time())
    except Exception:
        return time.time()


_monitor: HealthMonitor | None = None


def monitor() -> HealthMonitor:
    """The process's monitor, with the settings in force."""
    global _monitor  # noqa: PLW0603
    if _monitor is None:
        _monitor = HealthMonitor(state.settings())
    return _monitor


def reset_monitor() -> None:
    """Forget the monitor (tests; the next `monitor` call builds one with the settings then in force)."""
    global _monitor
    current, _monitor = _monitor, None
    task = current._task if current is not None else None
    if task is not None and not task.done():
        with contextlib.suppress(RuntimeError):  # its loop may be closed already
            task.get_loop().call_soon_threadsafe(task.cancel)
