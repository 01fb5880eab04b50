"""``otlphttp`` (alias ``otlp_http``): OTLP/HTTP to another collector or a backend (Tempo, Jaeger, ...).

Config -> `classify` -> runtime. ``endpoint`` is the base URL (``/v1/traces`` etc. are appended) unless a
per-signal ``traces_endpoint`` / ``metrics_endpoint`` / ``logs_endpoint`` is given. Runs behind the shared sender.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Literal

import aiohttp
import cramjam
from google.rpc import status_pb2  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from pydantic import ConfigDict, Field, field_validator

from collector import otlpjson
from collector.component import CreateSettings
from collector.errors import ExportError, PermanentError, RetryableError
from collector.exporters._tls import TLSClientConfig
from collector.pdata import Batch, Signal
from collector.sending.retry_after import retry_after_header
from collector.sending.settings import SenderSettings

__all__ = [
    "SIGNALS", "TYPE", "Config", "OtlpHttpExporter", "classify", "create", "disabled_reason",
]

TYPE = "otlphttp"
SIGNALS = frozenset(Signal)

_PATHS = {Signal.TRACES: "/v1/traces", Signal.METRICS: "/v1/metrics", Signal.LOGS: "/v1/logs"}
_RESPONSES: dict[Signal, Any] = {
    Signal.TRACES: ExportTraceServiceResponse,
    Signal.METRICS: ExportMetricsServiceResponse,
    Signal.LOGS: ExportLogsServiceResponse,
}
RETRYABLE_STATUSES = frozenset({408, 429, 502, 503, 504})


class Config(SenderSettings):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(default="http://localhost:4318", description="base URL; /v1/<signal> is appended")
    traces_endpoint: str | None = None
    metrics_endpoint: str | None = None
    logs_endpoint: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    compression: Literal["gzip", "none", ""] = "gzip"
    encoding: Literal["proto", "json"] = "proto"
    tls: TLSClientConfig = Field(default_factory=TLSClientConfig)

    @field_validator("endpoint", "traces_endpoint", "metrics_endpoint", "logs_endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. http://localhost:4318")
        return value

    def url_for(self, signal: Signal) -> str:
        specific = {Signal.TRACES: self.traces_endpoint, Signal.METRICS: self.metrics_endpoint,
                    Signal.LOGS: self.logs_endpoint}[signal]
        return specific or self.endpoint.rstrip("/") + _PATHS[signal]


def classify(status: int, headers: Mapping[str, str], message: str = "") -> ExportError | None:
    """The outcome of one OTLP/HTTP answer, per the OTLP spec: None on 2xx; `RetryableError` (with the server's
    Retry-After) on 408/429/502/503/504; `PermanentError` on anything else."""
    if 200 <= status < 300:
        return None
    text = f"HTTP {status}" + (f": {message}" if message else "")
    if status in RETRYABLE_STATUSES:
        return RetryableError(text, retry_after=retry_after_header(headers))
    return PermanentError(text)


def _status_message(body: bytes, content_type: str) -> str:
    """The ``google.rpc.Status`` message a server put in an error body, best effort."""
    try:
        if "json" in content_type:
            return str(otlpjson.decode_response(status_pb2.Status, body).message)
        st = status_pb2.Status()
        st.ParseFromString(body)
        return str(st.message)
    except Exception:
        return body[:200].decode("utf-8", "replace")


class OtlpHttpExporter:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._config = config
        self._log = settings.logger
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        ssl_ctx = self._config.tls.ssl_context() if any(
            u.startswith("https://") for s in Signal if (u := self._config.url_for(s))) else None
        connector = aiohttp.TCPConnector(ssl=ssl_ctx if ssl_ctx is not None else True, limit=64)
        self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _encode(self, batch: Batch) -> tuple[bytes, dict[str, str]]:
        if self._config.encoding == "json":
            body, ctype = otlpjson.encode(batch), "application/json"
        else:
            body, ctype = batch.to_bytes(), "application/x-protobuf"
        headers = {**self._config.headers, "Content-Type": ctype}
        if self._config.compression == "gzip":
            body = bytes(cramjam.gzip.compress(body, level=1))  # about twice as fast as the stdlib's zlib
            headers["Content-Encoding"] = "gzip"
        return body, headers

    async def export(self, batch: Batch) -> None:
        if self._session is None:
            raise RuntimeError("otlphttp exporter is not started")
        # encoding and gzip are CPU work on up to megabytes: off the event loop, so receivers keep answering
        body, headers = await asyncio.to_thread(self._encode, batch)
        try:
            async with self._session.post(self._config.url_for(batch.signal), data=body, headers=headers) as resp:
                payload = await resp.read()
                status, resp_headers, ctype = resp.status, resp.headers, resp.content_type
        except (aiohttp.ClientError, OSError) as exc:
            raise RetryableError(f"cannot reach {self._config.url_for(batch.signal)}: {exc}") from exc
        error = classify(status, resp_headers, "" if status < 300 else _status_message(payload, ctype))
        if error is not None:
            raise error
        self._log_partial_success(batch.signal, payload, ctype)

    def _log_partial_success(self, signal: Signal, payload: bytes, content_type: str) -> None:
        if not payload:
            return
        try:
            if "json" in content_type:
                response = otlpjson.decode_response(_RESPONSES[signal], payload)
            else:
                response = _RESPONSES[signal]()
                response.ParseFromString(payload)
        except Exception:
            return
        if response.HasField("partial_success"):
            ps = response.partial_success
            rejected = next((getattr(ps, f) for f in ("rejected_spans", "rejected_data_points",
                                                      "rejected_log_records") if hasattr(ps, f)), 0)
            if rejected or ps.error_message:
                self._log.warning("export_partial_success", signal=signal.value, rejected_items=rejected,
                                  error=ps.error_message)


def disabled_reason(config: Config) -> str | None:
    """An empty endpoint and no per-signal endpoint switches the exporter off."""
    if config.endpoint or config.traces_endpoint or config.metrics_endpoint or config.logs_endpoint:
        return None
    return "endpoint is empty"


def create(settings: CreateSettings, config: Config) -> OtlpHttpExporter:
    return OtlpHttpExporter(settings, config)
