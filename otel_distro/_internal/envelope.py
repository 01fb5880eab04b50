"""Sentry envelopes as bytes: parse, and serialize again, with errors that say what is malformed.

Format (https://develop.sentry.dev/sdk/data-model/envelopes/): a JSON header line, then items, each a JSON
header line and a payload of ``length`` bytes (or, without ``length``, up to the next newline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["Envelope", "EnvelopeError", "Item", "parse_envelope"]


class EnvelopeError(ValueError):
    """The body is not a Sentry envelope; the message says where."""


@dataclass(slots=True)
class Item:
    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        return str(self.headers.get("type", ""))


@dataclass(slots=True)
class Envelope:
    headers: dict[str, Any]
    items: list[Item] = field(default_factory=list)

    def serialize(self) -> bytes:
        out = [orjson.dumps(self.headers), b"\n"]
        for item in self.items:
            headers = {**item.headers, "length": len(item.payload)}
            out += [orjson.dumps(headers), b"\n", item.payload, b"\n"]
        return b"".join(out)


def _json_object(line: bytes, where: str) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise EnvelopeError(f"{where}: not a JSON header line") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"{where}: the header must be a JSON object")
    return value


def parse_envelope(body: bytes) -> Envelope:
    newline = body.find(b"\n")
    header_line = body if newline < 0 else body[:newline]
    envelope = Envelope(_json_object(header_line, "envelope header"))
    pos = len(body) if newline < 0 else newline + 1
    n = len(body)
    while pos < n:
        if body[pos:pos + 1] == b"\n":  # blank lines between items are allowed
            pos += 1
            continue
        where = f"item {len(envelope.items)}"
        end = body.find(b"\n", pos)
        headers = _json_object(body[pos:] if end < 0 else body[pos:end], f"{where} header")
        pos = n if end < 0 else end + 1
        length = headers.get("length")
        if length is None:
            end = body.find(b"\n", pos)
            payload = body[pos:] if end < 0 else body[pos:end]
            pos = n if end < 0 else end + 1
        else:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0 or pos + length > n:
                raise EnvelopeError(f"{where}: length {length!r} does not fit the body")
            payload = body[pos:pos + length]
            pos += length
            if body[pos:pos + 1] == b"\n":
                pos += 1
        if "type" not in headers:
            raise EnvelopeError(f"{where}: the header has no type")
        envelope.items.append(Item(headers, payload))
    return envelope
