"""Every collector test leaves `collector.memory` as it found it: data held is always released (sent, dropped,
refused, cancelled), so a leak in the accounting fails the test that caused it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from collector.memory import LEDGER


@pytest.fixture(autouse=True)
def _no_bytes_left_held() -> Iterator[None]:
    before = LEDGER.by_component()
    yield
    for _ in range(500):  # a collector still running (module fixtures) may be finishing a handler it answered
        if LEDGER.by_component() == before:
            break
        time.sleep(0.01)
    assert LEDGER.by_component() == before, "bytes reported to collector.memory were not released"
