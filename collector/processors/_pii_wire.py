"""What the ``pii`` processor reads of a trace or log request, and nothing else: a lean schema over the same bytes.

Reading an attribute out of the full OTLP messages creates four Python objects (the KeyValue, its key, the
AnyValue, its string); for spans of 8-10 attributes that is most of the processor's time. These message types
declare only the fields scrubbing looks at — names, status messages, log bodies — and every attribute as its
raw serialized ``KeyValue`` bytes (the wire format of a message and of ``bytes`` is the same). Parsing a request
with them gives each span's attributes as one list of ``bytes``: a pair seen clean before is one dict lookup on
its bytes, and only the others are looked into (`split_key_value`). Every other field (ids, times, kinds, codes)
is kept as an unknown field and written back as it was when a record must be re-serialized.

Proto2 syntax keeps presence as the real schema has it: an empty log body stays present.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["BYTES_TAG", "LEAN_EVENT", "LEAN_LINK", "LEAN_LOGS", "LEAN_TRACES", "any_string", "encode_any_string",
           "encode_key_value", "split_key_value"]

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "otel_distro.collector.pii_lean"


def _build() -> dict[str, Any]:
    fdp = descriptor_pb2.FileDescriptorProto(name="otel_distro/collector/pii_lean.proto", package=_PACKAGE,
                                             syntax="proto2")

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        m = fdp.message_type.add(name=name)
        for field_name, number, type_, label, type_name in fields:
            f = m.field.add(name=field_name, number=number, type=type_, label=label)
            if type_name:
                f.type_name = f".{_PACKAGE}.{type_name}"

    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    b, s, m = _F.TYPE_BYTES, _F.TYPE_STRING, _F.TYPE_MESSAGE
    message("Resource", ("attributes", 1, b, rep, ""))
    message("Scope", ("attributes", 3, b, rep, ""))
    message("Event", ("name", 2, s, opt, ""), ("attributes", 3, b, rep, ""))
    message("Link", ("attributes", 4, b, rep, ""))
    # events, links and the status are rare or mostly a bare code: bytes, read with their types only when present
    message("Span", ("name", 5, s, opt, ""), ("attributes", 9, b, rep, ""), ("events", 11, b, rep, ""),
            ("links", 13, b, rep, ""), ("status", 15, b, opt, ""))
    message("ScopeSpans", ("scope", 1, m, opt, "Scope"), ("spans", 2, m, rep, "Span"))
    message("ResourceSpans", ("resource", 1, m, opt, "Resource"), ("scope_spans", 2, m, rep, "ScopeSpans"))
    message("Traces", ("resource_spans", 1, m, rep, "ResourceSpans"))
    message("LogRecord", ("body", 5, b, opt, ""), ("attributes", 6, b, rep, ""))
    message("ScopeLogs", ("scope", 1, m, opt, "Scope"), ("log_records", 2, m, rep, "LogRecord"))
    message("ResourceLogs", ("resource", 1, m, opt, "Resource"), ("scope_logs", 2, m, rep, "ScopeLogs"))
    message("Logs", ("resource_logs", 1, m, rep, "ResourceLogs"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    file = pool.FindFileByName(fdp.name)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
            for name in file.message_types_by_name}


_CLASSES = _build()
LEAN_TRACES: Any = _CLASSES["Traces"]
LEAN_LOGS: Any = _CLASSES["Logs"]
LEAN_EVENT: Any = _CLASSES["Event"]
LEAN_LINK: Any = _CLASSES["Link"]


BYTES_TAG = 0x3A  # AnyValue.bytes_value: field 7, length-delimited


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); raises IndexError on a truncated buffer."""
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def split_key_value(kv: bytes) -> tuple[bytes, bytes] | None:
    """(key, AnyValue bytes) of a ``KeyValue`` written the usual way — its key (field 1) then its value (field
    2), nothing else; None for any other shape (the caller reads it with the full message type)."""
    try:
        if kv[0] != 0x0A:
            return None
        n, pos = _varint(kv, 1)
        key_end = pos + n
        if kv[key_end] != 0x12:
            return None
        n, value_start = _varint(kv, key_end + 1)
        if value_start + n != len(kv):
            return None
        return kv[pos:key_end], kv[value_start:]
    except IndexError:
        return None


def any_string(value: bytes, tag: int = 0x0A) -> bytes | None:
    """The UTF-8 of an ``AnyValue`` that is exactly a ``string_value``; None for anything else. With
    ``tag=BYTES_TAG``: the content of one that is exactly a ``bytes_value``."""
    if not value or value[0] != tag:
        return None
    try:
        n, pos = _varint(value, 1)
    except IndexError:
        return None
    return value[pos:] if pos + n == len(value) else None


def encode_any_string(text: bytes, tag: int = 0x0A) -> bytes:
    """An ``AnyValue`` holding the string ``text`` (UTF-8); with ``tag=BYTES_TAG``, the bytes ``text``."""
    return bytes((tag,)) + _varint_bytes(len(text)) + text


def encode_key_value(key: bytes, text: bytes, tag: int = 0x0A) -> bytes:
    """A ``KeyValue`` of ``key`` and a string value ``text`` (both UTF-8), as `split_key_value` reads it; with
    ``tag=BYTES_TAG``, a bytes value."""
    value = encode_any_string(text, tag)
    return b"\x0a" + _varint_bytes(len(key)) + key + b"\x12" + _varint_bytes(len(value)) + value
