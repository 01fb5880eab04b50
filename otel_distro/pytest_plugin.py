"""pytest plugin (``pytest11`` entry point ``otel_distro``): the ``otel`` fixture for app teams' tests.

Inert until a test asks for ``otel``: importing this module imports nothing but pytest, and no provider is
installed before first use. See `otel_distro.testing.OtelCapture` for the assertions it offers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from otel_distro.testing import OtelCapture

__all__ = ["otel"]


@pytest.fixture
def otel() -> Iterator[OtelCapture]:
    """In-memory spans, metrics and logs for this test, emptied before it runs; the app's log lines go to
    the capture (JSON) instead of stdout. ``otel.deterministic_ids()`` makes ids 1, 2, 3, ..."""
    from otel_distro.testing import capture  # noqa: PLC0415

    yield from capture()
