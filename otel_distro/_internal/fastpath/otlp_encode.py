"""SDK spans and log records straight to OTLP protobuf bytes, without building protobuf message objects.

The upstream encoder builds a message object per span, attribute and value, then serializes the tree, and
hashes each span's `Resource` (a JSON dump of its attributes) to group them: about 40 µs a span on the export
thread, which holds the GIL the request handlers need. This writer emits the same wire format directly
(proto3: scalars at their default are left out, oneof values and sub-messages upstream always sets are
written, fields in field-number order), and remembers what repeats from request to request: the encoded
resource and scope of each provider, span names with their kind, log severities and bodies, and each
``(key, value)`` attribute pair seen recently (methods, routes, status codes, loggers), except for keys whose
values do not repeat (request ids).

The SDK's own span classes (and subclasses that keep its properties, such as the middleware's `ServerSpan`)
are read through their private fields, which is what their properties return; a span of any other class is
read through the `ReadableSpan` properties. Tests check that the output decodes to the very message
upstream's encoder builds.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

__all__ = ["encode_logs", "encode_spans"]

_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_pack_double = struct.Struct("<d").pack
_SMALL = [bytes([n]) for n in range(128)]
_LOW64 = (1 << 64) - 1


def _varint(value: int) -> bytes:
    if value < 0x80:
        if value >= 0:
            return _SMALL[value]
        value += 1 << 64  # int64: two's complement, ten bytes
    elif value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + _varint(len(payload)) + payload


_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` message body (its oneof is written even at the type's default)."""
    if isinstance(value, str):
        return _field(b"\x0a", value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            # Upstream's protobuf refuses it and drops that attribute; raising here makes the exporter hand the
            # batch to upstream's encoder, which does exactly that (a wrong varint would corrupt the request).
            raise ValueError(f"int value {value} does not fit OTLP's int64")
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if value is None:
        return b""
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(item)) for item in value))
    if isinstance(value, Mapping):
        return _field(b"\x32", b"".join(_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"invalid type {type(value).__name__} of value {value!r}")


_KEY_CACHE_MAX = 4096
_keys: dict[str, bytes] = {}


def _key(key: str) -> bytes:
    """The ``key`` field of a ``KeyValue`` (keys repeat even when their values do not)."""
    encoded = _keys.get(key)
    if encoded is None:
        encoded = _field(b"\x0a", key.encode("utf-8", "surrogatepass"))
        if len(_keys) >= _KEY_CACHE_MAX:
            _keys.clear()
        _keys[key] = encoded
    return encoded


def _key_value(key: str, value: Any) -> bytes:
    return _key(key) + _field(b"\x12", _any_value(value))


def _plain(attributes: Any) -> Any:
    """The dict inside the SDK's `BoundedAttributes` (read without its lock: the span or record has ended),
    else ``attributes`` as given. Iterating the wrapper costs a lock and a lookup per key."""
    inner = getattr(attributes, "_dict", None)
    return inner if isinstance(inner, dict) else attributes


class _Attributes(dict[tuple[Any, ...], bytes]):
    """Attributes as repeated ``KeyValue`` fields with one tag; the dict caches recent pairs, encoded.

    A string pair is cached under the ``(key, value)`` tuple that iterating the attributes yields, so a hit
    is one lookup in C (`__missing__` encodes the others); only string values are stored that way, so that
    an equal value of another type (``True`` is ``1`` is ``1.0`` as a dict key) can never hit. Integer and
    boolean pairs have a dict each, only looked up with a value of that type; floats, sequences and long
    strings are encoded every time. A key that has shown ``_PER_KEY_MAX`` different string values (a request
    id) stops being cached until the cache is next cleared.
    """

    _CACHE_MAX = 8192
    _PER_KEY_MAX = 256
    _VALUE_MAX = 256  # longer strings are not cached

    def __init__(self, tag: bytes) -> None:
        super().__init__()
        self._tag = tag
        self._distinct: dict[str, int] = {}
        self._ints: dict[tuple[Any, ...], bytes] = {}
        self._bools: dict[tuple[Any, ...], bytes] = {}

    def __call__(self, attributes: Mapping[str, Any] | None) -> bytes:
        if not attributes:
            return b""
        items = (attributes if type(attributes) is dict else _plain(attributes)).items()
        try:
            return b"".join(map(self.__getitem__, items))
        except TypeError:  # an unhashable value (a list, a dict), or one that cannot be encoded
            return b"".join([_field(self._tag, _key_value(key, value)) for key, value in items])

    def __missing__(self, item: tuple[Any, ...]) -> bytes:
        key, value = item
        kind = type(value)
        if kind is str:
            encoded = _str_pair(self._tag, key, value)
            seen = self._distinct.get(key, 0)
            if seen < self._PER_KEY_MAX and len(value) <= self._VALUE_MAX:
                self._store(item, encoded)
                self._distinct[key] = seen + 1
            return encoded
        if kind is int or kind is bool:
            same_kind = self._ints if kind is int else self._bools  # only ever looked up with this type
            cached = same_kind.get(item)
            if cached is None:
                cached = _field(self._tag, _key_value(key, value))
                if len(same_kind) >= self._CACHE_MAX:
                    same_kind.clear()
                same_kind[item] = cached
            return cached
        if kind is float:  # durations, ratios: rarely the same twice
            encoded_key = _key(key)
            size = len(encoded_key) + 11
            if size < 0x80:
                return b"".join((self._tag, _SMALL[size], encoded_key, b"\x12\x09\x21", _pack_double(value)))
        return _field(self._tag, _key_value(key, value))

    def _store(self, cache_key: tuple[Any, ...], encoded: bytes) -> None:
        if len(self) >= self._CACHE_MAX:
            self.clear()
            self._distinct.clear()
        self[cache_key] = encoded


def _str_pair(tag: bytes, key: str, value: str) -> bytes:
    """A ``KeyValue`` field with a string value."""
    encoded_key = _key(key)
    data = value.encode("utf-8", "surrogatepass")
    size = len(data)
    pair_size = len(encoded_key) + size + 4
    if pair_size < 0x80:  # every length fits in one byte
        return b"".join((tag, _SMALL[pair_size], encoded_key, b"\x12", _SMALL[size + 2], b"\x0a", _SMALL[size], data))
    return _field(tag, encoded_key + _field(b"\x12", _field(b"\x0a", data)))


_resource_attributes = _Attributes(b"\x0a")
_scope_attributes = _Attributes(b"\x1a")
_span_attributes = _Attributes(b"\x4a")
_event_attributes = _Attributes(b"\x1a")
_link_attributes = _Attributes(b"\x22")
_log_attributes = _Attributes(b"\x32")

# Encoded resources and scopes by identity (the SDK keeps one object per provider and tracer); the object is
# held alongside its bytes so that its id is never reused while cached.
_resource_cache: dict[int, tuple[Any, bytes]] = {}
_scope_cache: dict[int, tuple[Any, bytes]] = {}
_IDENTITY_CACHE_MAX = 256


def _resource(resource: Any) -> bytes:
    """A ``Resource`` message body (cached per resource object)."""
    entry = _resource_cache.get(id(resource))
    if entry is not None and entry[0] is resource:
        return entry[1]
    encoded = _resource_attributes(resource.attributes)
    if len(_resource_cache) >= _IDENTITY_CACHE_MAX:
        _resource_cache.clear()
    _resource_cache[id(resource)] = (resource, encoded)
    return encoded


def _scope(scope: Any) -> bytes:
    """An ``InstrumentationScope`` message body (cached per scope object)."""
    if scope is None:
        return b""
    entry = _scope_cache.get(id(scope))
    if entry is not None and entry[0] is scope:
        return entry[1]
    parts = []
    if scope.name:
        parts.append(_field(b"\x0a", scope.name.encode()))
    if scope.version:
        parts.append(_field(b"\x12", scope.version.encode()))
    parts.append(_scope_attributes(scope.attributes))
    encoded = b"".join(parts)
    if len(_scope_cache) >= _IDENTITY_CACHE_MAX:
        _scope_cache.clear()
    _scope_cache[id(scope)] = (scope, encoded)
    return encoded


_NOTHING = object()


class _Groups:
    """Encoded items grouped by resource, then by scope, in first-seen order (as upstream groups them).

    Each item is kept framed as field 2 of its ``Scope*`` message. A batch usually has one resource and
    one scope: an item of the same pair as the one before goes straight to that pair's list.
    """

    __slots__ = ("_groups", "_last_items", "_last_resource", "_last_scope")

    def __init__(self) -> None:
        self._groups: dict[int, tuple[Any, dict[int, tuple[Any, list[bytes]]]]] = {}
        self._last_resource: Any = _NOTHING
        self._last_scope: Any = _NOTHING
        self._last_items: list[bytes] = []

    def add(self, resource: Any, scope: Any, item: bytes) -> None:
        """``item`` (framed) to the items of ``resource`` and ``scope``."""
        if resource is self._last_resource and scope is self._last_scope:
            self._last_items.append(item)
            return
        per_resource = self._groups.get(id(resource))
        if per_resource is None:
            per_resource = self._groups[id(resource)] = (resource, {})
        per_scope = per_resource[1].get(id(scope))
        if per_scope is None:
            per_scope = per_resource[1][id(scope)] = (scope, [])
        self._last_resource, self._last_scope, self._last_items = resource, scope, per_scope[1]
        per_scope[1].append(item)

    def request(self) -> bytes:
        """``Export*ServiceRequest``: resource_* (1) → resource (1), scope_* (2) → scope (1), items (2);
        schema_url (3)."""
        out: list[bytes] = []
        for resource, scopes in self._groups.values():
            body = [_field(b"\x0a", _resource(resource))]
            for scope, items in scopes.values():
                scope_body = [_field(b"\x0a", _scope(scope)), *items]
                schema_url = getattr(scope, "schema_url", None) if scope is not None else None
                if schema_url:
                    scope_body.append(_field(b"\x1a", schema_url.encode()))
                body.append(_field(b"\x12", b"".join(scope_body)))
            if resource.schema_url:
                body.append(_field(b"\x1a", resource.schema_url.encode()))
            out.append(_field(b"\x0a", b"".join(body)))
        return b"".join(out)


def _item(body: bytes) -> bytes:
    """``body`` framed as field 2 (the spans of a ``ScopeSpans``, the records of a ``ScopeLogs``)."""
    size = len(body)
    if size < 0x4000:
        head = _SMALL[size] if size < 0x80 else bytes(((size & 0x7F) | 0x80, size >> 7))
        return b"".join((b"\x12", head, body))
    return _field(b"\x12", body)


# --- traces ---------------------------------------------------------------------------------------------------

_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


_FLAGS_LOCAL = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE)  # field 16, fixed32
_FLAGS_REMOTE = b"\x85\x01" + _pack_fixed32(_HAS_IS_REMOTE | _IS_REMOTE)
_STATUS_UNSET = b"\x7a\x00"  # an empty status, which upstream always writes
_UNSET_LOCAL = _STATUS_UNSET + _FLAGS_LOCAL
_UNSET_REMOTE = _STATUS_UNSET + _FLAGS_REMOTE
_pack_ids = struct.Struct(">2sQQ2sQ").pack  # trace_id (1), span_id (2)
_pack_ids_parent = struct.Struct(">2sQQ2sQ2sQ").pack  # ... and parent_span_id (4)
_pack_times = struct.Struct("<cQcQ").pack  # start (7) and end (8) time, fixed64
_NAME_CACHE_MAX = 4096
_names: dict[str, tuple[Any, bytes]] = {}


def _name_kind(name: str, kind: Any) -> bytes:
    """The name (5) and kind (6) fields: names repeat (``GET /items/{item_id}``), each usually with one kind."""
    entry = _names.get(name)
    if entry is not None and entry[0] is kind:
        return entry[1]
    encoded = b"\x30" + _varint(kind.value + 1)  # the API's INTERNAL is 0, the protocol's 1
    if name:
        encoded = _field(b"\x2a", name.encode("utf-8", "surrogatepass")) + encoded
    if len(_names) >= _NAME_CACHE_MAX:
        _names.clear()
    _names[name] = (kind, encoded)
    return encoded


def _ids(context: Any, parent: Any) -> bytes:
    """trace_id (1), span_id (2), trace_state (3), parent_span_id (4)."""
    trace_id = context.trace_id
    trace_state = context.trace_state
    text = ",".join(f"{key}={value}" for key, value in trace_state.items()) if trace_state else ""
    if parent is not None and not text:
        return _pack_ids_parent(
            b"\x0a\x10", trace_id >> 64, trace_id & _LOW64, b"\x12\x08", context.span_id, b"\x22\x08", parent.span_id
        )
    encoded = _pack_ids(b"\x0a\x10", trace_id >> 64, trace_id & _LOW64, b"\x12\x08", context.span_id)
    if text:
        encoded += _field(b"\x1a", text.encode())
    if parent is not None:
        encoded += b"\x22\x08" + parent.span_id.to_bytes(8, "big")
    return encoded


def _times(start: int | None, end: int | None) -> bytes:
    if start and end:
        return _pack_times(b"\x39", start, b"\x41", end)
    return (b"\x39" + _pack_fixed64(start) if start else b"") + (b"\x41" + _pack_fixed64(end) if end else b"")


def _status(status: Any) -> bytes:
    """The status field (15), always written."""
    code = status.status_code
    description = status.description
    if code is StatusCode.UNSET and not description:
        return _STATUS_UNSET
    parts = []
    if description:
        parts.append(_field(b"\x12", description.encode("utf-8", "surrogatepass")))
    if code.value:
        parts.append(b"\x18" + _varint(code.value))
    return _field(b"\x7a", b"".join(parts))


def _events_and_links(span: Any) -> bytes:
    """Fields 10 to 14: dropped attributes count, events, dropped events count, links, dropped links count."""
    parts = []
    if span.dropped_attributes:
        parts.append(b"\x50" + _varint(span.dropped_attributes))
    for event in span.events:
        event_parts = [b"\x09" + _pack_fixed64(event.timestamp)] if event.timestamp else []
        if event.name:
            event_parts.append(_field(b"\x12", event.name.encode("utf-8", "surrogatepass")))
        event_parts.append(_event_attributes(event.attributes))
        if event.dropped_attributes:
            event_parts.append(b"\x20" + _varint(event.dropped_attributes))
        parts.append(_field(b"\x5a", b"".join(event_parts)))
    if span.dropped_events:
        parts.append(b"\x60" + _varint(span.dropped_events))
    for link in span.links:
        link_context = link.context
        trace_id = link_context.trace_id  # no trace_state: upstream leaves it out
        link_parts = [
            _pack_ids(b"\x0a\x10", trace_id >> 64, trace_id & _LOW64, b"\x12\x08", link_context.span_id),
            _link_attributes(link.attributes),
        ]
        if link.dropped_attributes:
            link_parts.append(b"\x28" + _varint(link.dropped_attributes))
        link_flags = _HAS_IS_REMOTE | (_IS_REMOTE if link_context.is_remote else 0)
        link_parts.append(b"\x35" + _pack_fixed32(link_flags))
        parts.append(_field(b"\x6a", b"".join(link_parts)))
    if span.dropped_links:
        parts.append(b"\x70" + _varint(span.dropped_links))
    return b"".join(parts)


def _span(span: Any) -> bytes:
    """Any ``ReadableSpan``, read through its properties, as a framed item."""
    parent = span.parent
    return _item(
        b"".join(
            (
                _ids(span.context, parent),
                _name_kind(span.name, span.kind),
                _times(span.start_time, span.end_time),
                _span_attributes(span.attributes),
                _events_and_links(span),
                _status(span.status),
                _FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL,
            )
        )
    )


def _sdk_span(span: Any) -> bytes:
    """A span of a class whose `ReadableSpan` properties are the SDK's, read from the fields behind them, as a
    framed item."""
    context = span._context
    parent = span._parent
    trace_id = context.trace_id
    if parent is None and not context.trace_state:
        ids = _pack_ids(b"\x0a\x10", trace_id >> 64, trace_id & _LOW64, b"\x12\x08", context.span_id)
    else:
        ids = _ids(context, parent)
    start = span._start_time
    end = span._end_time
    times = _pack_times(b"\x39", start, b"\x41", end) if start and end else _times(start, end)
    attributes = span._attributes
    # Events, links and dropped counts exist only on the SDK's bounded containers (a plain dict, an empty
    # tuple: none); a bounded container, even empty, may have dropped some.
    plain = type(attributes) is dict or attributes is None
    events_and_links = (
        b""
        if plain and type(span._events) is tuple and type(span._links) is tuple and not span._events and not span._links
        else _events_and_links(span)
    )
    status = span._status
    if status.status_code is StatusCode.UNSET and not status.description:
        tail = _UNSET_REMOTE if parent is not None and parent.is_remote else _UNSET_LOCAL
    else:
        tail = _status(status) + (_FLAGS_REMOTE if parent is not None and parent.is_remote else _FLAGS_LOCAL)
    return _item(
        b"".join(
            (
                ids,
                _name_kind(span._name, span._kind),
                times,
                _span_attributes(attributes),
                events_and_links,
                tail,
            )
        )
    )


_SDK_PROPERTIES = (
    "context",
    "parent",
    "name",
    "kind",
    "start_time",
    "end_time",
    "attributes",
    "events",
    "links",
    "status",
    "resource",
    "instrumentation_scope",
    "dropped_attributes",
    "dropped_events",
    "dropped_links",
)
_span_readers: dict[type, Callable[[Any], bytes]] = {}


def _span_reader(cls: type) -> Callable[[Any], bytes]:
    """`_sdk_span` for a class that keeps every `ReadableSpan` property `_sdk_span` bypasses, else `_span`."""
    reader = _span_readers.get(cls)
    if reader is None:
        own = issubclass(cls, ReadableSpan) and all(
            getattr(cls, name, None) is getattr(ReadableSpan, name) for name in _SDK_PROPERTIES
        )
        reader = _span_readers[cls] = _sdk_span if own else _span
    return reader


def encode_spans(spans: Sequence[Any]) -> bytes:
    """An ``ExportTraceServiceRequest`` of SDK ``ReadableSpan`` objects, serialized."""
    groups = _Groups()
    add = groups.add
    last_class: type | None = None
    read: Callable[[Any], bytes] = _span
    for span in spans:
        if type(span) is not last_class:
            last_class = type(span)
            read = _span_reader(last_class)
        if read is _sdk_span:
            add(span._resource, span._instrumentation_scope or None, _sdk_span(span))
        else:
            add(span.resource, span.instrumentation_scope or None, _span(span))
    return groups.request()


# --- logs -----------------------------------------------------------------------------------------------------

_pack_timestamp = struct.Struct("<cQ").pack
# trace_flags (8), trace_id (9), span_id (10), observed_time_unix_nano (11)
_pack_trace = struct.Struct("<cI2s16s2s8scQ").pack
_HEAD_CACHE_MAX = 1024
_BODY_MAX = 256  # longer bodies are not cached
_heads: dict[str, tuple[Any, str, bytes]] = {}


def _head(number: Any, text: Any, body: Any) -> bytes:
    """severity_number (2), severity_text (3) and body (5), cached for string bodies (event names:
    ``request_finished``, each usually logged at one level)."""
    value = getattr(number, "value", None)
    encoded = b"\x10" + _varint(value) if value else b""
    if text:
        encoded += _field(b"\x1a", text.encode("utf-8", "surrogatepass"))
    encoded += _field(b"\x2a", _any_value(body))
    if type(body) is str and type(text) is str and len(body) <= _BODY_MAX:
        if len(_heads) >= _HEAD_CACHE_MAX:
            _heads.clear()
        _heads[body] = (number, text, encoded)
    return encoded


def _log(readable: Any) -> bytes:
    """A ``LogRecord`` message body."""
    record = readable.log_record
    timestamp = record.timestamp
    number = record.severity_number
    text = record.severity_text
    body = record.body
    entry = _heads.get(body) if type(body) is str else None
    hit = entry is not None and entry[0] is number and entry[1] == text
    head = entry[2] if hit else _head(number, text, body)  # type: ignore[index]
    attributes = record.attributes
    parts = [
        _pack_timestamp(b"\x09", timestamp) if timestamp else b"",
        head,
        _log_attributes(attributes) if attributes else b"",
    ]
    if readable.dropped_attributes:
        parts.append(b"\x38" + _varint(readable.dropped_attributes))
    flags = record.trace_flags
    flags = int(flags) if flags is not None else 0
    trace_id = record.trace_id
    span_id = record.span_id
    observed = record.observed_timestamp
    if flags and trace_id and span_id and observed:
        parts.append(
            _pack_trace(
                b"\x45",
                flags,
                b"\x4a\x10",
                trace_id.to_bytes(16, "big"),
                b"\x52\x08",
                span_id.to_bytes(8, "big"),
                b"\x59",
                observed,
            )
        )
    else:
        if flags:
            parts.append(b"\x45" + _pack_fixed32(flags))
        if trace_id:
            parts.append(b"\x4a\x10" + trace_id.to_bytes(16, "big"))
        if span_id:
            parts.append(b"\x52\x08" + span_id.to_bytes(8, "big"))
        if observed:
            parts.append(_pack_timestamp(b"\x59", observed))
    event_name = getattr(record, "event_name", None)
    if event_name:
        parts.append(_field(b"\x62", event_name.encode("utf-8", "surrogatepass")))
    return _item(b"".join(parts))


def encode_logs(batch: Sequence[Any]) -> bytes:
    """An ``ExportLogsServiceRequest`` of SDK ``ReadableLogRecord`` objects, serialized."""
    groups = _Groups()
    add = groups.add
    for readable in batch:
        add(readable.resource, readable.instrumentation_scope or None, _log(readable))
    return groups.request()
