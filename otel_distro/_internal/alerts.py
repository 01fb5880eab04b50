"""Threshold alerts on the app's own requests: ``HighLatency`` and ``HighErrorRate``, raised once, resolved once.

Each health run hands `ThresholdAlerts.evaluate` the request window (see `request_stats`). An alert is raised
when its condition holds on a run where it was not firing — logged once as ERROR ``alert_raised`` — and resolved
on the first run where it no longer holds — logged once as INFO ``alert_resolved``. Fewer requests in the window
than ``OTEL_DISTRO_ALERT_MIN_REQUESTS`` never raise one (and count as "no longer holds": no traffic, no incident).

- ``HighLatency`` (severity ``warning``): p95 response time over the window above ``OTEL_DISTRO_ALERT_LATENCY_P95``.
- ``HighErrorRate`` (severity ``critical``): 5xx answers and unhandled exceptions above
  ``OTEL_DISTRO_ALERT_ERROR_RATE`` of the requests.

With ``OTEL_DISTRO_ALERTMANAGER_URL`` set, `AlertmanagerPoster` posts them to ``<url>/api/v2/alerts`` as
Prometheus does: a firing alert with ``endsAt`` a few resend intervals ahead, re-posted every resend interval
while it fires (Alertmanager merges the posts into one alert, and resolves it by itself if the app dies), and a
resolved one once with ``endsAt`` = the time it resolved. Every worker posts with the same labels, so Alertmanager
sees one alert per service. Posts run in the background, one at a time, each within a timeout: the app is never
held up, and a down Alertmanager costs one WARNING ``alertmanager_post_failed`` until it answers again
(``alertmanager_post_recovered``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from otel_distro._internal.request_stats import WindowStats
from otel_distro.settings import Settings

__all__ = ["Alert", "AlertmanagerPoster", "ThresholdAlerts", "rfc3339"]

HIGH_LATENCY = "HighLatency"
HIGH_ERROR_RATE = "HighErrorRate"

_logger = structlog.get_logger("otel_distro.alerts")


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Alert:
    """One incident of a threshold alert: firing while ``ended_at`` is None."""

    name: str
    severity: str
    summary: str
    description: str
    started_at: float
    value: float
    threshold: float
    ended_at: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def to_alertmanager(self, service: str, ends_at: float) -> dict[str, Any]:
        """The alert in Alertmanager's API v2 form (``postableAlert``)."""
        return {
            "labels": {"alertname": self.name, "service": service, "severity": self.severity},
            "annotations": {"summary": self.summary, "description": self.description},
            "startsAt": rfc3339(self.started_at),
            "endsAt": rfc3339(ends_at),
        }


class ThresholdAlerts:
    """The two threshold alerts of one process, their state, and what to post."""

    def __init__(self, settings: Settings, service: str, poster: AlertmanagerPoster | None = None) -> None:
        self._latency = settings.alert_latency_p95
        self._error_rate = settings.alert_error_rate
        self._min_requests = settings.alert_min_requests
        self._window_s = settings.alert_window
        self.service = service
        self.poster = poster
        self.firing: dict[str, Alert] = {}

    def evaluate(self, window: WindowStats, now: float | None = None) -> list[Alert]:
        """Raise or resolve each alert for ``window``; the alerts that changed state on this call."""
        now = time.time() if now is None else now
        enough = window.requests >= self._min_requests
        p95 = window.p95_estimate
        changed: list[Alert] = []
        latency = self._update(
            HIGH_LATENCY,
            holds=enough and window.slow_rate > 0.05,
            now=now,
            make=lambda: Alert(
                HIGH_LATENCY,
                "warning",
                f"{self.service}: p95 response time above {self._latency:g} s",
                f"{window.slow} of {window.requests} requests in the last {self._window_s:g} s took longer than "
                f"{self._latency:g} s (p95 about {p95 or 0:.3g} s).",
                now,
                value=p95 or 0.0,
                threshold=self._latency,
                fields={"p95_s": p95, "slow": window.slow},
            ),
            window=window,
        )
        errors = self._update(
            HIGH_ERROR_RATE,
            holds=enough and window.error_rate > self._error_rate,
            now=now,
            make=lambda: Alert(
                HIGH_ERROR_RATE,
                "critical",
                f"{self.service}: error rate above {self._error_rate:.2%}",
                f"{window.errors} of {window.requests} requests in the last {self._window_s:g} s failed "
                f"({window.error_rate:.2%}).",
                now,
                value=window.error_rate,
                threshold=self._error_rate,
                fields={"errors": window.errors},
            ),
            window=window,
        )
        changed.extend(alert for alert in (latency, errors) if alert is not None)
        if self.poster is not None:
            self.poster.update(list(self.firing.values()), changed, now)
        return changed

    def _update(
        self, name: str, *, holds: bool, now: float, make: Callable[[], Alert], window: WindowStats
    ) -> Alert | None:
        current = self.firing.get(name)
        if holds and current is None:
            alert = self.firing[name] = make()
            _logger.error(
                "alert_raised",
                alert=name,
                severity=alert.severity,
                service=self.service,
                value=alert.value,
                threshold=alert.threshold,
                requests=window.requests,
                window_s=self._window_s,
                summary=alert.summary,
                **alert.fields,
            )
            return alert
        if not holds and current is not None:
            del self.firing[name]
            current.ended_at = now
            _logger.info(
                "alert_resolved",
                alert=name,
                severity=current.severity,
                service=self.service,
                duration_s=round(now - current.started_at, 3),
                requests=window.requests,
                window_s=self._window_s,
            )
            return current
        return None


class AlertmanagerPoster:
    """Posts the current alerts to Alertmanager in the background: on every change, and every ``resend``
    seconds while one fires; a resolved alert until one post of it succeeded."""

    def __init__(self, url: str, service: str, *, resend: float = 60.0, timeout: float = 5.0) -> None:
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.service = service
        self.resend = resend
        self.timeout = timeout
        self._resolved: dict[str, Alert] = {}  # not yet delivered; at most one per alert name
        self._last_post = float("-inf")
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.posts = 0

    def update(self, firing: list[Alert], changed: list[Alert], now: float) -> None:
        for alert in changed:
            if alert.ended_at is not None:
                self._resolved[alert.name] = alert
        if changed:
            self._dirty = True
        due = self._dirty or self._resolved or (firing and now - self._last_post >= self.resend)
        if not due or (self._task is not None and not self._task.done()):
            return  # nothing to say, or a post is still under way (the next run says it)
        # Resolved first: Alertmanager applies a post in order, and a resolve after a new incident of the same
        # alert (same labels) would end that incident too.
        resolved = list(self._resolved.values())
        payload = [alert.to_alertmanager(self.service, alert.ended_at or now) for alert in resolved]
        payload.extend(alert.to_alertmanager(self.service, now + 4 * self.resend) for alert in firing)
        if not payload:
            self._dirty = False
            return
        self._dirty = False
        self._last_post = now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._post(payload, resolved))

    async def _post(self, payload: list[dict[str, Any]], resolved: list[Alert]) -> None:
        from otel_distro._internal.health import suppressed  # noqa: PLC0415

        try:
            with suppressed():
                status = await asyncio.wait_for(self._send(json.dumps(payload).encode()), self.timeout)
            if status >= 300:
                raise ConnectionError(f"HTTP {status}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._dirty = True  # say it again on the next run
            if not self._failing:
                self._failing = True
                _logger.warning(
                    "alertmanager_post_failed", endpoint=self.endpoint, error=f"{type(exc).__name__}: {exc}"[:300]
                )
            return
        self.posts += 1
        for alert in resolved:
            if self._resolved.get(alert.name) is alert:
                del self._resolved[alert.name]
        if self._failing:
            self._failing = False
            _logger.info("alertmanager_post_recovered", endpoint=self.endpoint)

    async def _send(self, body: bytes) -> int:
        import aiohttp  # noqa: PLC0415

        async with (
            aiohttp.ClientSession() as session,
            session.post(self.endpoint, data=body, headers={"Content-Type": "application/json"}) as response,
        ):
            await response.read()
            return response.status

    async def close(self) -> None:
        """Wait for the post under way (within its timeout), e.g. the last resolve before shutdown."""
        task = self._task
        if task is not None and not task.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), self.timeout)
