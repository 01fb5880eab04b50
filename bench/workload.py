"""Realistic OTLP requests for the collector benchmarks: spans and logs shaped like the demo app's.

Spans: FastAPI server spans with 8 attributes (method, route, path with an id, status, user agent, request id,
server address, scheme); one span in eight also carries an e-mail attribute and a SQL text with a phone number
(9-10 attributes). Logs: 200-byte bodies, severity, trace context and 3 attributes; one in eight has an e-mail
in its body. Ids, paths and request ids differ on every request, as they do in production.
"""

from __future__ import annotations

import random

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["count_items", "log_request", "span_request"]

_ROUTES = [
    ("POST", "/api/chat/messages", "/api/chat/messages"),
    ("GET", "/api/users/{user_id}", "/api/users/{n}"),
    ("POST", "/api/images/generate", "/api/images/generate"),
    ("GET", "/api/chat/conversations/{conversation_id}", "/api/chat/conversations/{n}"),
    ("POST", "/api/auth/login", "/api/auth/login"),
    ("GET", "/health", "/health"),
]
_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "python-httpx/0.27.0",
]
_RESOURCE = {
    "service.name": "demo-api", "service.version": "1.4.2", "deployment.environment": "production",
    "host.name": "api-7f9c4d-x2k8p", "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.version": "1.28.0",
}


def _resource(target: object) -> None:
    for key, value in _RESOURCE.items():
        target.resource.attributes.add(key=key).value.string_value = value  # type: ignore[attr-defined]


def span_request(spans: int, seed: int = 0) -> bytes:
    """One OTLP/HTTP protobuf body of ``spans`` server spans."""
    rnd = random.Random(seed)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    _resource(rs)
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.fastapi"
    ss.scope.version = "0.49b0"
    for i in range(spans):
        method, route, path = _ROUTES[i % len(_ROUTES)]
        start = 1_700_000_000_000_000_000 + seed * 1_000_000_000 + i * 1000
        span = ss.spans.add(name=f"{method} {route}", kind=2, trace_id=rnd.randbytes(16), span_id=rnd.randbytes(8),
                            parent_span_id=rnd.randbytes(8), start_time_unix_nano=start,
                            end_time_unix_nano=start + rnd.randrange(1_000_000, 90_000_000))
        attrs = span.attributes
        attrs.add(key="http.request.method").value.string_value = method
        attrs.add(key="http.route").value.string_value = route
        attrs.add(key="url.path").value.string_value = path.format(n=rnd.randrange(1, 100_000))
        attrs.add(key="url.scheme").value.string_value = "https"
        attrs.add(key="http.response.status_code").value.int_value = 200 if i % 17 else 500
        attrs.add(key="user_agent.original").value.string_value = _AGENTS[i % len(_AGENTS)]
        attrs.add(key="request_id").value.string_value = rnd.randbytes(16).hex()
        attrs.add(key="server.address").value.string_value = "api.example.com"
        if i % 8 == 0:
            attrs.add(key="enduser.email").value.string_value = f"user{rnd.randrange(10_000)}@example.org"
            attrs.add(key="db.statement").value.string_value = (
                "SELECT id, name FROM customers WHERE phone = '+90 532 "
                f"{rnd.randrange(100, 999)} {rnd.randrange(10, 99)} {rnd.randrange(10, 99)}' LIMIT 1")
        span.status.code = 2 if i % 17 == 0 else 0
    return req.SerializeToString()


_WORDS = ["request", "handled", "chat", "message", "stored", "for", "conversation", "image", "generation",
          "queued", "user", "session", "refreshed", "cache", "miss", "upstream", "latency", "retry", "scheduled",
          "payload", "validated"]


def log_request(records: int, seed: int = 0) -> bytes:
    """One OTLP/HTTP protobuf body of ``records`` log records with 200-byte bodies."""
    rnd = random.Random(seed)
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    _resource(rl)
    sl = rl.scope_logs.add()
    sl.scope.name = "demo_api.routes"
    for i in range(records):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < 200:
            words.append(rnd.choice(_WORDS))
        body = " ".join(words)
        if i % 8 == 0:
            body = f"password reset mail sent to user{rnd.randrange(10_000)}@example.org " + body
        body = body[:200]
        ts = 1_700_000_000_000_000_000 + seed * 1_000_000_000 + i * 1000
        record = sl.log_records.add(time_unix_nano=ts, observed_time_unix_nano=ts + 1000, severity_number=9,
                                    severity_text="INFO", trace_id=rnd.randbytes(16), span_id=rnd.randbytes(8),
                                    flags=1)
        record.body.string_value = body
        record.attributes.add(key="logger").value.string_value = "demo_api.routes"
        record.attributes.add(key="code.function").value.string_value = "create_message"
        record.attributes.add(key="request_id").value.string_value = rnd.randbytes(16).hex()
    return req.SerializeToString()


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    # The bench's own wire reader, deliberately not the collector's (`_pii_wire`): the sink that checks what the
    # collector exported must not share code with what it checks.
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _len_fields(buf: bytes, start: int, end: int, number: int) -> list[tuple[int, int]]:
    """Where the length-delimited fields numbered ``number`` lie in ``buf[start:end]`` (a protobuf message):
    (start, end) pairs; fields of other numbers and wire types are skipped."""
    found: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if key >> 3 == number:
                found.append((pos, pos + size))
            pos += size
        else:
            raise ValueError(f"protobuf wire type {wire} at byte {pos} is not one OTLP uses")
    if pos != end:
        raise ValueError(f"protobuf message ends at byte {pos}, past its length ({end})")
    return found


def count_items(body: bytes) -> int:
    """Spans in an OTLP ExportTraceServiceRequest, or log records in an ExportLogsServiceRequest (protobuf bytes),
    counted from the wire format without decoding them: both are field 1 (resource_*) -> field 2 (scope_*) ->
    field 2 (spans / log_records). Cheap enough for a benchmark's sink to count what it receives."""
    count = 0
    for rs_start, rs_end in _len_fields(body, 0, len(body), 1):
        for ss_start, ss_end in _len_fields(body, rs_start, rs_end, 2):
            count += len(_len_fields(body, ss_start, ss_end, 2))
    return count
