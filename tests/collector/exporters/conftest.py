"""Fixtures of the sentry exporter's tests: the local Sentry envelope endpoint and real SDK data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.collector.exporters._sentry_data import Sdk, sdk
from tests.servers.sentry import SentryReceiver


@pytest.fixture
def receiver() -> Iterator[SentryReceiver]:
    with SentryReceiver() as r:
        yield r


@pytest.fixture
def s() -> Iterator[Sdk]:
    with sdk() as s:
        yield s
