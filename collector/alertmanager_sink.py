"""Where the ``alert_rules`` processor's alerts leave: Alertmanager's ``POST /api/v2/alerts``, in the background.

The processor hands alerts to `AlertmanagerSink.submit`, which never blocks and never does I/O: the alert goes
into a bounded buffer keyed by the alert's identity, where a newer state of the same alert replaces the older
one (a firing alert re-sent, then resolved, is one entry). A task posts what is buffered, in order, and retries
with exponential backoff while Alertmanager is down or answers 429/5xx; a 4xx is permanent (the batch is
counted as dropped). What is buffered survives an outage of any length; only new distinct alerts beyond
``queue_size`` are dropped, and counted.

Two rules keep an outage from losing an alert:

* a firing alert's ``endsAt`` is stamped when it is *posted* (post time + ``expire_after``), so an alert that
  waited in the buffer does not arrive already expired; until the processor re-sends or resolves it,
  Alertmanager keeps it firing for that long;
* a resolution is held back until the alert's firing state has been delivered and ``resolve_hold`` has passed
  (Alertmanager only notifies a resolution of an alert it notified as firing, after its ``group_wait``), so an
  alert that fired and resolved while Alertmanager was down still reaches the receivers, firing then resolved.

Self-metrics (``collector.component.Telemetry``, attribute ``processor``):
``otelcol_processor_alert_rules_alerts_sent_total``, ``..._alerts_dropped_total{reason=queue_full|rejected}``,
``..._send_failed_total`` (attempts that will be retried), ``..._alerts_queued`` (gauge).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from collector.component import Telemetry
from collector.config_types import Duration

__all__ = ["Alert", "AlertmanagerSink", "SinkConfig", "rfc3339"]

_METRIC = "otelcol_processor_alert_rules_"


class _Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initial_interval: Duration = Field(default=1.0, gt=0)
    max_interval: Duration = Field(default=30.0, gt=0)


class SinkConfig(BaseModel):
    """``alertmanager:`` of an ``alert_rules`` processor."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(default="", description="Alertmanager base URL, e.g. http://alertmanager:9093; "
                                                  "empty: alerts are evaluated, logged and counted, not sent")
    timeout: Duration = Field(default=5.0, gt=0)
    queue_size: int = Field(default=1000, ge=1, description="distinct alerts buffered while Alertmanager is away")
    max_batch: int = Field(default=100, ge=1, description="alerts per POST")
    expire_after: Duration = Field(default=240.0, gt=0, description="endsAt of a firing alert = post time + this")
    resolve_hold: Duration = Field(default=30.0, ge=0, description="a resolution waits this long after its "
                                                                   "firing state was delivered")
    retry_on_failure: _Retry = Field(default_factory=_Retry)

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname):
            raise ValueError(f"expected an http(s):// URL, e.g. http://alertmanager:9093, got {value!r}")
        return value


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Alert:
    """One state of one alert. ``ends_at`` None: firing; else resolved at that time."""

    key: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None
    generator_url: str = ""
    submitted: float = field(default_factory=time.time)

    @property
    def resolved(self) -> bool:
        return self.ends_at is not None

    def payload(self, now: float, expire_after: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at if self.ends_at is not None else now + expire_after),
        }
        if self.generator_url:
            out["generatorURL"] = self.generator_url
        return out


class AlertmanagerSink:
    def __init__(self, config: SinkConfig, telemetry: Telemetry, attributes: Mapping[str, str], logger: Any) -> None:
        self._config = config
        self._url = config.endpoint.rstrip("/") + "/api/v2/alerts" if config.endpoint else ""
        self._telemetry = telemetry
        self._attrs = dict(attributes)
        self._log = logger
        self._pending: dict[str, Alert] = {}
        self._held: dict[str, Alert] = {}  # resolutions waiting for their firing state to be delivered
        self._delivered: dict[str, float] = {}  # key -> when its firing state was delivered
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._backoff = 0.0
        self._failing = False

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    def queued(self) -> int:
        return len(self._pending) + len(self._held)

    # --- the processor's side: never blocks ------------------------------------------------------------------

    def submit(self, alert: Alert) -> None:
        if not self._url:
            return
        key = alert.key
        if alert.resolved:
            delivered_at = self._delivered.get(key)
            if delivered_at is None and key not in self._pending and key not in self._held:
                # never delivered and nothing pending (dropped earlier): deliver it firing, then resolved
                self._held[key] = alert
                alert = replace(alert, ends_at=None)
            elif delivered_at is None or time.time() < delivered_at + self._config.resolve_hold:
                self._held[key] = alert  # after the firing state, and not before Alertmanager could notify it
                self._wake.set()
                return
        if key not in self._pending and len(self._pending) >= self._config.queue_size:
            self._held.pop(key, None)
            self._count("alerts_dropped_total", 1, reason="queue_full")
            self._log.warning("alert_dropped", reason="queue_full", alertname=alert.labels.get("alertname"),
                              queue_size=self._config.queue_size)
            return
        if not alert.resolved:
            self._held.pop(key, None)  # firing again: an older resolution is obsolete
        self._pending[key] = alert
        self._pending_gauge()
        self._wake.set()

    # --- lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        if not self._url:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._config.timeout))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="alertmanager-sink")

    async def shutdown(self) -> None:
        """One last attempt to deliver what is buffered (held resolutions included), then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            for key, resolution in list(self._held.items()):
                if key not in self._pending:
                    self._pending[key] = resolution
            self._held.clear()
            if self._pending:
                await self._post_pending()
            if self._pending:
                self._log.warning("alerts_undelivered_at_shutdown", alerts=len(self._pending))
            await self._session.close()
            self._session = None

    # --- delivery ------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self._backoff:
                await asyncio.sleep(self._backoff)  # new alerts wait too: no hammering a backend that is down
            elif not self._pending:
                self._wake.clear()
                delay = self._next_release()
                if delay is None:
                    await self._wake.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._release_held()
            if self._pending:
                await self._post_pending()

    def _next_release(self) -> float | None:
        """Seconds until the first held resolution may go, or None."""
        now = time.time()
        waits = [self._delivered[k] + self._config.resolve_hold - now for k in self._held if k in self._delivered]
        return max(0.05, min(waits)) if waits else None

    def _release_held(self) -> None:
        now = time.time()
        for key in list(self._held):
            at = self._delivered.get(key)
            if at is not None and now >= at + self._config.resolve_hold and key not in self._pending:
                self._pending[key] = self._held.pop(key)

    async def _post_pending(self) -> None:
        while self._pending:
            batch = list(self._pending.values())[: self._config.max_batch]
            outcome = await self._post(batch)
            if outcome == "retry":
                retry = self._config.retry_on_failure
                self._backoff = min(retry.max_interval, self._backoff * 2 if self._backoff else retry.initial_interval)
                return
            self._backoff = 0.0
            now = time.time()
            dropped = len(batch)
            for alert in batch:
                if self._pending.get(alert.key) is alert:
                    del self._pending[alert.key]
                if outcome == "sent":
                    if alert.resolved:
                        self._delivered.pop(alert.key, None)
                    else:
                        self._delivered.setdefault(alert.key, now)
                elif not alert.resolved and alert.key not in self._delivered and alert.key in self._held:
                    del self._held[alert.key]  # it waited for this firing state, which will never be delivered
                    dropped += 1
            if outcome == "sent":
                self._count("alerts_sent_total", len(batch))
            else:
                self._count("alerts_dropped_total", dropped, reason="rejected")
            self._pending_gauge()

    async def _post(self, batch: list[Alert]) -> str:
        """``sent``, ``retry`` or ``rejected`` (permanent)."""
        if self._session is None:
            return "retry"
        now = time.time()
        body = [a.payload(now, self._config.expire_after) for a in batch]
        try:
            async with self._session.post(self._url, json=body) as response:
                status = response.status
                text = (await response.text())[:500] if status >= 300 else ""
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return self._failed(f"{type(exc).__name__}: {exc}", len(batch))
        if status < 300:
            if self._failing:
                self._failing = False
                self._log.info("alertmanager_reachable_again", endpoint=self._config.endpoint)
            return "sent"
        if status == 429 or status >= 500:
            return self._failed(f"HTTP {status}: {text}", len(batch))
        self._log.error("alerts_rejected", endpoint=self._config.endpoint, status=status, response=text,
                        dropped_alerts=len(batch))
        return "rejected"

    def _failed(self, error: str, n: int) -> str:
        self._count("send_failed_total", 1)
        if not self._failing:  # once per outage, not once per retry
            self._failing = True
            self._log.warning("alertmanager_unreachable", endpoint=self._config.endpoint, error=error,
                              buffered_alerts=n)
        return "retry"

    def _count(self, name: str, value: float, **extra: str) -> None:
        self._telemetry.add(_METRIC + name, value, {**self._attrs, **extra})

    def _pending_gauge(self) -> None:
        self._telemetry.set(_METRIC + "alerts_queued", self.queued(), self._attrs)
