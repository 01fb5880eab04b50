"""The OTLP/JSON encoding of export requests (OTLP spec, "JSON Protobuf Encoding").

It is the proto3 JSON mapping with the OTLP exceptions:

* ``traceId``, ``spanId`` and ``parentSpanId`` are lower-case hex strings, not base64 (every other bytes
  value, e.g. ``bytesValue``, stays base64);
* keys are lowerCamelCase (decoders also accept the original field names), enums are integers;
* unknown fields are ignored when decoding.

Used by the otlp receiver (``Content-Type: application/json``) and the file exporter (one request per line).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format

from collector.pdata import Batch, Signal

__all__ = ["JSONDecodeError", "decode", "decode_response", "encode", "encode_message"]

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


class JSONDecodeError(ValueError):
    """The body is not a valid OTLP/JSON request."""


def _ids_hex_to_b64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                except ValueError:
                    raise JSONDecodeError(f"{key}: {value!r} is not a hex string") from None
            elif isinstance(value, dict | list):
                _ids_hex_to_b64(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _ids_hex_to_b64(item)


def _ids_b64_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            elif isinstance(value, dict | list):
                _ids_b64_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _ids_b64_to_hex(item)


def decode(signal: Signal, data: bytes | str) -> Batch:
    """Parse one OTLP/JSON export request; raises `JSONDecodeError` with a readable message."""
    try:
        tree = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JSONDecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(tree, dict):
        raise JSONDecodeError(f"expected a JSON object, got {type(tree).__name__}")
    _ids_hex_to_b64(tree)
    request = signal.request_type()
    try:
        json_format.ParseDict(tree, request, ignore_unknown_fields=True)
    except (json_format.ParseError, binascii.Error) as exc:
        raise JSONDecodeError(str(exc)) from None
    return Batch(signal, request)


def encode_message(message: Any) -> dict[str, Any]:
    """Any OTLP message as an OTLP/JSON object (hex ids, camelCase, integer enums)."""
    tree: dict[str, Any] = json_format.MessageToDict(message, use_integers_for_enums=True)
    _ids_b64_to_hex(tree)
    return tree


def encode(batch: Batch) -> bytes:
    """One export request as compact OTLP/JSON (no newline inside, so it fits on one line)."""
    return json.dumps(encode_message(batch.request), separators=(",", ":")).encode()


def decode_response(message_type: type[Any], data: bytes) -> Any:
    """Parse an OTLP/JSON export response (or a ``google.rpc.Status``)."""
    message = message_type()
    json_format.Parse(data, message, ignore_unknown_fields=True)
    return message
