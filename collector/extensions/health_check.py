"""``health_check``: ``GET <path>`` on ``endpoint`` (default localhost:13133) answers 200 while the collector is
ready, 503 while it is starting or draining (load balancers stop sending before the shutdown)."""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from collector.component import CreateSettings
from collector.net import listening, split_endpoint

__all__ = ["TYPE", "Config", "HealthCheck", "create"]

TYPE = "health_check"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = "localhost:13133"
    path: str = "/"


class HealthCheck:
    def __init__(self, settings: CreateSettings, config: Config, *, ready: Callable[[], bool] | None = None) -> None:
        """``ready``: asked on each request instead of the flag `set_ready` sets (the supervisor of several
        workers answers for all of them)."""
        self._config = config
        self._ready_check = ready
        self._log = settings.logger
        self._key = f"extensions::{settings.id}::endpoint"
        self.ready = False
        self._runner: web.AppRunner | None = None

    def set_ready(self, ready: bool) -> None:
        """Called by the service: True once every pipeline runs, False as soon as the shutdown begins."""
        self.ready = ready

    async def _handle(self, request: web.Request) -> web.Response:
        if self._ready_check() if self._ready_check is not None else self.ready:
            body = {"status": "Server available", "ready": True}
            return web.Response(text=json.dumps(body), content_type="application/json")
        body = {"status": "Server not available", "ready": False}
        return web.Response(status=503, text=json.dumps(body), content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(self._config.path, self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = split_endpoint(self._config.endpoint)
        try:
            with listening(self._key, self._config.endpoint):
                await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._log.info("health_check_listening", endpoint=self._config.endpoint, path=self._config.path)

    async def shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def create(settings: CreateSettings, config: Config) -> HealthCheck:
    return HealthCheck(settings, config)
