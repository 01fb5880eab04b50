"""A minimal OTLP/HTTP receiver that keeps what it is sent: for the demo without a collector, tests and benches.

It answers ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs`` (protobuf or JSON, optionally gzip) with an
empty success response and keeps the decoded export requests. It is not the collector: no pipeline, no
retries, no limits beyond a maximum body size.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

__all__ = ["OtlpHttpSink"]

_MAX_BODY = 32 * 1024 * 1024
_SIGNALS: dict[str, tuple[str, type[Message], type[Message]]] = {
    "/v1/traces": ("traces", ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": ("metrics", ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/logs": ("logs", ExportLogsServiceRequest, ExportLogsServiceResponse),
}


class OtlpHttpSink:
    """Start with `start` (or as a context manager); read `requests` or wait with `wait_for`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, keep: bool = True, decode: bool = True) -> None:
        """``keep``: keep decoded requests in `requests`; ``decode=False``: only count requests and bytes
        (a receiver whose CPU is not this machine's concern, as a remote collector's is not)."""
        self.requests: dict[str, list[Any]] = {"traces": [], "metrics": [], "logs": []}
        self.counts: dict[str, int] = {"traces": 0, "metrics": 0, "logs": 0}
        self.received_bytes = 0
        self._keep = keep
        self._decode = decode
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpHttpSink:
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> OtlpHttpSink:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_for(self, predicate: Callable[[OtlpHttpSink], bool], timeout: float = 20.0) -> bool:
        """Block until ``predicate(self)`` holds (re-checked on every arrival) or ``timeout`` passes."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    def _record(self, signal: str, request: Any) -> None:
        with self._changed:
            self.counts[signal] += _items(signal, request)
            if self._keep:
                self.requests[signal].append(request)
            self._changed.notify_all()

    def _count_bytes(self, signal: str, size: int) -> None:
        with self._changed:
            self.counts[signal] += 1  # requests, not items, when not decoding
            self.received_bytes += size
            self._changed.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as a collector's receiver does (every response carries its Content-Length).
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                route = _SIGNALS.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_error(404)
                    return
                signal, request_type, response_type = route
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY:
                    self.send_error(413)
                    return
                body = self.rfile.read(length)
                if not sink._decode:
                    sink._count_bytes(signal, len(body))
                    self._respond(b"", "application/x-protobuf")
                    return
                try:
                    if self.headers.get("Content-Encoding", "").lower() == "gzip":
                        body = gzip.decompress(body)
                    request = request_type()
                    is_json = "json" in self.headers.get("Content-Type", "")
                    if is_json:
                        json_format.Parse(body, request)
                    else:
                        request.ParseFromString(body)
                except (DecodeError, json_format.ParseError, OSError, ValueError):
                    self.send_error(400)
                    return
                sink._record(signal, request)
                if is_json:
                    self._respond(json_format.MessageToJson(response_type()).encode(), "application/json")
                else:
                    self._respond(response_type().SerializeToString(), "application/x-protobuf")

            def _respond(self, payload: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


def _items(signal: str, request: Any) -> int:
    if signal == "traces":
        return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    if signal == "logs":
        return sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
    return sum(len(s.metrics) for r in request.resource_metrics for s in r.scope_metrics)
