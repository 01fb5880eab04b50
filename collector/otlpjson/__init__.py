"""The OTLP/JSON encoding of export requests (OTLP spec, "JSON Protobuf Encoding").

It is the proto3 JSON mapping with the OTLP exceptions:

* ``traceId``, ``spanId`` and ``parentSpanId`` are lower-case hex strings, not base64 (every other bytes
  value, e.g. ``bytesValue``, stays base64);
* keys are lowerCamelCase (decoders also accept the original field names), enums are integers (decoders also
  accept their names), 64-bit integers are decimal strings (decoders also accept numbers);
* unknown fields are ignored when decoding.

Used by the otlp receiver (``Content-Type: application/json``) and the file exporter (one request per line).
Both directions are planned once per message type from the protobuf descriptors, not interpreted per value
as ``google.protobuf.json_format`` does (several times faster), and agree with it on every official example.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from collector.otlpjson._decode import MAX_DEPTH, JSONDecodeError, decode, decode_message
from collector.otlpjson._encode import encode, encode_message

__all__ = ["MAX_DEPTH", "JSONDecodeError", "decode", "decode_message", "decode_response", "encode", "encode_message"]


def decode_response(message_type: type[Any], data: bytes) -> Any:
    """Parse an OTLP/JSON export response (or a ``google.rpc.Status``), leniently."""
    message = message_type()
    json_format.Parse(data, message, ignore_unknown_fields=True)
    return message
