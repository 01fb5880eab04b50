"""OTLP/JSON decoding into the protobuf request, planned per message type (the otlp receiver's JSON path)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from collector.pdata import Batch, Signal

__all__ = ["MAX_DEPTH", "JSONDecodeError", "decode", "decode_message"]

MAX_DEPTH = 100
"""Deepest message nesting accepted, the request itself being depth 1: the protobuf (upb) decoder's default
limit. A JSON request nested deeper would decode here, and then fail every later parse of its serialized
form (the batch merge, the persistent queue), losing other clients' data with it: it is refused instead."""


class JSONDecodeError(ValueError):
    """The body is not a valid OTLP/JSON request."""


_ID_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})
_KEY_VALUE = "opentelemetry.proto.common.v1.KeyValue"
_ANY_VALUE = "opentelemetry.proto.common.v1.AnyValue"
_INT_TYPES = frozenset({
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_SFIXED32,
})
_SPECIAL_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _hex(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"expected a hex string, got {value!r}")
    return bytes.fromhex(value)


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"expected a base64 string, got {value!r}")
    return base64.b64decode(value, validate=False)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise TypeError(f"expected an integer, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise TypeError(f"expected an integer, got {value!r}")
        return int(value)
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, str):
        special = _SPECIAL_FLOATS.get(value)
        return special if special is not None else float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _enum(fd: FieldDescriptor) -> Callable[[Any], int]:
    by_name = {v.name: v.number for v in fd.enum_type.values} if fd.enum_type is not None else {}

    def convert(value: Any) -> int:
        if isinstance(value, str):
            if value in by_name:
                return by_name[value]
            raise TypeError(f"unknown enum value {value!r}")
        return _int(value)

    return convert


# A field's plan: (proto field name, kind, converter or message descriptor, repeated)
_SCALAR, _MESSAGE, _ATTRIBUTES, _ANY = range(4)
_Plan = dict[str, tuple[str, int, Any, bool]]
_PLANS: dict[str, _Plan] = {}


def _scalar_converter(fd: FieldDescriptor) -> Callable[[Any], Any]:
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return _hex if fd.name in _ID_FIELDS else _b64
    if fd.type in _INT_TYPES:
        return _int
    if fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _float
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return _bool
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return _enum(fd)
    return _str


def _plan(descriptor: Descriptor) -> _Plan:
    plan: _Plan = {}
    entry: tuple[str, int, Any, bool]
    for fd in descriptor.fields:
        if fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type is not None:
            name = fd.message_type.full_name
            if fd.is_repeated and name == _KEY_VALUE:
                entry = (fd.name, _ATTRIBUTES, None, True)
            elif name == _ANY_VALUE:
                entry = (fd.name, _ANY, None, bool(fd.is_repeated))
            else:
                entry = (fd.name, _MESSAGE, None, bool(fd.is_repeated))
        else:
            entry = (fd.name, _SCALAR, _scalar_converter(fd), bool(fd.is_repeated))
        plan[fd.json_name] = entry
        plan[fd.name] = entry
    _PLANS[descriptor.full_name] = plan
    return plan


_ANY_SCALARS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "stringValue": ("string_value", _str), "string_value": ("string_value", _str),
    "intValue": ("int_value", _int), "int_value": ("int_value", _int),
    "boolValue": ("bool_value", _bool), "bool_value": ("bool_value", _bool),
    "doubleValue": ("double_value", _float), "double_value": ("double_value", _float),
    "bytesValue": ("bytes_value", _b64), "bytes_value": ("bytes_value", _b64),
}


class _TooDeep(Exception):
    pass


def _any_value(target: Any, tree: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _TooDeep
    if not isinstance(tree, dict):
        raise TypeError(f"expected an object, got {tree!r}")
    for key, value in tree.items():
        if value is None:
            continue
        scalar = _ANY_SCALARS.get(key)
        if scalar is not None:
            setattr(target, scalar[0], scalar[1](value))
        elif key in ("arrayValue", "array_value"):
            target.array_value.SetInParent()  # an empty array is a value too (not an empty AnyValue)
            _message(target.array_value, value, depth + 1)
        elif key in ("kvlistValue", "kvlist_value"):
            target.kvlist_value.SetInParent()
            _message(target.kvlist_value, value, depth + 1)


def _attributes(container: Any, items: Any, depth: int) -> None:
    """`depth` is that of the KeyValue messages."""
    if not isinstance(items, list):
        raise TypeError(f"expected a list, got {items!r}")
    if depth > MAX_DEPTH and items:
        raise _TooDeep
    for item in items:
        if not isinstance(item, dict):
            raise TypeError(f"expected an object, got {item!r}")
        kv = container.add(key=_str(item.get("key", "")))
        value = item.get("value")
        if value is not None:
            kv.value.SetInParent()
            _any_value(kv.value, value, depth + 1)


def _message(target: Any, tree: Any, depth: int = 1) -> None:
    if depth > MAX_DEPTH:
        raise _TooDeep
    if not isinstance(tree, dict):
        raise TypeError(f"expected an object, got {tree!r}")
    descriptor = target.DESCRIPTOR
    plan = _PLANS.get(descriptor.full_name) or _plan(descriptor)
    for key, value in tree.items():
        entry = plan.get(key)
        if entry is None or value is None:
            continue  # unknown fields are ignored; null is the default
        name, kind, convert, repeated = entry
        try:
            if kind == _ATTRIBUTES:
                _attributes(getattr(target, name), value, depth + 1)
            elif repeated:
                if not isinstance(value, list):
                    raise TypeError(f"expected a list, got {value!r}")
                container = getattr(target, name)
                if kind == _SCALAR:
                    container.extend([convert(v) for v in value])
                elif kind == _ANY:
                    for v in value:
                        _any_value(container.add(), v, depth + 1)
                else:
                    for v in value:
                        _message(container.add(), v, depth + 1)
            elif kind == _SCALAR:
                setattr(target, name, convert(value))
            else:
                sub = getattr(target, name)
                sub.SetInParent()
                (_any_value if kind == _ANY else _message)(sub, value, depth + 1)
        except JSONDecodeError as exc:
            raise JSONDecodeError(f"{key}.{exc}") from None
        except (TypeError, ValueError, binascii.Error) as exc:
            raise JSONDecodeError(f"{key}: {exc}") from None


def decode_message(message: Any, tree: dict[str, Any]) -> Any:
    """Fill ``message`` from an OTLP/JSON object; raises `JSONDecodeError` naming the field, or saying that
    values are nested deeper than `MAX_DEPTH` messages."""
    try:
        _message(message, tree)
    except (_TooDeep, RecursionError):
        raise JSONDecodeError(
            f"values are nested too deeply: more than {MAX_DEPTH} levels of messages (the protobuf decoder's limit)"
        ) from None
    return message


def decode(signal: Signal, data: bytes | str) -> Batch:
    """Parse one OTLP/JSON export request; raises `JSONDecodeError` with a readable message."""
    try:
        tree = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JSONDecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(tree, dict):
        raise JSONDecodeError(f"expected a JSON object, got {type(tree).__name__}")
    return Batch(signal, decode_message(signal.request_type(), tree))
