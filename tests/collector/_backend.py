"""A second collector playing the OTLP backend: what it received, as span names from its file output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["backend_config", "received_names"]


def received_names(out: Path) -> list[str]:
    """The names of the spans the backend wrote to ``out`` (none yet: empty)."""
    if not out.exists():
        return []
    return [s["name"] for line in out.read_text().splitlines() for rs in json.loads(line)["resourceSpans"]
            for ss in rs["scopeSpans"] for s in ss["spans"]]


def backend_config(port: int, out: Path) -> dict[str, Any]:
    """OTLP/HTTP on ``port`` -> every trace into ``out``."""
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "exporters": {"file": {"path": str(out), "flush_interval": 0}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
                    "telemetry": {"metrics": {"level": "none"}}},
    }
