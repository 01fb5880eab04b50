"""Value types shared by component configs: otelcol-style durations and byte sizes."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

__all__ = ["Duration", "parse_duration"]

_DURATION_RE = re.compile(r"(?P<num>\d+(?:\.\d+)?)(?P<unit>ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Go-style duration (``"5s"``, ``"1m30s"``, ``"200ms"``) or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '5s' or '200ms', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as '5s' or '200ms', got {value!r}")
    text = value.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group("num")) * _UNIT_SECONDS[m.group("unit")]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"expected a duration such as '5s', '200ms' or '1m30s', got {value!r}")
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds as a float; accepts otelcol duration strings in YAML."""
