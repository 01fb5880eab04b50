"""``otlp`` (alias ``otlp_grpc``): OTLP/gRPC to another collector or a backend (Tempo, Jaeger, ...).

Config -> `classify` -> runtime. Runs behind the shared sender; the gRPC status code (and ``RetryInfo`` in the
status details) decide between success, permanent failure and retry, per the OTLP spec.
"""

from __future__ import annotations

from typing import Any, Literal

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from pydantic import ConfigDict, Field, field_validator

from collector.component import CreateSettings
from collector.errors import ExportError, PermanentError, RetryableError
from collector.exporters._tls import TLSClientConfig
from collector.pdata import Batch, Signal
from collector.sending.settings import SenderSettings

__all__ = ["SIGNALS", "TYPE", "Config", "OtlpGrpcExporter", "classify", "create", "disabled_reason", "retry_delay"]

TYPE = "otlp"
SIGNALS = frozenset(Signal)

_METHODS = {
    Signal.TRACES: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    Signal.METRICS: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    Signal.LOGS: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
RETRYABLE_CODES = frozenset({
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
})


class Config(SenderSettings):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(default="localhost:4317", description="host:port (an http(s):// prefix is accepted)")
    headers: dict[str, str] = Field(default_factory=dict)
    compression: Literal["gzip", "none", ""] = "gzip"
    tls: TLSClientConfig = Field(default_factory=TLSClientConfig)

    @field_validator("endpoint")
    @classmethod
    def _target(cls, value: str) -> str:
        target = value.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
        if target and ":" not in target:
            raise ValueError(f"{value!r} has no port, e.g. localhost:4317")
        return value

    @property
    def target(self) -> str:
        return self.endpoint.removeprefix("http://").removeprefix("https://").rstrip("/")


def retry_delay(trailing_metadata: Any) -> float | None:
    """The ``RetryInfo.retry_delay`` in a ``grpc-status-details-bin`` trailer, in seconds."""
    for key, value in trailing_metadata or ():
        if key != "grpc-status-details-bin":
            continue
        try:
            status = status_pb2.Status()
            status.ParseFromString(value)
            for detail in status.details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return float(info.retry_delay.ToNanoseconds()) / 1e9
        except DecodeError:
            return None
    return None


def classify(code: grpc.StatusCode, message: str = "", retry_after: float | None = None) -> ExportError | None:
    """The outcome of one OTLP/gRPC call, per the OTLP spec: None on OK; `RetryableError` on the retryable
    codes, and on RESOURCE_EXHAUSTED only when the server sent RetryInfo; `PermanentError` otherwise."""
    if code is grpc.StatusCode.OK:
        return None
    text = f"gRPC {code.name}" + (f": {message}" if message else "")
    if code in RETRYABLE_CODES or (code is grpc.StatusCode.RESOURCE_EXHAUSTED and retry_after is not None):
        return RetryableError(text, retry_after=retry_after)
    return PermanentError(text)


class OtlpGrpcExporter:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._config = config
        self._log = settings.logger
        self._channel: grpc.aio.Channel | None = None
        # gRPC metadata keys are lower case (HTTP/2); grpc refuses every call with an upper-case one
        self._metadata = tuple((key.lower(), value) for key, value in config.headers.items()) or None

    async def start(self) -> None:
        cfg = self._config
        compression = grpc.Compression.Gzip if cfg.compression == "gzip" else grpc.Compression.NoCompression
        if cfg.tls.insecure or cfg.endpoint.startswith("http://"):
            self._channel = grpc.aio.insecure_channel(cfg.target, compression=compression)
        else:
            creds = grpc.ssl_channel_credentials(
                root_certificates=cfg.tls.read(cfg.tls.ca_file),
                private_key=cfg.tls.read(cfg.tls.key_file),
                certificate_chain=cfg.tls.read(cfg.tls.cert_file),
            )
            self._channel = grpc.aio.secure_channel(cfg.target, creds, compression=compression)

    async def shutdown(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def export(self, batch: Batch) -> None:
        if self._channel is None:
            raise RuntimeError("otlp exporter is not started")
        call = self._channel.unary_unary(_METHODS[batch.signal])
        try:
            await call(batch.to_bytes(), metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            error = classify(exc.code(), exc.details() or "", retry_delay(exc.trailing_metadata()))
            if error is not None:
                raise error from exc


def disabled_reason(config: Config) -> str | None:
    """An empty endpoint (e.g. ``${env:OTLP_TRACES_ENDPOINT:-}`` unset) switches the exporter off."""
    return "endpoint is empty" if not config.target else None


def create(settings: CreateSettings, config: Config) -> OtlpGrpcExporter:
    return OtlpGrpcExporter(settings, config)
