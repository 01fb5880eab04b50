"""What the OTLP servers share: limits on bodies, the answer to an export, auth, partial success."""

from __future__ import annotations

import asyncio
import hmac
import zlib
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector import otlpjson
from collector.component import OFF_LOOP_BYTES
from collector.pdata import Batch, Signal

__all__ = [
    "RESPONSE_TYPES",
    "BodyTooLarge",
    "UnsupportedEncoding",
    "bearer_ok",
    "decode",
    "decompress",
    "make_response",
    "reject_invalid_spans",
]

RESPONSE_TYPES: dict[Signal, type[ExportTraceServiceResponse | ExportMetricsServiceResponse |
                                  ExportLogsServiceResponse]] = {
    Signal.TRACES: ExportTraceServiceResponse,
    Signal.METRICS: ExportMetricsServiceResponse,
    Signal.LOGS: ExportLogsServiceResponse,
}


class BodyTooLarge(Exception):
    pass


class UnsupportedEncoding(Exception):
    pass


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Inflate ``body`` (``Content-Encoding``), never producing more than ``limit`` bytes in memory."""
    encoding = encoding.strip().lower()
    if encoding in {"", "identity"}:
        return body
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise UnsupportedEncoding(f"unsupported Content-Encoding {encoding!r} (supported: gzip, deflate)")
    parts: list[bytes] = []
    size = 0
    rest = body
    while True:  # gzip allows several members one after another (RFC 1952): inflate every one
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            raise ValueError(f"invalid {encoding} body: {exc}") from None
        size += len(out)
        if size > limit or inflater.unconsumed_tail:
            raise BodyTooLarge(f"decompressed body exceeds {limit} bytes")
        if not inflater.eof:
            raise ValueError(f"truncated {encoding} body")
        parts.append(out)
        rest = inflater.unused_data
        if not rest or wbits == zlib.MAX_WBITS:
            break
    if rest:
        raise ValueError(f"unexpected data after the {encoding} body")
    return b"".join(parts)


def bearer_ok(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


def _bad_ids(span: Any) -> bool:
    trace_id, span_id = span.trace_id, span.span_id
    return len(trace_id) != 16 or len(span_id) != 8 or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN


def reject_invalid_spans(batch: Batch) -> tuple[int, str]:
    """Remove spans whose trace or span id is not valid (wrong length or all zero), as the OTLP spec allows a
    receiver to reject part of a request. Returns (rejected count, message)."""
    if batch.signal is not Signal.TRACES:
        return 0, ""
    bad = _bad_ids
    if not any(bad(s) for rs in batch.view.resource_spans for ss in rs.scope_spans  # type: ignore[union-attr]
               for s in ss.spans):
        return 0, ""  # the common case: read only, the batch keeps the bytes it came in as
    rejected = 0
    resources = batch.resources
    for rs in resources:
        for ss in rs.scope_spans:
            spans = ss.spans
            wrong = [i for i, s in enumerate(spans) if bad(s)]
            for i in reversed(wrong):
                del spans[i]
            rejected += len(wrong)
    if not rejected:
        return 0, ""
    for r in reversed(range(len(resources))):  # drop what the rejection emptied
        scopes = resources[r].scope_spans
        for s in reversed(range(len(scopes))):
            if not scopes[s].spans:
                del scopes[s]
        if not scopes:
            del resources[r]
    return rejected, f"{rejected} span(s) rejected: trace_id must be 16 bytes and span_id 8 bytes, not all zero"


def make_response(signal: Signal, rejected: int = 0, message: str = "") -> (
        ExportTraceServiceResponse | ExportMetricsServiceResponse | ExportLogsServiceResponse):
    response = RESPONSE_TYPES[signal]()
    if rejected:
        ps = response.partial_success
        if isinstance(response, ExportTraceServiceResponse):
            response.partial_success.rejected_spans = rejected
        elif isinstance(response, ExportMetricsServiceResponse):
            response.partial_success.rejected_data_points = rejected
        else:
            response.partial_success.rejected_log_records = rejected
        ps.error_message = message
    return response



def _decode(signal: Signal, body: bytes, json: bool) -> tuple[Batch, int, str]:
    batch = otlpjson.decode(signal, body) if json else Batch.from_bytes(signal, body)
    rejected, message = reject_invalid_spans(batch)
    return batch, rejected, message


async def decode(signal: Signal, body: bytes, *, json: bool = False) -> tuple[Batch, int, str]:
    """Decode an export request (OTLP/JSON or protobuf) and drop its invalid spans: (batch, rejected count,
    message). Above `OFF_LOOP_BYTES` in a worker thread, so that the event loop serves other requests meanwhile;
    small ones inline (a thread hop costs more than their decode). Raises what the decoders raise."""
    if len(body) > OFF_LOOP_BYTES:
        return await asyncio.to_thread(_decode, signal, body, json)
    return _decode(signal, body, json)
