"""OTLP batches -> Sentry events: error events from log records and `exception` span events, and
(optionally) transactions from local root spans.

Every event keeps the position of the record it came from, so that the exporter can hand back exactly the
records whose events still have to be sent. Event ids are derived from the record, so an event sent twice
(a retry after a partial failure) is deduplicated by Sentry.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from collector.exporters.sentry._config import Config
from collector.exporters.sentry._stacktrace import parse_stacktrace
from collector.pdata import Batch, Signal

__all__ = ["MAX_STRING", "EventBuilder", "Pseudonymizer", "SentryItem", "any_value", "event_id"]

MAX_STRING = 8192
"""Longest string value kept in an event's message and attribute contexts (Sentry trims messages to this)."""

def _version() -> str:
    try:
        return importlib.metadata.version("otel-distro")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


SDK_INFO = {"name": "otel-distro.collector", "version": _version()}

_EXC_TYPE = "exception.type"
_EXC_MESSAGE = "exception.message"
_EXC_STACKTRACE = "exception.stacktrace"
_EXC_ESCAPED = "exception.escaped"
_EXC_KEYS = frozenset({_EXC_TYPE, _EXC_MESSAGE, _EXC_STACKTRACE, _EXC_ESCAPED})
_USER_KEYS = ("enduser.id", "user.id")
_PARENT_IS_REMOTE = 0x300  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_TAG_LIMIT = 200
_PSEUDONYM = re.compile(r"^\[(?:[a-z_]+:[0-9a-f]{16}|REDACTED:[a-z_]+)\]$")
_STATUS_ERROR = 2
_SPAN_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}

# https://opentelemetry.io/docs/specs/semconv/resource/#telemetry-sdk -> Sentry's `platform` values
_PLATFORMS = {
    "python": "python",
    "go": "go",
    "java": "java",
    "nodejs": "node",
    "webjs": "javascript",
    "dotnet": "csharp",
    "ruby": "ruby",
    "php": "php",
    "erlang": "elixir",
    "rust": "native",
    "cpp": "native",
    "swift": "cocoa",
}

# HTTP status -> Sentry span status (https://develop.sentry.dev/sdk/data-model/event-payloads/span/)
_HTTP_STATUS = {
    400: "invalid_argument",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    409: "already_exists",
    413: "failed_precondition",
    429: "resource_exhausted",
    499: "cancelled",
    500: "internal_error",
    501: "unimplemented",
    503: "unavailable",
    504: "deadline_exceeded",
}


class Pseudonymizer(Protocol):
    """What the PII engine offers (`otel_distro.scrubbing.Scrubber`): a stable keyed pseudonym."""

    def pseudonymize(self, kind: str, value: str) -> str: ...


Source = tuple[int, int, int]
"""Where an event came from: (resource, scope, record or span) index in its batch."""


@dataclass(slots=True)
class SentryItem:
    """One event or transaction, ready for an envelope."""

    event: dict[str, Any]
    item_type: str  # "event" or "transaction"
    source: Source
    also: tuple[Source, ...] = ()  # a transaction's child spans: sent again with it if it must be retried

    @property
    def sources(self) -> tuple[Source, ...]:
        return (self.source, *self.also)

    @property
    def event_id(self) -> str:
        return str(self.event["event_id"])

    @property
    def category(self) -> str:
        """Sentry's rate-limit data category of the item."""
        return "transaction" if self.item_type == "transaction" else "error"


def any_value(value: Any) -> Any:
    """An OTLP `AnyValue` as a plain JSON value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _clip(value: Any) -> Any:
    """Long strings shortened, so that one huge attribute cannot make Sentry refuse the whole event (413)."""
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[: MAX_STRING - 1] + "…"
    if isinstance(value, list):
        return [_clip(v) for v in value]
    if isinstance(value, dict):
        return {k: _clip(v) for k, v in value.items()}
    return value


def event_id(*parts: object) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part if isinstance(part, bytes) else str(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _seconds(unix_nano: int) -> float:
    return unix_nano / 1e9 if unix_nano else time.time()


def _level(severity_number: int, severity_text: str) -> str:
    if severity_number == 0:
        text = severity_text.strip().lower()
        return {"warn": "warning", "critical": "fatal", "trace": "debug"}.get(text, text or "error")
    if severity_number >= 21:
        return "fatal"
    if severity_number >= 17:
        return "error"
    if severity_number >= 13:
        return "warning"
    if severity_number >= 9:
        return "info"
    return "debug"


def _severity_number_of(severity_text: str) -> int:
    text = severity_text.strip().lower()
    for name, number in (("fatal", 21), ("critical", 21), ("error", 17), ("warn", 13), ("info", 9), ("debug", 5)):
        if text.startswith(name):
            return number
    return 0


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


@dataclass(slots=True)
class _ResourceInfo:
    attributes: dict[str, Any]
    base: dict[str, Any] = field(default_factory=dict)  # fields shared by every event of this resource


class EventBuilder:
    """Turns a batch into the Sentry items it yields. Settings are fixed at construction."""

    def __init__(self, config: Config, pseudonymizer: Pseudonymizer | None = None) -> None:
        self._config = config
        self._min_severity = config.min_severity_number
        self._tag_keys = list(config.tag_attributes)
        self._pseudonymizer = pseudonymizer

    def __call__(self, batch: Batch) -> list[SentryItem]:
        if batch.signal is Signal.LOGS:
            return list(self._from_logs(batch))
        if batch.signal is Signal.TRACES:
            return list(self._from_traces(batch))
        return []

    # -- logs ------------------------------------------------------------------------------------------

    def _from_logs(self, batch: Batch) -> Iterator[SentryItem]:
        for ri, resource_logs in enumerate(batch.resources):
            resource: _ResourceInfo | None = None
            for si, scope_logs in enumerate(resource_logs.scope_logs):
                for ki, record in enumerate(scope_logs.log_records):
                    number = record.severity_number or _severity_number_of(record.severity_text)
                    if number < self._min_severity:
                        continue
                    if resource is None:
                        resource = self._resource(resource_logs.resource)
                    yield SentryItem(self._log_event(resource, scope_logs.scope, record), "event", (ri, si, ki))

    def _log_event(self, resource: _ResourceInfo, scope: Any, record: Any) -> dict[str, Any]:
        attrs = attributes(record.attributes)
        event = self._base(
            resource,
            attrs,
            event_id=event_id(
                "log",
                record.SerializeToString(deterministic=True),
                resource.attributes.get("service.name"),
                resource.attributes.get("service.instance.id"),
            ),
            timestamp=_seconds(record.time_unix_nano or record.observed_time_unix_nano),
            level=_level(record.severity_number, record.severity_text),
        )
        body = any_value(record.body) if record.HasField("body") else None
        if body not in (None, ""):
            event["logentry"] = {"formatted": _clip(_text(body))}
        logger = attrs.get("logger.name") or attrs.get("logger") or scope.name
        if logger:
            event["logger"] = str(logger)
        if _EXC_TYPE in attrs or _EXC_STACKTRACE in attrs:
            event["exception"] = {"values": self._exception(attrs, mechanism="otel.log", handled=True)}
        if record.trace_id.strip(b"\x00") and record.span_id.strip(b"\x00"):
            event["contexts"]["trace"] = {"trace_id": record.trace_id.hex(), "span_id": record.span_id.hex()}
        event["contexts"]["otel"]["scope"] = {"name": scope.name, "version": scope.version}
        return event

    # -- traces ----------------------------------------------------------------------------------------

    def _from_traces(self, batch: Batch) -> Iterator[SentryItem]:
        want_exceptions = self._config.exception_span_events
        want_transactions = self._config.transactions
        for ri, resource_spans in enumerate(batch.resources):
            resource: _ResourceInfo | None = None
            children: dict[bytes, list[tuple[Source, Any]]] = defaultdict(list)
            if want_transactions:
                for si, scope_spans in enumerate(resource_spans.scope_spans):
                    for ki, span in enumerate(scope_spans.spans):
                        if span.parent_span_id:
                            children[span.parent_span_id].append(((ri, si, ki), span))
            for si, scope_spans in enumerate(resource_spans.scope_spans):
                for ki, span in enumerate(scope_spans.spans):
                    if want_exceptions:
                        for ei, span_event in enumerate(span.events):
                            if span_event.name != "exception":
                                continue
                            if resource is None:
                                resource = self._resource(resource_spans.resource)
                            event = self._span_exception(resource, span, ei, span_event)
                            yield SentryItem(event, "event", (ri, si, ki))
                    if want_transactions and _is_local_root(span):
                        if resource is None:
                            resource = self._resource(resource_spans.resource)
                        descendants = _descendants(span, children)
                        event = self._transaction(resource, span, [child for _, child in descendants])
                        also = tuple(source for source, _ in descendants)
                        yield SentryItem(event, "transaction", (ri, si, ki), also)

    def _span_exception(self, resource: _ResourceInfo, span: Any, index: int, span_event: Any) -> dict[str, Any]:
        span_attrs = attributes(span.attributes)
        exc_attrs = attributes(span_event.attributes)
        merged = {**span_attrs, **exc_attrs}
        escaped = str(exc_attrs.get(_EXC_ESCAPED, "")).lower() == "true"
        event = self._base(
            resource,
            merged,
            event_id=event_id("span_event", span.trace_id, span.span_id, index, span_event.time_unix_nano),
            timestamp=_seconds(span_event.time_unix_nano or span.end_time_unix_nano),
            level="error",
        )
        event["transaction"] = span.name
        event["exception"] = {"values": self._exception(exc_attrs, mechanism="otel.span_event", handled=not escaped)}
        event["contexts"]["trace"] = self._trace_context(span, span_attrs)
        request = _request(span_attrs)
        if request:
            event["request"] = request
        return event

    def _transaction(self, resource: _ResourceInfo, root: Any, descendants: list[Any]) -> dict[str, Any]:
        attrs = attributes(root.attributes)
        event = self._base(
            resource,
            attrs,
            event_id=event_id("transaction", root.trace_id, root.span_id),
            timestamp=_seconds(root.end_time_unix_nano),
            level="info",
        )
        event["type"] = "transaction"
        event["transaction"] = root.name
        event["transaction_info"] = {"source": "route" if "http.route" in attrs else "custom"}
        event["start_timestamp"] = _seconds(root.start_time_unix_nano)
        trace = self._trace_context(root, attrs)
        trace["data"] = {k: _clip(v) for k, v in attrs.items() if k not in _USER_KEYS}
        event["contexts"]["trace"] = trace
        event["spans"] = [self._child_span(span) for span in descendants]
        request = _request(attrs)
        if request:
            event["request"] = request
        return event

    def _child_span(self, span: Any) -> dict[str, Any]:
        attrs = attributes(span.attributes)
        return {
            "trace_id": span.trace_id.hex(),
            "span_id": span.span_id.hex(),
            "parent_span_id": span.parent_span_id.hex(),
            "op": _op(span, attrs),
            "description": span.name,
            "start_timestamp": _seconds(span.start_time_unix_nano),
            "timestamp": _seconds(span.end_time_unix_nano),
            "status": _status(span, attrs),
            "data": {k: _clip(v) for k, v in attrs.items() if k not in _USER_KEYS},
        }

    def _trace_context(self, span: Any, attrs: Mapping[str, Any]) -> dict[str, Any]:
        trace = {
            "trace_id": span.trace_id.hex(),
            "span_id": span.span_id.hex(),
            "op": _op(span, attrs),
            "status": _status(span, attrs),
        }
        if span.parent_span_id:
            trace["parent_span_id"] = span.parent_span_id.hex()
        return trace

    # -- shared ----------------------------------------------------------------------------------------

    def _resource(self, resource: Any) -> _ResourceInfo:
        attrs = attributes(resource.attributes)
        base: dict[str, Any] = {"platform": _PLATFORMS.get(str(attrs.get("telemetry.sdk.language", "")), "other")}
        release = attrs.get("service.version")
        if release:
            base["release"] = str(release)
        environment = attrs.get("deployment.environment.name") or attrs.get("deployment.environment")
        environment = environment or self._config.environment
        if environment:
            base["environment"] = str(environment)
        if attrs.get("host.name"):
            base["server_name"] = str(attrs["host.name"])
        return _ResourceInfo(attrs, base)

    def _base(
        self, resource: _ResourceInfo, attrs: Mapping[str, Any], *, event_id: str, timestamp: float, level: str
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": event_id,
            "timestamp": timestamp,
            "level": level,
            **resource.base,
            "sdk": SDK_INFO,
        }
        user_id = next((attrs[k] for k in _USER_KEYS if attrs.get(k) not in (None, "")), None)
        if user_id is not None:
            event["user"] = {"id": self._user_id(str(user_id))}
        tags: dict[str, str] = {}
        for key in self._tag_keys:
            value = attrs.get(key, resource.attributes.get(key))
            if value is None or value == "":
                continue
            text = _text(value)
            if key in _USER_KEYS:
                text = self._user_id(text)
            tags[key] = text.replace("\n", " ")[:_TAG_LIMIT]
        if tags:
            event["tags"] = tags
        event["contexts"] = {
            "otel": {
                "attributes": {k: _clip(v) for k, v in attrs.items() if k not in _EXC_KEYS and k not in _USER_KEYS},
                "resource": resource.attributes,
            }
        }
        return event

    def _user_id(self, value: str) -> str:
        if self._pseudonymizer is None or _PSEUDONYM.match(value):
            return value  # no key, or already replaced upstream (the `pii` processor)
        return self._pseudonymizer.pseudonymize("user", value)

    def _exception(self, attrs: Mapping[str, Any], *, mechanism: str, handled: bool) -> list[dict[str, Any]]:
        values = parse_stacktrace(
            str(attrs.get(_EXC_STACKTRACE) or ""),
            exc_type=str(attrs.get(_EXC_TYPE) or ""),
            exc_value=str(attrs.get(_EXC_MESSAGE) or ""),
        )
        values[-1]["mechanism"] = {"type": mechanism, "handled": handled}
        return values


def _is_local_root(span: Any) -> bool:
    return not span.parent_span_id or span.flags & _PARENT_IS_REMOTE == _PARENT_IS_REMOTE


def _descendants(root: Any, children: Mapping[bytes, list[tuple[Source, Any]]]) -> list[tuple[Source, Any]]:
    """The spans under `root` in this batch, down to the next local root, by start time."""
    out: list[tuple[Source, Any]] = []
    stack = list(children.get(root.span_id, ()))
    while stack:
        source, span = stack.pop()
        if span.trace_id != root.trace_id or _is_local_root(span):
            continue
        out.append((source, span))
        stack.extend(children.get(span.span_id, ()))
    out.sort(key=lambda entry: entry[1].start_time_unix_nano)
    return out


def _op(span: Any, attrs: Mapping[str, Any]) -> str:
    kind = _SPAN_KINDS.get(span.kind, "internal")
    if "http.request.method" in attrs or "http.method" in attrs:
        if kind == "server":
            return "http.server"
        if kind == "client":
            return "http.client"
    if "db.system" in attrs or "db.system.name" in attrs:
        return "db"
    return kind


def _status(span: Any, attrs: Mapping[str, Any]) -> str:
    code = attrs.get("http.response.status_code", attrs.get("http.status_code"))
    if isinstance(code, int) and code >= 400:
        return _HTTP_STATUS.get(code, "internal_error" if code >= 500 else "invalid_argument")
    if span.status.code == _STATUS_ERROR:
        return "internal_error"
    return "ok"


def _request(attrs: Mapping[str, Any]) -> dict[str, Any]:
    method = attrs.get("http.request.method", attrs.get("http.method"))
    url = attrs.get("url.full", attrs.get("http.url"))
    if url is None and "url.path" in attrs:
        host = attrs.get("server.address", attrs.get("http.host"))
        port = attrs.get("server.port")
        if host:
            netloc = f"{host}:{port}" if port and port not in (80, 443) else str(host)
            url = f"{attrs.get('url.scheme', 'http')}://{netloc}{attrs['url.path']}"
    request: dict[str, Any] = {}
    if method:
        request["method"] = str(method)
    if url:
        request["url"] = str(url)
    if attrs.get("url.query"):
        request["query_string"] = str(attrs["url.query"])
    return request
