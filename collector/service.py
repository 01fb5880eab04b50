"""The running collector: extensions, the pipeline graph, and its own telemetry, with one lifecycle.

    service = Service.from_config("otel-collector.yaml")   # raises ConfigError listing every problem
    await service.start()      # extensions, then the graph downstream-first; health turns ready
    ...
    await service.shutdown()   # health turns not-ready, graph upstream-first with draining, extensions

`Service.run` does both and drains on SIGTERM / SIGINT.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from collector import config as config_mod
from collector.component import ComponentID, CreateSettings, Extension, Kind, NoopTelemetry, Telemetry
from collector.config import ServiceConfig
from collector.pipeline import Graph, build
from collector.telemetry import MetricsServer, PrometheusTelemetry
from collector.workers import WorkerInfo

__all__ = ["Service"]

_log = structlog.get_logger("collector.service")


class Service:
    def __init__(self, config: ServiceConfig, *, telemetry: Telemetry | None = None,
                 worker: WorkerInfo | None = None) -> None:
        """``worker``: this is one of several worker processes (`collector.workers`): its supervisor serves
        health and the summed self-metrics, receivers share their ports, queues get their own directories."""
        self.config = config
        self.worker = worker
        self._metrics_server: MetricsServer | None = None
        if telemetry is None and worker is not None and config.telemetry.metrics_address is not None:
            telemetry = PrometheusTelemetry()  # values in the supervisor's multiprocess directory
        elif telemetry is None and config.telemetry.metrics_address is not None:
            prom = PrometheusTelemetry()
            self._metrics_server = MetricsServer(prom, config.telemetry.metrics_address)
            telemetry = prom
        self.telemetry: Telemetry = telemetry or NoopTelemetry()
        self.extensions: dict[ComponentID, Extension] = {}
        self.graph: Graph | None = None
        self._started = False

    @classmethod
    def from_config(cls, source: str | Path | Mapping[str, Any], *, environ: Mapping[str, str] | None = None,
                    telemetry: Telemetry | None = None) -> Service:
        """A service for a YAML file or an already parsed mapping; raises `collector.config.ConfigError`."""
        return cls(config_mod.load(source, environ), telemetry=telemetry)

    # -- Host --

    def get_extension(self, id: ComponentID) -> Extension | None:
        return self.extensions.get(id)

    def _set_ready(self, ready: bool) -> None:
        for ext in self.extensions.values():
            set_ready = getattr(ext, "set_ready", None)
            if set_ready is not None:
                set_ready(ready)

    # -- lifecycle --

    async def start(self) -> None:
        try:
            if self._metrics_server is not None:
                await self._metrics_server.start()
            for eid in self.config.extensions:
                if self.worker is not None and eid.type == "health_check":
                    continue  # the supervisor answers for every worker
                comp = self.config.component(Kind.EXTENSION, eid)
                settings = CreateSettings(id=eid, host=self, telemetry=self.telemetry)
                ext: Extension = comp.module.create(settings, comp.config)
                await ext.start()
                self.extensions[eid] = ext
            self.graph = build(self.config, self, self.telemetry)
            await self.graph.start()
        except BaseException:
            await self._stop_extensions()
            raise
        self._started = True
        self._set_ready(True)
        if self.worker is not None:
            self.worker.ready_file.touch()
        _log.info("collector_started", pipelines=sorted(self.config.pipelines))

    async def shutdown(self) -> None:
        self._set_ready(False)
        if self.worker is not None:
            self.worker.ready_file.unlink(missing_ok=True)
        if self.graph is not None:
            _log.info("collector_draining")
            timeout = self.config.shutdown_timeout
            try:
                await asyncio.wait_for(self.graph.shutdown(), timeout)
            except TimeoutError:
                lost = await self.graph.abandon()
                _log.error("shutdown_deadline_exceeded", timeout_seconds=timeout, dropped_items=lost,
                           hint="a backend is not answering; persistent queues keep their data for the next start")
            self.graph = None
        await self._stop_extensions()
        if self._started:
            _log.info("collector_stopped")
        self._started = False

    async def _stop_extensions(self) -> None:
        for eid, ext in reversed(list(self.extensions.items())):
            try:
                await ext.shutdown()
            except Exception:
                _log.exception("extension_shutdown_failed", extension=str(eid))
        self.extensions.clear()
        if self._metrics_server is not None:
            await self._metrics_server.shutdown()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Start, wait for SIGTERM / SIGINT (or ``stop``), then drain and shut down."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        try:
            await self.start()
            await stop.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.shutdown()
