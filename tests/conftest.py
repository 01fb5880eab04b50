"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import OTLP_EXAMPLES


@pytest.fixture
def otlp_examples() -> Path:
    """The official OTLP/JSON examples, read from ../shared (never copied into the project)."""
    if not OTLP_EXAMPLES.is_dir():
        pytest.skip(f"OTLP examples not found at {OTLP_EXAMPLES}")
    return OTLP_EXAMPLES
