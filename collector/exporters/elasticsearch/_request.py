"""Documents -> ``_bulk`` request bodies: NDJSON, one ``create`` action line + one source line per document
(``create`` is the only write data streams accept), split so that no body exceeds ``flush::bytes``
(a single larger document travels alone)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ._encoder import Doc

__all__ = ["BulkRequest", "action_line", "build_requests"]


@dataclass(slots=True)
class BulkRequest:
    body: bytearray = field(default_factory=bytearray)
    docs: list[Doc] = field(default_factory=list)


_action_cache: dict[str, bytes] = {}


def action_line(index: str) -> bytes:
    line = _action_cache.get(index)
    if line is None:
        line = json.dumps({"create": {"_index": index}}, separators=(",", ":")).encode() + b"\n"
        if len(_action_cache) < 4096:
            _action_cache[index] = line
    return line


def build_requests(docs: Sequence[Doc], max_bytes: int) -> Iterator[BulkRequest]:
    request = BulkRequest()
    for doc in docs:
        action = action_line(doc.index)
        size = len(action) + len(doc.source) + 1
        if request.docs and len(request.body) + size > max_bytes:
            yield request
            request = BulkRequest()
        request.body += action
        request.body += doc.source
        request.body += b"\n"
        request.docs.append(doc)
    if request.docs:
        yield request
