"""The state of ``alert_rules`` rules: per rule and group (the values of ``group_by``), what has been seen and
whether the rule's condition holds.

Time is the collector's clock when a record arrives (``time.time()``), not the record's own timestamp: a stream
rule answers "what is arriving now", and a client with a wrong clock or a replayed backlog cannot move it.
Counts are kept in ``_BUCKETS`` buckets per window, so a window's count is exact to within one bucket
(a tenth of the window) at its old end.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from collector.processors._alert_match import Record, compile_pattern

__all__ = ["Group", "Window", "fingerprint", "term_of"]

_BUCKETS = 10


class Window:
    """Counts in the last ``window`` seconds (``keep`` = 2 also keeps the window before it, for spikes)."""

    __slots__ = ("_buckets", "_keep", "_n", "_width")

    def __init__(self, window: float, keep: int = 1) -> None:
        self._n = _BUCKETS
        self._keep = keep
        self._width = max(window, 1e-3) / _BUCKETS
        self._buckets: deque[list[int]] = deque()

    def add(self, now: float, n: int = 1) -> None:
        idx = int(now / self._width)
        buckets = self._buckets
        if buckets and buckets[-1][0] == idx:
            buckets[-1][1] += n
        else:
            buckets.append([idx, n])
            self._trim(idx)

    def _trim(self, idx: int) -> None:
        oldest = idx - self._n * self._keep
        buckets = self._buckets
        while buckets and buckets[0][0] <= oldest:
            buckets.popleft()

    def count(self, now: float) -> int:
        """Items in the current window."""
        idx = int(now / self._width)
        self._trim(idx)
        low = idx - self._n
        return sum(c for i, c in self._buckets if i > low)

    def previous(self, now: float) -> int:
        """Items in the window before the current one (``keep`` = 2)."""
        idx = int(now / self._width)
        self._trim(idx)
        low, high = idx - 2 * self._n, idx - self._n
        return sum(c for i, c in self._buckets if low < i <= high)

    def empty(self, now: float) -> bool:
        self._trim(int(now / self._width))
        return not self._buckets


@dataclass(slots=True)
class Group:
    """One rule's state for one set of ``group_by`` values."""

    labels: dict[str, str]
    service: str
    window: Window
    first_seen: float = 0.0
    last_seen: float = 0.0
    firing: bool = False
    started: float = 0.0
    last_sent: float = 0.0
    trace_bytes: bytes = b""
    value: float = 0.0
    term: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trace_id(self) -> str:
        """The last matching record's trace id (hex), or empty."""
        return self.trace_bytes.hex()


# Variable parts of a message, replaced before hashing, so that "user 42 not found" and "user 7 not found"
# are one fingerprint (RE2: linear in the message).
_VARIABLE = [
    (compile_pattern(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<uuid>"),
    (compile_pattern(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (compile_pattern(r"\b[0-9a-fA-F]{16,}\b"), "<hex>"),
    (compile_pattern(r"'[^'\n]{0,200}'"), "'<str>'"),
    (compile_pattern(r'"[^"\n]{0,200}"'), '"<str>"'),
    (compile_pattern(r"\d+"), "<n>"),
]


def fingerprint(text: str) -> str:
    """A short stable hash of a message with its variable parts (numbers, ids, quoted values) masked."""
    masked = text[:2000]
    for pattern, replacement in _VARIABLE:
        masked = pattern.sub(replacement, masked)
    return hashlib.sha1(masked.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()[:16]


def term_of(record: Record, term: str) -> str | None:
    """The value a ``new_term`` rule tracks: ``fingerprint`` (of the body, or of the span name and status
    message), or a field (attribute, resource attribute, ``body``, ``severity``, ``span.name``)."""
    if term == "fingerprint":
        if record.is_span:
            return fingerprint(f"{record.item.name} {record.item.status.message}")
        body = record.body
        return fingerprint(body) if body else None
    return record.field(term)
