"""How a record says it was scrubbed: the same two keys everywhere (never the values)."""

from __future__ import annotations

from collections import Counter

__all__ = ["COUNT_KEY", "KINDS_KEY", "summary"]

COUNT_KEY = "redaction.count"
KINDS_KEY = "redaction.kinds"


def summary(counts: Counter[str]) -> dict[str, int | list[str]]:
    """``{"redaction.count": 3, "redaction.kinds": ["email", "phone"]}``, or empty when nothing was redacted."""
    total = sum(counts.values())
    if not total:
        return {}
    return {COUNT_KEY: total, KINDS_KEY: sorted(counts)}
