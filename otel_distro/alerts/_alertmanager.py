"""The two things the history service asks of Alertmanager (API v2): post alerts (escalations), and which
alerts are silenced by whom."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["AlertmanagerClient", "Silence"]


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    created_by: str
    comment: str


class AlertmanagerClient:
    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """``POST /api/v2/alerts``; raises `aiohttp.ClientError` (or `OSError`, `TimeoutError`) on failure."""
        async with self._client().post(f"{self.url}/api/v2/alerts", json=alerts) as response:
            response.raise_for_status()

    async def active_fingerprints(self) -> set[str]:
        """Fingerprints of every alert Alertmanager holds unresolved (active, silenced, inhibited or unprocessed)."""
        async with self._client().get(f"{self.url}/api/v2/alerts", params={
                "active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}) as response:
            response.raise_for_status()
            listed: list[dict[str, Any]] = await response.json()
        return {str(a["fingerprint"]) for a in listed}

    async def silenced(self) -> dict[str, Silence]:
        """Fingerprint -> the silence that mutes it, for every alert Alertmanager holds silenced (inhibited or not:
        with inhibited=false Alertmanager leaves out an alert that is both)."""
        client = self._client()
        async with client.get(f"{self.url}/api/v2/alerts",
                              params={"silenced": "true", "inhibited": "true", "active": "false"}) as response:
            response.raise_for_status()
            listed: list[dict[str, Any]] = await response.json()
        out: dict[str, Silence] = {}
        cache: dict[str, Silence] = {}
        for alert in listed:
            silenced_by = alert.get("status", {}).get("silencedBy") or []
            if not silenced_by:
                continue
            sid = silenced_by[0]
            if sid not in cache:
                async with client.get(f"{self.url}/api/v2/silence/{sid}") as response:
                    response.raise_for_status()
                    body = await response.json()
                cache[sid] = Silence(sid, str(body.get("createdBy", "")), str(body.get("comment", "")))
            out[alert["fingerprint"]] = cache[sid]
        return out
