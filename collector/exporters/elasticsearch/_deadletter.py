"""The dead-letter file: documents Elasticsearch rejected for good (mapping and parsing errors), one JSON
object per line with the reason, so that they can be fixed and replayed instead of being retried forever or
silently dropped."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ._bulk import ItemResult
from ._encoder import format_timestamp

__all__ = ["DeadLetterFile"]


class DeadLetterFile:
    """Appends ``{"@timestamp", "exporter", "index", "status", "error", "document"}`` lines to ``path``."""

    def __init__(self, path: str | Path, exporter: str) -> None:
        self.path = Path(path)
        self._exporter = exporter
        self._file: IO[bytes] | None = None

    def write(self, rejected: Sequence[ItemResult]) -> None:
        if not rejected:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        now = format_timestamp(time.time_ns())
        lines = bytearray()
        for r in rejected:
            head = {
                "@timestamp": now,
                "exporter": self._exporter,
                "index": r.doc.index,
                "status": r.status,
                "error": dict(r.error) if r.error else None,
            }
            # the document is spliced in as is: it is already JSON
            lines += json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode()[:-1]
            lines += b',"document":' + r.doc.source + b"}\n"
        self._file.write(lines)
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
