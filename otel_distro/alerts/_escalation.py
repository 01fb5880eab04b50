"""Escalation: a critical alert still firing and not acknowledged after ``escalate_after`` (from when it started
firing) is posted to Alertmanager again with the label ``escalation_level="1"`` — its routes send that to the
escalation receivers (a second Slack channel, the on-call e-mail) —, then with ``escalation_level="2"`` after
``escalate_again_after`` more. Each escalation is recorded, and re-posted every check while it lasts (as
Prometheus re-sends firing alerts), with an ``endsAt`` a few checks ahead so that it resolves by itself if this
service stops. When the alert is acknowledged or resolves, its escalations are resolved in Alertmanager.

An Alertmanager silence counts as an acknowledgement: every check asks Alertmanager which alerts are silenced,
and acknowledges them with the silence's author and comment. An episode still recorded as firing that
Alertmanager has not held for ``vanished_after`` (its resolved notification was lost) is closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog

from otel_distro.alerts._alertmanager import AlertmanagerClient
from otel_distro.alerts._store import ESCALATION_LABEL, AlertStore

__all__ = ["Escalator", "rfc3339"]

_log = structlog.get_logger("otel_distro.alerts")
MAX_LEVEL = 2


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Escalator:
    def __init__(self, store: AlertStore, alertmanager: AlertmanagerClient | None, *, escalate_after: float,
                 escalate_again_after: float, check_interval: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._am = alertmanager
        self._after = escalate_after
        self._again = escalate_again_after
        self.check_interval = check_interval
        self.vanished_after = max(300.0, 10 * check_interval)
        self._now = clock
        self._failing = False

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                _log.exception("escalation_check_failed")
            await asyncio.sleep(self.check_interval)

    async def check(self) -> None:
        am = self._am
        if am is None:
            return
        now = self._now()
        try:
            await self._acknowledge_silenced(am, now)
            await self._close_vanished(am, now)
            await self._escalate(am, now)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if not self._failing:
                _log.warning("alertmanager_unreachable", url=am.url, error=str(exc))
            self._failing = True
            return
        if self._failing:
            _log.info("alertmanager_reachable_again", url=am.url)
            self._failing = False

    async def _acknowledge_silenced(self, am: AlertmanagerClient, now: float) -> None:
        silenced = await am.silenced()
        if not silenced:
            return
        open_alerts = await asyncio.to_thread(self._store.firing_unacknowledged)
        for fingerprint, silence in silenced.items():
            if fingerprint in open_alerts:
                reason = f"silence {silence.id}: {silence.comment}"
                await asyncio.to_thread(self._store.acknowledge, fingerprint, by=silence.created_by or "alertmanager",
                                        reason=reason, now=now, kind="silenced")
                _log.info("alert_acknowledged", fingerprint=fingerprint, by=silence.created_by, via="silence")

    async def _close_vanished(self, am: AlertmanagerClient, now: float) -> None:
        """Close episodes recorded as firing that Alertmanager no longer holds: without this, an alert whose
        resolved notification was lost would stay firing here, and be escalated, for ever. An episode must have
        been quiet for a grace period first (Alertmanager re-notifies firing alerts every repeat_interval and
        Prometheus re-sends them every minute; a restarted Alertmanager learns them again within that)."""
        firing = await asyncio.to_thread(self._store.firing)
        if not firing:
            return
        held = await am.active_fingerprints()
        for alert_id, fingerprint, last_received in firing:
            if fingerprint not in held and now - last_received >= self.vanished_after:
                await asyncio.to_thread(self._store.mark_resolved, alert_id, now)
                _log.warning("alert_closed_without_resolution", fingerprint=fingerprint,
                             reason="no longer active in Alertmanager")

    async def _escalate(self, am: AlertmanagerClient, now: float) -> None:
        posts: list[dict[str, Any]] = []
        recorded: list[tuple[int, int, bool]] = []  # (episode, level, escalated: else withdrawn)
        for row in await asyncio.to_thread(self._store.escalation_candidates):
            level = int(row["escalation_level"])
            active = row["state"] == "firing" and row["acked_at"] is None and row["severity"] == "critical"
            if not active:
                if level > 0:  # acknowledged or resolved: withdraw every level
                    posts.extend(self._payload(row, lvl, ends_at=now) for lvl in range(1, level + 1))
                    recorded.append((row["id"], level, False))
                continue
            due = row["starts_at"] + self._after if level == 0 else (row["escalated_at"] or now) + self._again
            if level < MAX_LEVEL and now >= due:
                level += 1
                recorded.append((row["id"], level, True))
                _log.warning("alert_escalated", alertname=row["alertname"], fingerprint=row["fingerprint"],
                             level=level)
            expires = now + max(4 * self.check_interval, 60.0)
            posts.extend(self._payload(row, lvl, ends_at=expires) for lvl in range(1, level + 1))
        if posts:
            await am.post_alerts(posts)  # recorded only once Alertmanager has it
        for alert_id, level, escalated in recorded:
            record = self._store.record_escalation if escalated else self._store.record_withdrawal
            await asyncio.to_thread(record, alert_id, level, now)

    @staticmethod
    def _payload(row: dict[str, Any], level: int, *, ends_at: float) -> dict[str, Any]:
        labels = {**row["labels"], ESCALATION_LABEL: str(level)}
        annotations = {**row["annotations"],
                       "escalation": f"not acknowledged: escalation level {level} of {row['alertname']}"}
        out: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": rfc3339(row["starts_at"]),
                               "endsAt": rfc3339(ends_at)}
        if row["generator_url"]:
            out["generatorURL"] = row["generator_url"]
        return out
