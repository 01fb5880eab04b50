"""What an ``alert_rules`` rule looks at in a log record or a span, and how it decides that one matches.

Patterns are RE2 (linear time in the input, whatever the pattern: a user's rule cannot stall the pipeline on a
crafted log line the way a backtracking engine can) and match anywhere in the value (``search``); anchor with
``^...$`` for a whole value. Constructs RE2 refuses (back-references, look-around) are config errors.

`Record` is a light view of one log record or span with its resource: the fields a rule asks for are read from
the protobuf message when asked, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import re2
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["SEVERITIES", "Match", "Record", "any_value", "compile_pattern", "severity_number"]

#: Lowest severity number of each OTel severity name (SeverityNumber ranges of the logs data model).
SEVERITIES: dict[str, int] = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "warning": 13, "error": 17, "fatal": 21}

SpanKind = Literal["internal", "server", "client", "producer", "consumer"]
_SPAN_KINDS: dict[str, int] = {
    "internal": Span.SPAN_KIND_INTERNAL, "server": Span.SPAN_KIND_SERVER, "client": Span.SPAN_KIND_CLIENT,
    "producer": Span.SPAN_KIND_PRODUCER, "consumer": Span.SPAN_KIND_CONSUMER,
}


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # the error goes into the config message, not to stderr
    return options


def compile_pattern(pattern: str) -> Any:
    """A compiled RE2 pattern; ``ValueError`` naming the pattern and RE2's reason otherwise."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"invalid pattern {pattern!r} (RE2 syntax: no back-references or look-around): "
                         f"{reason}") from None


def severity_number(name: str) -> int:
    try:
        return SEVERITIES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown severity {name!r} (valid values: {sorted(set(SEVERITIES))})") from None


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value (arrays and maps as lists and dicts)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class Record:
    """One log record or span (``item``) of a resource, read lazily."""

    __slots__ = ("_fields", "is_span", "item", "resource_attrs", "service")

    def __init__(self, item: Any, resource_attrs: Mapping[str, Any], service: str, *, is_span: bool) -> None:
        self.item = item
        self.resource_attrs = resource_attrs
        self.service = service
        self.is_span = is_span
        self._fields: dict[str, str | None] = {}

    def field(self, key: str) -> str | None:
        """A record attribute, else a resource attribute, else one of the names ``severity``, ``span.name``,
        ``body``; None when absent. Looked up once per record (several rules ask for the same keys)."""
        fields = self._fields
        if key in fields:
            return fields[key]
        value: str | None = None
        for kv in self.item.attributes:  # a scan: records carry few attributes, and most are never asked for
            if kv.key == key:
                value = _text(any_value(kv.value))
                break
        else:
            if key in self.resource_attrs:
                value = _text(self.resource_attrs[key])
            elif key == "severity" and not self.is_span:
                value = (self.item.severity_text or _severity_name(self.item.severity_number)).lower()
            elif key == "span.name" and self.is_span:
                value = str(self.item.name)
            elif key == "body" and not self.is_span:
                value = self.body
        fields[key] = value
        return value

    @property
    def body(self) -> str:
        if self.is_span:
            return ""
        return _text(any_value(self.item.body)) if self.item.HasField("body") else ""

    @property
    def duration(self) -> float:
        """A span's duration in seconds."""
        nanos: int = self.item.end_time_unix_nano - self.item.start_time_unix_nano
        return max(0, nanos) / 1e9

    @property
    def trace_id(self) -> bytes:
        raw: bytes = self.item.trace_id
        return raw


def _severity_name(number: int) -> str:
    best = ""
    for name, low in SEVERITIES.items():
        if number >= low and name != "warning":
            best = name
    return best


class Match(BaseModel):
    """Which records a rule counts. Every key given must hold (and); an empty ``match`` takes every record of
    the rule's signal."""

    model_config = ConfigDict(extra="forbid")

    severity: str | None = Field(default=None, description="lowest severity (logs): trace, debug, info, warn, "
                                                           "error, fatal")
    service: list[str] = Field(default_factory=list, description="service.name is one of these")
    span_kind: SpanKind | None = Field(default=None, description="spans of this kind (traces)")
    span_name: str | None = Field(default=None, description="RE2 pattern on the span name")
    body: str | None = Field(default=None, description="RE2 pattern on the log body")
    attributes: dict[str, str] = Field(default_factory=dict, description="attribute (record, then resource) -> "
                                                                         "RE2 pattern; the attribute must exist")

    @field_validator("severity")
    @classmethod
    def _known_severity(cls, value: str | None) -> str | None:
        if value is not None:
            severity_number(value)
        return value

    @field_validator("body", "span_name")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            compile_pattern(value)
        return value

    @field_validator("attributes")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            try:
                compile_pattern(pattern)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return value

    def compile(self) -> Matcher:
        return Matcher(self)


class Matcher:
    """A compiled `Match`: the cheap checks (numbers, names) first, patterns last."""

    __slots__ = ("_attributes", "_body", "_kind", "_services", "_severity", "_span_name")

    def __init__(self, match: Match) -> None:
        self._severity = severity_number(match.severity) if match.severity else 0
        self._services = frozenset(match.service)
        self._kind = _SPAN_KINDS[match.span_kind] if match.span_kind else None
        self._span_name = compile_pattern(match.span_name) if match.span_name else None
        self._body = compile_pattern(match.body) if match.body else None
        self._attributes = [(k, compile_pattern(p)) for k, p in match.attributes.items()]

    def service_ok(self, service: str) -> bool:
        """Whether records of this service can match at all (checked once per resource)."""
        return not self._services or service in self._services

    def __call__(self, record: Record) -> bool:
        item = record.item
        if record.is_span:
            if self._kind is not None and item.kind != self._kind:
                return False
            if self._span_name is not None and self._span_name.search(item.name) is None:
                return False
        else:
            if self._severity and (item.severity_number or SEVERITIES.get(item.severity_text.lower(), 0)) < \
                    self._severity:
                return False
            if self._body is not None and self._body.search(record.body) is None:
                return False
        for key, pattern in self._attributes:
            value = record.field(key)
            if value is None or pattern.search(value) is None:
                return False
        return True
