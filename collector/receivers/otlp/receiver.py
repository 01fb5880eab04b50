"""The ``otlp`` receiver runtime: the servers its config enables, started and stopped together."""

from __future__ import annotations

from collections.abc import Mapping

from collector.component import Consumer, CreateSettings, for_transport
from collector.net import listening
from collector.pdata import Signal
from collector.receivers.otlp.config import Config
from collector.receivers.otlp.grpc import GrpcServer
from collector.receivers.otlp.http import HttpServer

__all__ = ["OtlpReceiver"]


class OtlpReceiver:
    def __init__(self, settings: CreateSettings, config: Config, consumers: Mapping[Signal, Consumer]) -> None:
        self._log = settings.logger
        self._key = f"receivers::{settings.id}::protocols"
        p = config.protocols
        shared = getattr(settings.host, "worker", None) is not None  # workers share the ports (SO_REUSEPORT)
        self.grpc = (GrpcServer(p.grpc, for_transport(consumers, "grpc"), self._log, reuse_port=shared)
                     if p.grpc is not None else None)
        self.http = (HttpServer(p.http, for_transport(consumers, "http"), self._log, reuse_port=shared)
                     if p.http is not None else None)

    async def start(self) -> None:
        if self.grpc is not None:
            with listening(f"{self._key}::grpc::endpoint", self.grpc.endpoint):
                await self.grpc.start()
            self._log.info("otlp_grpc_listening", port=self.grpc.port)
        if self.http is not None:
            try:
                with listening(f"{self._key}::http::endpoint", self.http.endpoint):
                    await self.http.start()
            except BaseException:
                await self.http.shutdown()
                if self.grpc is not None:
                    await self.grpc.shutdown()
                raise
            self._log.info("otlp_http_listening", port=self.http.port)

    async def shutdown(self) -> None:
        if self.http is not None:
            await self.http.shutdown()
        if self.grpc is not None:
            await self.grpc.shutdown()
