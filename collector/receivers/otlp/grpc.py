"""OTLP/gRPC server (grpc.aio): the three ``Export`` services, protobuf, gzip as gRPC negotiates it.

Answers: OK with an export response (``partial_success`` when part was rejected); INVALID_ARGUMENT for an
undecodable message; UNAUTHENTICATED without the bearer token; UNAVAILABLE with ``RetryInfo`` in the status
details when the pipeline refuses (back-pressure), which OTLP clients retry after the given delay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]

from collector.component import Consumer
from collector.errors import Refused
from collector.memory import LEDGER
from collector.net import split_endpoint
from collector.pdata import Signal
from collector.receivers.otlp.common import bearer_ok, decode, make_response
from collector.receivers.otlp.config import GrpcConfig

__all__ = ["GrpcServer", "retry_info_metadata"]

_SERVICES = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
}


def retry_info_metadata(code: int, message: str, retry_after: float) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata carrying a ``google.rpc.Status`` with ``RetryInfo`` (how OTLP signals a delay)."""
    delay = Duration()
    delay.FromNanoseconds(int(retry_after * 1e9))
    detail = AnyProto()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    status = status_pb2.Status(code=code, message=message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


class GrpcServer:
    def __init__(self, config: GrpcConfig, consumers: Mapping[Signal, Consumer], logger: Any, *,
                 reuse_port: bool = False) -> None:
        self._config = config
        self._reuse_port = reuse_port
        self._consumers = consumers
        self._log = logger
        self._server: grpc.aio.Server | None = None
        self.port: int | None = None

    @property
    def endpoint(self) -> str:
        return self._config.endpoint

    def _method(self, signal: Signal, consumer: Consumer) -> Any:
        token = self._config.auth.bearer_token if self._config.auth is not None else None

        async def export(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            with LEDGER.holding("receiver", len(request)):  # until the pipeline returned
                return await receive(request, context)

        async def receive(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            if token is not None:
                md = dict(context.invocation_metadata() or ())
                if not bearer_ok(str(md.get("authorization", "")), token):
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
            refusal = LEDGER.refusal()  # this request is counted already
            if refusal is not None:  # before decoding it
                await context.abort(grpc.StatusCode.UNAVAILABLE, refusal,
                                    trailing_metadata=retry_info_metadata(code_pb2.UNAVAILABLE, refusal, 1.0))
            try:
                batch, rejected, message = await decode(signal, request)
            except DecodeError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot decode {signal.value} request: {exc}")
            if not batch.is_empty():
                try:
                    await consumer.consume(batch)
                except Refused as exc:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, exc.reason,
                                        trailing_metadata=retry_info_metadata(code_pb2.UNAVAILABLE, exc.reason,
                                                                              exc.retry_after))
                except Exception as exc:
                    self._log.exception("receiver_consume_failed", signal=signal.value)
                    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
            return make_response(signal, rejected, message).SerializeToString()

        return export

    async def start(self) -> None:
        max_len = self._config.max_recv_msg_size_mib * 1024 * 1024
        options: list[tuple[str, int]] = [("grpc.max_receive_message_length", max_len)]
        if self._reuse_port:
            options.append(("grpc.so_reuseport", 1))
        server = grpc.aio.server(options=options)
        for signal, consumer in self._consumers.items():
            handler = grpc.unary_unary_rpc_method_handler(self._method(signal, consumer))  # raw bytes in and out
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(_SERVICES[signal], {"Export": handler}),)
            )
        host, port = split_endpoint(self._config.endpoint)
        host = host or "[::]"  # ":4317": every interface
        address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
        tls = self._config.tls
        if tls is None:
            self.port = server.add_insecure_port(address)
        else:
            credentials = grpc.ssl_server_credentials(
                [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
                root_certificates=tls.client_ca_file.read_bytes() if tls.client_ca_file else None,
                require_client_auth=tls.client_ca_file is not None,
            )
            self.port = server.add_secure_port(address, credentials)
        await server.start()
        self._server = server

    async def shutdown(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=10.0)  # refuses new RPCs, lets those in progress finish
            self._server = None
