"""A local stand-in for Sentry's envelope endpoint (``POST /api/<project_id>/envelope/``).

It checks what Sentry checks first (path, ``X-Sentry-Auth`` key, content encoding), parses every envelope
with sentry-sdk's own `Envelope`, and keeps what arrived. Answers can be scripted (429 with
``X-Sentry-Rate-Limits``, 5xx, ...), and the server can be stopped and started again on the same port to
play an outage. Like Sentry, `events()` counts an event id once however often it arrives.

    with SentryReceiver() as sentry:
        ... send to sentry.dsn ...
        [event] = sentry.wait_for_events(1)
"""

from __future__ import annotations

import gzip
import json
import re
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sentry_relay.processing import StoreNormalizer
from sentry_sdk.envelope import Envelope

from tests.servers._http import LocalHTTPServer

__all__ = ["Received", "SentryReceiver", "check_event", "relay_errors"]


@dataclass(slots=True)
class Received:
    """One request that reached the endpoint and was accepted."""

    path: str
    headers: dict[str, str]
    envelope: Envelope


@dataclass(slots=True)
class _Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_LEVELS = {"debug", "info", "warning", "error", "fatal"}
# https://develop.sentry.dev/sdk/data-model/event-payloads/#required-attributes
_PLATFORMS = {"as3", "c", "cfml", "cocoa", "csharp", "elixir", "haskell", "go", "groovy", "java", "javascript",
              "native", "node", "objc", "other", "perl", "php", "python", "ruby"}


_NORMALIZER = StoreNormalizer(project_id=4242)


def relay_errors(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The errors Relay's own store normalization (the `sentry-relay` package: Sentry's ingest code) records
    on an event: an empty list when Sentry would take it as it is."""
    normalized = _NORMALIZER.normalize_event(dict(event))
    return list(normalized.get("errors") or [])


def check_event(event: dict[str, Any], item_type: str) -> str | None:
    """What Sentry's ingestion would object to in an event or transaction payload, or None: the event
    protocol's required attributes, then Relay's own normalization."""
    if not _HEX32.match(str(event.get("event_id", ""))):
        return "event_id must be 32 lower-case hex digits"
    if not isinstance(event.get("timestamp"), int | float):
        return "timestamp must be a number of seconds"
    if event.get("platform", "other") not in _PLATFORMS:
        return f"unknown platform {event.get('platform')!r}"
    if "level" in event and event["level"] not in _LEVELS:
        return f"unknown level {event['level']!r}"
    for key, value in (event.get("tags") or {}).items():
        if not isinstance(value, str) or len(value) > 200 or "\n" in value or len(key) > 200:
            return f"tag {key!r}: values are strings of at most 200 characters, without newlines"
    trace = (event.get("contexts") or {}).get("trace")
    if trace is not None and not (_HEX32.match(trace.get("trace_id", "")) and _HEX16.match(trace.get("span_id", ""))):
        return "contexts.trace needs a 32-hex trace_id and a 16-hex span_id"
    for value in (event.get("exception") or {}).get("values", []):
        if not (value.get("type") or value.get("value")):
            return "an exception value needs a type or a value"
        frames = (value.get("stacktrace") or {}).get("frames")
        if frames is not None and (not isinstance(frames, list) or not frames):
            return "a stacktrace needs at least one frame"
    if item_type == "transaction":
        if trace is None:
            return "a transaction needs contexts.trace"
        if not isinstance(event.get("start_timestamp"), int | float) or event["start_timestamp"] > event["timestamp"]:
            return "a transaction needs a start_timestamp before its timestamp"
        if not event.get("transaction"):
            return "a transaction needs a name"
    errors = relay_errors(event)
    if errors:
        return f"Relay's normalization found errors: {errors}"
    return None


def _auth_params(header: str) -> dict[str, str]:
    scheme, _, rest = header.partition(" ")
    if scheme != "Sentry":
        return {}
    params = {}
    for part in rest.split(","):
        key, _, value = part.strip().partition("=")
        params[key] = value
    return params


class SentryReceiver(LocalHTTPServer):
    thread_name = "sentry-receiver"
    methods = ("POST",)

    def __init__(self, *, project_id: str = "4242", public_key: str = "0123456789abcdef", port: int = 0) -> None:
        super().__init__(port=port)
        self.project_id = project_id
        self.public_key = public_key
        self.latency = 0.0  # seconds each answer takes, to play a distant Sentry
        self.received: list[Received] = []
        self.rejected: list[tuple[int, str]] = []  # (status, reason) of every request answered with an error
        self._script: deque[_Answer] = deque()

    # -- lifecycle ------------------------------------------------------------------------------------

    @property
    def dsn(self) -> str:
        return f"http://{self.public_key}@127.0.0.1:{self.port}/{self.project_id}"

    # -- scripting ------------------------------------------------------------------------------------

    def answer(self, status: int, headers: dict[str, str] | None = None, *, times: int = 1) -> None:
        """Answer the next `times` well-formed requests with `status` (and drop what they carry)."""
        with self._lock:
            self._script.extend(_Answer(status, dict(headers or {})) for _ in range(times))

    # -- what arrived ---------------------------------------------------------------------------------

    def items(self, item_type: str) -> list[dict[str, Any]]:
        """Payloads of the given item type, deduplicated by event id like Sentry does, in arrival order."""
        seen: dict[str, dict[str, Any]] = {}
        with self._lock:
            received = list(self.received)
        for request in received:
            for item in request.envelope.items:
                if item.type == item_type and item.payload.json is not None:
                    seen.setdefault(item.payload.json["event_id"], item.payload.json)
        return list(seen.values())

    def events(self) -> list[dict[str, Any]]:
        return self.items("event")

    def transactions(self) -> list[dict[str, Any]]:
        return self.items("transaction")

    def wait_for(self, item_type: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """At least `count` distinct items of `item_type`; fails with what did arrive after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = self.items(item_type)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} {item_type} item(s) at the Sentry receiver within {timeout}s, got "
                        f"{len(found)}; rejected requests: {self.rejected}"
                    )
                self._lock.wait(remaining)

    def wait_for_events(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        return self.wait_for("event", count, timeout)

    # -- the endpoint ---------------------------------------------------------------------------------

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[
            int, dict[str, str], bytes]:
        status, extra, payload = self._handle(target, headers, body)
        if self.latency:
            time.sleep(self.latency)
        return status, {**extra, "Content-Type": "application/json"}, payload

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        def refuse(status: int, reason: str) -> tuple[int, dict[str, str], bytes]:
            with self._lock:
                self.rejected.append((status, reason))
            return status, {}, json.dumps({"detail": reason}).encode()

        if path != f"/api/{self.project_id}/envelope/":
            return refuse(404, f"no such endpoint {path}")
        auth = _auth_params(headers.get("x-sentry-auth", ""))
        if auth.get("sentry_key") != self.public_key:
            return refuse(401, "invalid or missing sentry_key in X-Sentry-Auth")
        encoding = headers.get("content-encoding", "")
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding:
                return refuse(415, f"unsupported content encoding {encoding}")
            envelope = Envelope.deserialize(body)
            for item in envelope.items:
                if item.type in ("event", "transaction"):
                    event = json.loads(item.get_bytes())
                    problem = check_event(event, item.type) if isinstance(event, dict) else "not a JSON object"
                    if problem is not None:
                        return refuse(400, f"invalid {item.type}: {problem}")
                    if envelope.headers.get("event_id", event["event_id"]) != event["event_id"]:
                        return refuse(400, "the envelope's event_id differs from its event's")
        except (OSError, ValueError, zlib.error) as exc:
            return refuse(400, f"invalid envelope: {exc}")
        with self._lock:
            scripted = self._script.popleft() if self._script else None
            if scripted is not None and scripted.status >= 300:
                self.rejected.append((scripted.status, "scripted"))
                return scripted.status, scripted.headers, b'{"detail":"scripted"}'
            self.received.append(Received(path, headers, envelope))
            self._lock.notify_all()
        answer_headers = scripted.headers if scripted is not None else {}
        return 200, answer_headers, json.dumps({"id": envelope.headers.get("event_id")}).encode()
