"""Mapping keys that hold personal data: `Scrubber.scrub_value` reads keys (to redact what they name) but
never rewrites them, so ``{"jane@example.org": true}`` kept the address. `scrub_keys` scrubs them as text."""

from __future__ import annotations

from typing import Any

from otel_distro.scrubbing._engine import Scrubber

__all__ = ["scrub_keys"]


def scrub_keys(scrubber: Scrubber, value: Any) -> Any:
    """``value`` (JSON: dicts, lists, scalars) with each string key of its dicts, at any depth, scrubbed as text.

    Run it after `Scrubber.scrub_value`, which classifies values by their original keys. Two keys that scrub to
    the same placeholder keep the last value."""
    if isinstance(value, dict):
        return {scrubber.scrub_text(k) if isinstance(k, str) else k: scrub_keys(scrubber, v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_keys(scrubber, v) for v in value]
    return value
