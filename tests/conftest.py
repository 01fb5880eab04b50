"""Fixtures shared by the whole suite."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.errors import HypothesisSideeffectWarning

from tests.support import OTLP_EXAMPLES


@pytest.fixture
def otlp_examples() -> Path:
    """The official OTLP/JSON examples, read from ../shared (never copied into the project)."""
    if not OTLP_EXAMPLES.is_dir():
        pytest.skip(f"OTLP examples not found at {OTLP_EXAMPLES}")
    return OTLP_EXAMPLES


# hypothesis imports its regex module lazily, from inside the first test that draws from `from_regex`; pytest
# rewrites that import, and on CPython 3.11 compiling it can fail with "SystemError: AST constructor recursion
# depth mismatch" when an earlier test exercised a RecursionError (deep OTLP values, deep stack traces). Import it
# here, at collection, where the interpreter's recursion bookkeeping is clean.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", HypothesisSideeffectWarning)  # deliberate: it costs milliseconds, once
    st.from_regex("a").validate()

