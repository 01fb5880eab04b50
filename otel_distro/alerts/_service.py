"""The alert history service: the web app, the database, and the escalation loop, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiohttp import web

from otel_distro.alerts._alertmanager import AlertmanagerClient
from otel_distro.alerts._escalation import Escalator
from otel_distro.alerts._server import create_app
from otel_distro.alerts._store import AlertStore

__all__ = ["HistoryService"]

_log = structlog.get_logger("otel_distro.alerts")


class HistoryService:
    def __init__(self, *, database_url: str, alertmanager_url: str | None, escalate_after: float,
                 escalate_again_after: float, check_interval: float = 15.0, host: str = "127.0.0.1",
                 port: int = 9097) -> None:
        self.store = AlertStore(database_url)
        self.alertmanager = AlertmanagerClient(alertmanager_url) if alertmanager_url else None
        self.escalator = Escalator(self.store, self.alertmanager, escalate_after=escalate_after,
                                   escalate_again_after=escalate_again_after, check_interval=check_interval)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.store.create_tables)
        self._runner = web.AppRunner(create_app(self.store), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            addresses = self._runner.addresses  # the bound sockets' names: the port the OS chose
            if addresses:
                self.port = addresses[0][1]
        if self.alertmanager is None:
            _log.warning("escalation_disabled", reason="OTEL_DISTRO_ALERTMANAGER_URL is not set")
        else:
            self._task = asyncio.get_running_loop().create_task(self.escalator.run(), name="alert-escalation")
        _log.info("alert_history_started", host=self.host, port=self.port,
                  database=self.store.engine.url.render_as_string(hide_password=True),
                  alertmanager=self.alertmanager.url if self.alertmanager else None)

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._runner is not None:
            await self._runner.cleanup()
        if self.alertmanager is not None:
            await self.alertmanager.close()
        await asyncio.to_thread(self.store.close)

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.shutdown()
