"""A collector with only the ``otlp`` receiver's one protocol under test, every signal into a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["collector_config", "read_lines"]


def collector_config(tmp_path: Path, protocol: str, port: int, settings: dict[str, Any] | None = None,
                     processors: list[str] | None = None) -> dict[str, Any]:
    """``protocol`` (grpc or http) on ``port`` with ``settings``; ``memory_limiter`` (1 MiB: always over the
    limit) is configured for tests that put it in ``processors``. Output: ``tmp_path/out.jsonl``."""
    return {
        "receivers": {"otlp": {"protocols": {protocol: {"endpoint": f"127.0.0.1:{port}", **(settings or {})}}}},
        "processors": {"memory_limiter": {"limit_mib": 1}},
        "exporters": {"file": {"path": str(tmp_path / "out.jsonl"), "flush_interval": 0}},
        "service": {
            "pipelines": {s: {"receivers": ["otlp"], "processors": processors or [], "exporters": ["file"]}
                          for s in ("traces", "metrics", "logs")},
            "telemetry": {"metrics": {"level": "none"}},
        },
    }


def read_lines(path: Path) -> list[Any]:
    """The OTLP/JSON lines the file exporter wrote (none yet: empty)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
